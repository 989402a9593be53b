"""Campaign status reports from the database (plain data, rendered by the CLI with rich).

The rows come from the status read model the dashboard reads too, :mod:`alforge.db.read_model`,
and the label counts from :func:`alforge.db.labels.label_counts_by_generation`.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from alforge.campaign.decide import GenerationVerdict
from alforge.db import Database
from alforge.db.labels import label_counts_by_generation
from alforge.db.read_model import CampaignNotFoundError, campaign_rows, generation_rows

__all__ = ["campaign_status", "render_status", "stated_force_mae", "stated_text"]


def _generation_rows(session: Any, campaign: Any) -> list[dict[str, Any]]:
    by_index = label_counts_by_generation(session, campaign.id, campaign.level_hash)
    rows = []
    for generation in generation_rows(session, campaign.id):
        tally = by_index.get(generation.index, {})
        rows.append(
            {
                "index": generation.index,
                "state": generation.state,
                "labels": tally.get("ok", 0),
                "quarantined": tally.get("quarantined", 0),
                "failed": tally.get("failed", 0) + tally.get("pending", 0),
                "metrics": generation.metrics or {},
                "timings": generation.timings or {},
                "started_at": generation.started_at,
                "finished_at": generation.finished_at,
            }
        )
    return rows


def campaign_status(name: str | None = None, db: Database | None = None) -> dict[str, Any]:
    """Status of one campaign (with its generations) or of every campaign.

    Raises
    ------
    CampaignNotFoundError
        If ``name`` is given and no campaign has it.
    """
    db = db or Database()
    with db.session(readonly=True) as session:
        campaigns = campaign_rows(session, name)
        if name is not None and not campaigns:
            msg = f"no campaign named {name!r}; `alforge status` lists the campaigns"
            raise CampaignNotFoundError(msg)
        report = []
        for campaign in campaigns:
            generations = _generation_rows(session, campaign)
            report.append(
                {
                    "name": campaign.name,
                    "state": campaign.state,
                    "message": campaign.message,
                    "generations": generations,
                    "labels": sum(g["labels"] for g in generations),
                    "quarantined": sum(g["quarantined"] for g in generations),
                    "updated_at": campaign.updated_at,
                }
            )
    return {"database": db.safe_url, "campaigns": report}


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def _short(metrics: dict[str, Any]) -> str:
    """A generation's decision in a table cell: the campaign state it led to (the message has the numbers)."""
    state, decision = metrics.get("state"), str(metrics.get("decision") or "")
    if state is None:
        return decision or "-"
    if state == "running":
        return "running, criterion met once" if "confirming" in decision else "running"
    return str(state)


def stated_force_mae(metrics: dict[str, Any]) -> float | None:
    """The force MAE a generation's verdict states (eV/Å): its MD-wide estimate, else the held-out MAE."""
    return GenerationVerdict.from_metrics(0, metrics).stated_force_mae_eV_per_A


def stated_text(metrics: dict[str, Any]) -> str:
    """:func:`stated_force_mae` as text, with its 90 % interval where there is one.

    >>> stated_text({"estimated_force_mae_eV_per_A": 0.0312, "estimated_force_mae_interval_eV_per_A": [0.025, 0.041]})
    '0.0312 (0.025–0.041)'
    """
    verdict = GenerationVerdict.from_metrics(0, metrics)
    text = _fmt(verdict.stated_force_mae_eV_per_A)
    if verdict.interval_eV_per_A is None:
        return text
    low, high = verdict.interval_eV_per_A
    return f"{text} ({low:.3g}–{high:.3g})"


def render_status(report: dict[str, Any], console: Console) -> None:
    """Print a status report as rich tables."""
    campaigns = report["campaigns"]
    if not campaigns:
        console.print(f"no campaigns in {report['database']}")
        return
    table = Table(title=f"campaigns in {report['database']}")
    for column in ("name", "state", "generations", "labels", "quarantined",
                   "force MAE (eV/Å, stated; 90 % interval)", "message"):
        table.add_column(column)
    for c in campaigns:
        last = c["generations"][-1]["metrics"] if c["generations"] else {}
        table.add_row(
            c["name"], c["state"], str(len(c["generations"])), str(c["labels"]), str(c["quarantined"]),
            stated_text(last), c["message"] or "",
        )
    console.print(table)
    if len(campaigns) == 1:
        generation_table = Table(title=f"generations of {campaigns[0]['name']}")
        for column in ("gen", "state", "labels", "quarantined", "force MAE stated (90 %)", "held-out", "energy MAE",
                       "confident", "MD ps", "decision"):
            generation_table.add_column(column)
        for g in campaigns[0]["generations"]:
            m = g["metrics"]
            generation_table.add_row(
                str(g["index"]), g["state"], str(g["labels"]), str(g["quarantined"]),
                stated_text(m), _fmt(m.get("force_mae_eV_per_A")), _fmt(m.get("energy_mae_eV")),
                _fmt(m.get("confident_fraction"), 3), _fmt(m.get("simulated_ps"), 3), _short(m),
            )
        console.print(generation_table)
        last = campaigns[0]["generations"][-1]["metrics"] if campaigns[0]["generations"] else {}
        if last.get("walker_ps"):
            walkers = ", ".join(f"walker {w}: {t:.3g} ps" for w, t in last["walker_ps"].items())
            console.print(f"simulated MD time: {walkers}; total {last.get('simulated_ps_total', 0.0):.3g} ps")
