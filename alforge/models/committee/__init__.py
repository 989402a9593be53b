"""A committee of potentials: mean and calibrated spread of bootstrap-fitted members."""

from __future__ import annotations

from alforge.models.committee.committee_potential import CommitteePotential

__all__ = ["CommitteePotential"]
