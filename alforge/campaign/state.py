"""The campaign's state after a generation: the verdict's inputs gathered from the database.

The rule is the pure :func:`alforge.campaign.decide.decide`; this module reads what it needs
(earlier generations' verdicts, label and quarantine counts) and stores the outcome.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select

from alforge.campaign.context import load_context
from alforge.campaign.decide import GenerationVerdict, LabelTally
from alforge.campaign.decide import decide as rule
from alforge.campaign.evaluate import phase_times
from alforge.db import Calculation, Campaign, Database, Generation
from alforge.db import campaigns as store
from alforge.db.labels import campaign_calculation_ids, label_counts_by_generation, selected_calculations

__all__ = ["decide_step", "finish_generation", "finished_state", "label_tally", "record_flow_run"]


def _verdicts(db: Database, campaign_id: int) -> list[Any]:
    """The verdict inputs of every complete generation of a campaign, oldest first."""
    with db.session(readonly=True) as session:
        rows = session.execute(
            select(Generation.index, Generation.metrics)
            .where(Generation.campaign_id == campaign_id, Generation.state == "complete")
            .order_by(Generation.index)
        ).all()
    return [GenerationVerdict.from_metrics(i, m or {}) for i, m in rows]


def decide_step(db: Database, campaign_id: int, metrics: dict[str, Any], index: int) -> tuple[str, str]:
    """Campaign decision after generation ``index`` with ``metrics``: (state, reason).

    Gathers the numbers :func:`alforge.campaign.decide.decide` needs (earlier generations'
    verdicts, label and quarantine counts) from the database; the rule itself is that pure function.
    """
    ctx = load_context(db, campaign_id)
    with db.session(readonly=True) as session:
        labels_total = len(campaign_calculation_ids(session, campaign_id, split=None))
        labels = label_tally(session, campaign_id, index, ctx.level.hash)
    history = [v for v in _verdicts(db, campaign_id) if v.index < index]
    history.append(GenerationVerdict.from_metrics(index, metrics))
    decision = rule(history, ctx.spec.stopping, labels_total=labels_total, labels=labels)
    return decision.state, decision.reason


def label_tally(session: Any, campaign_id: int, index: int, level_hash: str) -> LabelTally:
    """The campaign's reference calculations by status as they stand now, and generation ``index``'s.

    Read live, not from stored metrics: failed labels retried since (:func:`failed_calculations`)
    count by their new status.
    """
    by_generation = {
        i: {k: v for k, v in counts.items() if not k.startswith("ok_")}
        for i, counts in label_counts_by_generation(session, campaign_id, level_hash).items()
    }
    tried = sum((Counter(counts) for counts in by_generation.values()), Counter[str]())
    generation = by_generation.get(index, {})
    failure = ""
    if tried.get("failed"):
        failure = session.scalar(
            selected_calculations(level_hash).add_columns(Calculation.error)
            .where(Generation.campaign_id == campaign_id, Calculation.status == "failed")
            .order_by(Calculation.finished_at.desc(), Calculation.id.desc()).limit(1)
        ) or ""
    return LabelTally(
        tried=sum(tried.values()), quarantined=tried.get("quarantined", 0), failed=tried.get("failed", 0),
        generation_tried=sum(generation.values()), generation_failed=generation.get("failed", 0), failure=failure,
    )


def finished_state(db: Database, campaign_id: int) -> tuple[str, str] | None:
    """(state, reason) if the campaign has nothing left to do under its current spec, else ``None``."""
    with db.session(readonly=True) as session:
        last = session.scalar(
            select(Generation)
            .where(Generation.campaign_id == campaign_id, Generation.state == "complete")
            .order_by(Generation.index.desc())
            .limit(1)
        )
        if last is None:
            return None
        index, metrics = last.index, dict(last.metrics or {})
    state, reason = decide_step(db, campaign_id, metrics, index)
    return None if state == "running" else (state, reason)


def finish_generation(
    db: Database, campaign_id: int, generation_id: int, metrics: dict[str, Any], state: str, reason: str,
    *, training_s: float, total_s: float,
) -> dict[str, float]:
    """Close the generation with its metrics and timings, set the campaign's state; return the timings.

    The science time comes from database timestamps (:func:`alforge.campaign.evaluate.phase_times`);
    orchestration is what the generation's wall time leaves after training, MD and the oracle.
    """
    timings = {"training_s": training_s, **phase_times(db, generation_id), "total_s": total_s}
    timings["orchestration_s"] = max(0.0, total_s - training_s - timings["md_s"] - timings["oracle_s"])
    with db.session() as session:
        store.finish_generation(
            session, generation_id, metrics={**metrics, "decision": reason, "state": state}, timings=timings,
            state="complete",
        )
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            campaign.state = state
            campaign.message = None if state == "running" else reason
    return timings


def record_flow_run(db: Database, generation_id: int, flow_run_id: str | None) -> None:
    """Remember which workflow run (a Prefect flow run id) worked on a generation."""
    with db.session() as session:
        generation = session.get(Generation, generation_id)
        if generation is not None:
            generation.flow_run_id = flow_run_id
