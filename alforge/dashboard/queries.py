"""Dashboard queries for campaigns as a whole: the list with state and progress, one campaign's detail.

Every public function takes an open (read-only) session and returns plain dicts and lists of
numbers, strings and ISO 8601 times, built from the status read model that ``alforge status``
reads too (:mod:`alforge.db.read_model`). Counts are aggregated in SQL: each function runs a fixed
handful of statements, never one per campaign, generation or candidate. The per-generation
plot series are in :mod:`alforge.dashboard.series`.

Example
-------
>>> from alforge.db import Database
>>> db = Database("sqlite:///:memory:")
>>> with db.session(readonly=True) as session:
...     campaign_summaries(session)
[]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from alforge.dashboard.links import flow_run_url, prefect_ui_base
from alforge.dashboard.rows import (
    LABEL_STATUSES,
    LEARNING_METRICS,
    campaign_path,
    campaign_ref,
    finite,
    iso,
    stated_of,
    stopping_of,
    threshold_of,
)
from alforge.db.labels import label_counts_by_campaign, label_counts_by_generation
from alforge.db.read_model import campaign_rows, generation_counts, generation_rows, latest_complete_metrics

__all__ = ["campaign_detail", "campaign_summaries"]


def _setup(spec: dict[str, Any]) -> dict[str, str | None]:
    """What a campaign simulates, with what reference and model, in short strings."""
    system = spec.get("system") or {}
    oracle = spec.get("oracle") or {}
    level = "/".join(str(part) for part in (oracle.get("method"), oracle.get("basis")) if part)
    structures = system.get("structures")
    return {
        "system": system.get("molecule") or (Path(structures).name if structures else None),
        "oracle": " ".join(part for part in (oracle.get("name"), level) if part) or None,
        "model": (spec.get("model") or {}).get("kind"),
        "selection": (spec.get("selection") or {}).get("method"),
    }


def campaign_summaries(session: Session, name: str | None = None) -> list[dict[str, Any]]:
    """State and progress of every campaign (or of the one called ``name``), oldest first.

    Returns
    -------
    list of dict
        ``name``, ``state``, ``message``, ``generations`` (rows), ``complete_generations``,
        ``labels`` / ``quarantined`` / ``failed`` / ``pending`` (selected calculations by status),
        ``max_labels``, ``max_generations``, ``progress`` (0-1: the larger of the label and
        generation budgets used; 1 once converged or stopped), the newest complete generation's
        held-out ``force_mae_eV_per_A`` and ``energy_mae_eV``, the force MAE its verdict states with
        its 90 % interval (:func:`~alforge.dashboard.rows.stated_of`), ``created_at``, ``updated_at`` and ``url``.
    """
    campaigns = campaign_rows(session, name)
    if not campaigns:
        return []
    ids = [c.id for c in campaigns]
    generation_counts_of = generation_counts(session, ids)
    latest_metrics = latest_complete_metrics(session, ids)
    label_counts = label_counts_by_campaign(session, ids)

    summaries = []
    for c in campaigns:
        counts = label_counts.get(c.id, {})
        n_generations, complete = generation_counts_of.get(c.id, (0, 0))
        stopping = stopping_of(c.spec or {})
        metrics = latest_metrics.get(c.id) or {}
        labels_done = counts.get("ok", 0)
        progress = max(
            labels_done / max(1, stopping["max_labels"]), complete / max(1, stopping["max_generations"])
        )
        if c.state in ("converged", "stopped"):
            progress = 1.0
        summaries.append(
            {
                "name": c.name,
                "state": c.state,
                "message": c.message,
                "generations": n_generations,
                "complete_generations": complete,
                "labels": labels_done,
                **{status: counts.get(status, 0) for status in LABEL_STATUSES[1:]},
                "max_labels": stopping["max_labels"],
                "max_generations": stopping["max_generations"],
                "progress": min(1.0, progress),
                "force_mae_eV_per_A": finite(metrics.get("force_mae_eV_per_A")),
                **stated_of(metrics),
                "energy_mae_eV": finite(metrics.get("energy_mae_eV")),
                "created_at": iso(c.created_at),
                "updated_at": iso(c.updated_at),
                "setup": _setup(c.spec or {}),
                "url": f"/campaigns/{campaign_path(c.name)}",
            }
        )
    return summaries


MD_METRICS = ("simulated_ps", "simulated_ps_total", "md_completed_fraction")


def campaign_detail(session: Session, name: str) -> dict[str, Any]:
    """A campaign's summary (see :func:`campaign_summaries`), spec and one row per generation.

    Each generation row holds ``index``, ``state``, label counts (``labels``, ``train_labels``,
    ``validation_labels``, ``quarantined``, ``failed``, ``pending``), held-out errors, the stated
    force MAE and its interval (:func:`~alforge.dashboard.rows.stated_of`),
    ``confident_fraction``, ``threshold_eV_per_A``, the simulated MD time (``simulated_ps`` this
    generation, ``simulated_ps_total`` the campaign's so far) and ``md_completed_fraction``,
    ``decision``, ``fit_error``, ``total_s``,
    times, and the Prefect ``flow_run_id`` with its ``flow_run_url``.
    """
    ref = campaign_ref(session, name)
    summary = campaign_summaries(session, name)[0]
    counts = label_counts_by_generation(session, ref.id, ref.level_hash)
    base = prefect_ui_base()
    generations = []
    for row in generation_rows(session, ref.id):
        tally = counts.get(row.index, {})
        metrics = row.metrics or {}
        generations.append(
            {
                "index": row.index,
                "state": row.state,
                "labels": tally.get("ok", 0),
                "train_labels": tally.get("ok_train", 0),
                "validation_labels": tally.get("ok_validation", 0),
                **{status: tally.get(status, 0) for status in LABEL_STATUSES[1:]},
                **{key: finite(metrics.get(key)) for key in LEARNING_METRICS},
                **stated_of(metrics),
                "threshold_eV_per_A": threshold_of(row),
                **{key: finite(metrics.get(key)) for key in MD_METRICS},
                "decision": metrics.get("decision"),
                "fit_error": metrics.get("fit_error"),
                "total_s": finite((row.timings or {}).get("total_s")),
                "started_at": iso(row.started_at),
                "finished_at": iso(row.finished_at),
                "flow_run_id": row.flow_run_id,
                "flow_run_url": flow_run_url(row.flow_run_id, base),
            }
        )
    return {**summary, "spec": ref.spec, "prefect_ui_url": base, "generation_rows": generations}
