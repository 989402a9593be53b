"""Building blocks of the dashboard's queries: campaign lookup, JSON-safe values, spec defaults.

The rows themselves come from the status read model, :mod:`alforge.db.read_model`, and every
count of labels from :func:`alforge.db.labels.selected_calculations`, as for ``alforge status``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from alforge.campaign.decide import GenerationVerdict
from alforge.config import StoppingSpec
from alforge.db import read_model
from alforge.db.read_model import CampaignNotFoundError, CampaignRef

__all__ = [
    "LABEL_STATUSES",
    "LEARNING_METRICS",
    "CampaignNotFoundError",
    "CampaignRef",
    "as_count",
    "campaign_path",
    "campaign_ref",
    "finite",
    "iso",
    "stated_of",
    "stopping_of",
    "threshold_of",
]

LABEL_STATUSES = ("ok", "quarantined", "failed", "pending")
LEARNING_METRICS = ("force_mae_eV_per_A", "energy_mae_eV", "force_rmse_eV_per_A", "confident_fraction")
DEFAULT_STOPPING = StoppingSpec()


def campaign_ref(session: Session, name: str) -> CampaignRef:
    """The campaign called ``name``; :class:`CampaignNotFoundError` (naming the API's list) if there is none."""
    return read_model.campaign_ref(session, name, listed_by="GET /api/campaigns")


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


def threshold_of(row: Any) -> float | None:
    """A generation's uncertainty threshold (eV/Å), as its plan stored it (``None`` for generation 0)."""
    return finite(row.threshold_eV_per_A)


def stated_of(metrics: dict[str, Any]) -> dict[str, Any]:
    """The force MAE a generation's verdict states and its 90 % interval, as ``alforge status`` shows them.

    ``stated_force_mae_eV_per_A``: the estimate over the generation's MD, else the held-out MAE
    (:class:`~alforge.campaign.decide.GenerationVerdict`); ``stated_interval_eV_per_A``:
    ``[low, high]``, or ``None`` (fewer than two held-out frames, or scored before intervals).
    """
    verdict = GenerationVerdict.from_metrics(0, metrics)
    interval = verdict.interval_eV_per_A
    bounds = None if interval is None else [finite(interval[0]), finite(interval[1])]
    return {
        "stated_force_mae_eV_per_A": finite(verdict.stated_force_mae_eV_per_A),
        "stated_interval_eV_per_A": None if bounds is None or None in bounds else bounds,
    }
