"""Building blocks of the dashboard's queries: campaign lookup, the labels join, JSON-safe values.

A campaign's labels are the calculations of the structures selected in its generations, at the
level of theory stored on the campaign; :func:`selected_calculations` is that join, which every
count in the dashboard starts from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from alforge.config import StoppingSpec
from alforge.db import Calculation, Campaign, Candidate, Generation
from alforge.errors import AlforgeError

__all__ = [
    "LABEL_STATUSES",
    "LEARNING_METRICS",
    "CampaignNotFoundError",
    "CampaignRef",
    "as_count",
    "campaign_path",
    "campaign_ref",
    "finite",
    "generation_rows",
    "iso",
    "label_counts_by_generation",
    "selected_calculations",
    "stopping_of",
    "threshold_of",
]

LABEL_STATUSES = ("ok", "quarantined", "failed", "pending")
LEARNING_METRICS = ("force_mae_eV_per_A", "energy_mae_eV", "force_rmse_eV_per_A", "confident_fraction")
DEFAULT_STOPPING = StoppingSpec()


class CampaignNotFoundError(AlforgeError):
    """No campaign of the requested name is in the database."""


@dataclass(frozen=True)
class CampaignRef:
    """What the queries need of a campaign: its id, name, level of theory hash and stored spec."""

    id: int
    name: str
    level_hash: str | None
    spec: dict[str, Any]


def campaign_ref(session: Session, name: str) -> CampaignRef:
    """The campaign called ``name``; :class:`CampaignNotFoundError` if there is none."""
    row = session.execute(
        select(Campaign.id, Campaign.level_hash, Campaign.spec).where(Campaign.name == name)
    ).one_or_none()
    if row is None:
        msg = f"no campaign named {name!r}; GET /api/campaigns lists the campaigns"
        raise CampaignNotFoundError(msg)
    return CampaignRef(row.id, name, row.level_hash, row.spec or {})


def finite(value: Any) -> float | None:
    """A JSON-safe float: ``None`` for missing, non-numeric, NaN and infinite values."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def as_count(value: Any) -> int | None:
    """A count stored in JSON metrics as an int, or ``None``."""
    number = finite(value)
    return None if number is None else int(number)


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 in UTC (SQLite hands back naive datetimes that were stored as UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


def campaign_path(name: str) -> str:
    """``name`` as one URL path segment (every reserved character percent-encoded)."""
    return quote(name, safe="")


def selected_calculations(level_hash: str | None, *, every_campaign: bool = False) -> Select[Any]:
    """Selected candidates joined to their calculation at the campaign's level of theory.

    A campaign's labels are the calculations of the structures selected in its generations,
    at the level of theory stored on the campaign (``level_hash``); ``every_campaign`` joins
    the campaigns table and uses each campaign's own level instead.
    """
    query = select().select_from(Candidate).join(Generation, Generation.id == Candidate.generation_id)
    level: Any = level_hash
    if every_campaign:
        query = query.join(Campaign, Campaign.id == Generation.campaign_id)
        level = Campaign.level_hash
    return query.join(
        Calculation, and_(Calculation.structure_id == Candidate.structure_id, Calculation.level_hash == level)
    ).where(Candidate.selected.is_(True))


def stopping_of(spec: dict[str, Any]) -> dict[str, Any]:
    """Label and generation budgets and the target force MAE of a stored spec (defaults if absent)."""
    stopping = spec.get("stopping") or {}
    return {
        "max_labels": stopping.get("max_labels", DEFAULT_STOPPING.max_labels),
        "max_generations": stopping.get("max_generations", DEFAULT_STOPPING.max_generations),
        "target_force_mae_eV_per_A": stopping.get(
            "target_force_mae_eV_per_A", DEFAULT_STOPPING.target_force_mae_eV_per_A
        ),
    }


def generation_rows(session: Session, ref: CampaignRef) -> list[Any]:
    """The campaign's generations in index order (columns only: no ORM objects, no relationships)."""
    return list(
        session.execute(
            select(
                Generation.id, Generation.index, Generation.state, Generation.settings, Generation.timings,
                Generation.metrics, Generation.flow_run_id, Generation.started_at, Generation.finished_at,
                Generation.threshold_eV_per_A,
            )
            .where(Generation.campaign_id == ref.id)
            .order_by(Generation.index)
        )
    )


def label_counts_by_generation(session: Session, ref: CampaignRef) -> dict[int, dict[str, int]]:
    """``{generation index: {status or "ok_<split>": count}}`` for the campaign's selected frames."""
    counts: dict[int, dict[str, int]] = {}
    for index, status, split, n in session.execute(
        selected_calculations(ref.level_hash)
        .add_columns(Generation.index, Calculation.status, Candidate.split, func.count())
        .where(Generation.campaign_id == ref.id)
        .group_by(Generation.index, Calculation.status, Candidate.split)
    ):
        tally = counts.setdefault(index, {})
        tally[status] = tally.get(status, 0) + n
        if status == "ok":
            key = f"ok_{split or 'train'}"
            tally[key] = tally.get(key, 0) + n
    return counts


def threshold_of(row: Any) -> float | None:
    """A generation's uncertainty threshold (eV/Å), as its plan stored it (``None`` for generation 0)."""
    return finite(row.threshold_eV_per_A)
