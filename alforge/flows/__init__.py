"""The active-learning loop as Prefect flows: the only place alforge imports Prefect."""

from alforge.flows.campaign import campaign, generation

__all__ = ["campaign", "generation"]
