"""The status read model: what ``alforge status`` and the dashboard read about campaigns.

Plain rows (no ORM objects, no relationships loaded) in a fixed number of statements, whatever
the number of campaigns or generations. The labels are counted with :mod:`alforge.db.labels`.
Shaping for display is the reader's: :mod:`alforge.reports` renders tables for the command
line, :mod:`alforge.dashboard.queries` and :mod:`alforge.dashboard.series` build JSON.

Example
-------
>>> from alforge.db import Database
>>> db = Database("sqlite:///:memory:")
>>> with db.session(readonly=True) as session:
...     campaign_rows(session)
[]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from alforge.db.schema import Campaign, Generation
from alforge.errors import AlforgeError

__all__ = [
    "CampaignNotFoundError",
    "CampaignRef",
    "campaign_ref",
    "campaign_rows",
    "generation_counts",
    "generation_rows",
    "latest_complete_metrics",
]


class CampaignNotFoundError(AlforgeError):
    """No campaign of the requested name is in the database."""


@dataclass(frozen=True)
class CampaignRef:
    """What the queries need of a campaign: its id, name, level of theory hash and stored spec."""

    id: int
    name: str
    level_hash: str | None
    spec: dict[str, Any]


def campaign_ref(session: Session, name: str, *, listed_by: str = "`alforge status`") -> CampaignRef:
    """The campaign called ``name``.

    Raises
    ------
    CampaignNotFoundError
        If there is none; the message points to ``listed_by``, where the names are listed.
    """
    row = session.execute(
        select(Campaign.id, Campaign.level_hash, Campaign.spec).where(Campaign.name == name)
    ).one_or_none()
    if row is None:
        msg = f"no campaign named {name!r}; {listed_by} lists the campaigns"
        raise CampaignNotFoundError(msg)
    return CampaignRef(row.id, name, row.level_hash, row.spec or {})


def campaign_rows(session: Session, name: str | None = None) -> list[Any]:
    """Every campaign (or the one called ``name``; none if absent), oldest first, as column rows.

    Columns: ``id``, ``name``, ``state``, ``message``, ``spec``, ``level_hash``, ``created_at``,
    ``updated_at``.
    """
    query = select(
        Campaign.id, Campaign.name, Campaign.state, Campaign.message, Campaign.spec, Campaign.level_hash,
        Campaign.created_at, Campaign.updated_at,
    ).order_by(Campaign.created_at, Campaign.id)
    if name is not None:
        query = query.where(Campaign.name == name)
    return list(session.execute(query))


def generation_rows(session: Session, campaign_id: int) -> list[Any]:
    """The campaign's generations in index order, as column rows.

    Typed ``Any``, not ``Row``: the column ``index`` would be read as the tuple method ``Row.index``.

    Columns: ``id``, ``index``, ``state``, ``settings``, ``timings``, ``metrics``,
    ``flow_run_id``, ``started_at``, ``finished_at`` and the plan's ``threshold_eV_per_A``.
    """
    return list(
        session.execute(
            select(
                Generation.id, Generation.index, Generation.state, Generation.settings, Generation.timings,
                Generation.metrics, Generation.flow_run_id, Generation.started_at, Generation.finished_at,
                Generation.threshold_eV_per_A,
            )
            .where(Generation.campaign_id == campaign_id)
            .order_by(Generation.index)
        )
    )


def generation_counts(session: Session, campaign_ids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """``{campaign id: (generations, complete generations)}``; campaigns without generations are absent."""
    rows = session.execute(
        select(
            Generation.campaign_id,
            func.count().label("n"),
            func.sum(case((Generation.state == "complete", 1), else_=0)).label("complete"),
        )
        .where(Generation.campaign_id.in_(campaign_ids))
        .group_by(Generation.campaign_id)
    )
    return {row.campaign_id: (row.n, int(row.complete or 0)) for row in rows}


def latest_complete_metrics(session: Session, campaign_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """``{campaign id: metrics}`` of each campaign's newest complete generation."""
    newest = (
        select(Generation.campaign_id, func.max(Generation.index).label("index"))
        .where(Generation.campaign_id.in_(campaign_ids), Generation.state == "complete")
        .group_by(Generation.campaign_id)
        .subquery()
    )
    return dict(
        session.execute(
            select(Generation.campaign_id, Generation.metrics).join(
                newest, and_(Generation.campaign_id == newest.c.campaign_id, Generation.index == newest.c.index)
            )
        )
        .tuples()
        .all()
    )
