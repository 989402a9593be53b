"""Deployments of the campaign flow, declared in code (the one place they are declared).

- ``campaign/alforge``: unscheduled; parameters ``spec`` (a JSON spec) or ``name``; what
  :func:`alforge.launch` and the dashboard trigger.
- ``campaign/<name>``: one per spec served with a cron schedule; each run continues the named
  campaign where the database says it stands (``parameters={"name": <name>}``), and at most one
  run of a campaign is active at a time (a new one is cancelled while another runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.deployments.runner import EntrypointType

from alforge import steps
from alforge.config import CampaignSpec
from alforge.flows import tasks
from alforge.flows.campaign import campaign

__all__ = ["GENERIC_DEPLOYMENT", "build_deployments", "serve_campaigns"]

GENERIC_DEPLOYMENT = "campaign/alforge"


def build_deployments(specs: Sequence[CampaignSpec], cron: str | None = None) -> list[Any]:
    """The generic deployment plus one scheduled deployment per spec that has a schedule."""
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    deployments = [
        campaign.to_deployment(
            name="alforge",
            description="Run or continue an alforge campaign: pass `spec` (JSON) or `name`.",
            tags=["alforge"],
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
    ]
    for spec in specs:
        schedule = cron or spec.schedule
        if schedule is None:
            continue
        deployments.append(
            campaign.to_deployment(
                name=spec.name,
                cron=schedule,
                parameters={"name": spec.name},
                description=f"Continue campaign {spec.name} on schedule {schedule}.",
                tags=["alforge", "scheduled"],
                concurrency_limit=one_at_a_time,
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return deployments


def serve_campaigns(specs: Sequence[CampaignSpec], cron: str | None = None, limit: int | None = None) -> None:
    """Register the specs' campaigns in the database, then serve the deployments (blocks)."""
    db = tasks.database()
    for spec in specs:
        steps.start_campaign(db, spec)
    serve(*build_deployments(specs, cron), limit=limit, print_starting_message=True)
