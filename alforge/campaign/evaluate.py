"""Evaluation: the generation's held-out error, its estimate over the whole MD, and the MD's confidence.

The numbers the verdict (:mod:`alforge.campaign.decide`) reads are measured here and stored in
the generation's metrics; :func:`phase_times` reads the science time back from timestamps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ase import Atoms
from sqlalchemy import select

from alforge.campaign.artifacts import load_model_record
from alforge.campaign.calibration import (
    estimate_force_mae_eV_per_A,
    force_mae_interval_eV_per_A,
    inclusion_probabilities,
)
from alforge.campaign.context import CampaignContext, get_generation, jsonable, load_context
from alforge.campaign.decide import WalkerTally, md_confidence
from alforge.db import Calculation, Candidate, Database, Generation, MDRun
from alforge.db import campaigns as store
from alforge.db.calculations import labelled_frames
from alforge.db.labels import campaign_calculation_ids

__all__ = ["evaluate_step", "phase_times", "walker_times_ps"]


def _held_out_errors(model: Any, frames: list[Atoms]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame observed force MAE and largest per-atom force std of ``model`` on labelled frames (eV/Å)."""
    errors, stds = [], []
    for frame in frames:
        prediction = model.predict([frame])
        errors.append(float(np.mean(np.abs(prediction.forces_eV_per_A[0] - frame.get_forces()))))
        stds.append(float(np.max(prediction.forces_std_eV_per_A[0])))
    return np.asarray(errors), np.asarray(stds)


def _held_out_inclusion(session: Any, generation_id: int, calcs: dict[int, int]) -> dict[int, float]:
    """Inclusion probability of each held-out calculation drawn among the generation's sampled frames.

    Recomputed from what the draw saw (:func:`alforge.campaign.select.select_validation`): the
    stored std of every sampled frame and how many held-out frames were drawn among them. Held-out
    frames topped up from elsewhere have none and are left out of the estimate.
    """
    rows = session.execute(
        store.generation_candidates(generation_id, Candidate.id, Candidate.uncertainty_eV_per_A, Candidate.selected_as)
        .where(Candidate.origin == "sampled")
    ).all()
    stds = [np.inf if u is None else u for _, u, _ in rows]
    drawn = [i for i, (_, _, selected_as) in enumerate(rows) if selected_as == "held-out"]
    pi = inclusion_probabilities(stds, len(drawn))
    return {calcs[rows[i][0]]: float(pi[i]) for i in drawn if rows[i][0] in calcs}


def _md_metrics(runs: list[MDRun], ctx: CampaignContext, steps: int | None) -> dict[str, Any]:
    """Confident and completed share of the generation's budgeted MD, stops, rewinds, simulated time.

    ``steps``: the planned MD steps per walker (``None``: planned before revision 0005, ``exploration.steps``).
    """
    e = ctx.spec.exploration
    steps = steps or e.steps
    tallies = [
        # rows older than revision 0003 recorded no confident steps: they count as not confident
        WalkerTally(r.steps_budget or steps, r.steps_done, r.confident_steps or 0) for r in runs
    ]
    confident, completed = md_confidence(tallies, e.walkers, steps)
    return {
        "confident_fraction": confident,
        "md_completed_fraction": completed,
        "walker_stops": {r.walker: r.stop_reason for r in runs},
        "walkers_recorded": len(runs),
        "rewinds": sum(r.rewinds or 0 for r in runs),
        "simulated_ps": sum(r.simulated_fs for r in runs) / 1000.0,
    }


def walker_times_ps(db: Database, campaign_id: int) -> dict[int, float]:
    """Simulated time each walker has accumulated over the campaign's generations (ps)."""
    with db.session(readonly=True) as session:
        runs = session.execute(
            select(MDRun.walker, MDRun.steps_done, MDRun.timestep_fs)
            .join(Generation, Generation.id == MDRun.generation_id)
            .where(Generation.campaign_id == campaign_id)
        ).all()
    out: dict[int, float] = {}
    for walker, steps, timestep in runs:
        out[walker] = out.get(walker, 0.0) + steps * (timestep or 0.0) / 1000.0
    return dict(sorted(out.items()))


def evaluate_step(db: Database, campaign_id: int, generation_id: int, model_id: int | None) -> dict[str, Any]:
    """Held-out errors of the generation's model, the confidence of its MD over the budget, label counts.

    The held-out error (``force_mae_eV_per_A``, the verdict's fallback) is scored on the held-out
    labels of the last ``validation.window_generations`` generations (default: this one): frames
    drawn among those the walkers kept evenly in time on this very model, the uncertain ones more
    often, which it never trained on. ``estimated_force_mae_eV_per_A``, the error the verdict
    states, extends the error of this generation's held-out frames to every MD check of the
    generation through the model's std and the frames' inclusion probabilities
    (:func:`alforge.campaign.calibration.estimate_force_mae_eV_per_A`), with its 90 % bootstrap
    interval over the held-out frames and blocks of each walker's MD in
    ``estimated_force_mae_interval_eV_per_A`` (``[low, high]``; absent with fewer than two frames).
    ``held_out_own`` keeps, for each held-out frame of this generation, its observed force MAE,
    largest per-atom force std under this model and inclusion probability: the threshold
    calibration of later generations reads them.
    """
    ctx = load_context(db, campaign_id)
    with db.session(readonly=True) as session:
        generation = get_generation(session, generation_id)
        index, planned_steps = generation.index, generation.md_steps
        window_start = index - ctx.spec.validation.window_generations + 1
        validation_ids = campaign_calculation_ids(session, campaign_id, split="validation")
        recent_ids = campaign_calculation_ids(session, campaign_id, split="validation", since_index=window_start)
        own_ids = set(campaign_calculation_ids(session, campaign_id, split="validation", since_index=index))
        train_ids = campaign_calculation_ids(session, campaign_id, split="train")
        runs = list(session.scalars(select(MDRun).where(MDRun.generation_id == generation_id).order_by(MDRun.walker)))
        generation_calcs = store.generation_calculations(session, generation_id, ctx.level)
        counts = store.calculation_counts(session, list(generation_calcs.values()))
        frames = labelled_frames(session, recent_ids) if recent_ids and model_id is not None else []
        inclusion = _held_out_inclusion(session, generation_id, generation_calcs)
    metrics: dict[str, Any] = {
        "labels_total": len(train_ids) + len(validation_ids),
        "train_labels": len(train_ids),
        "validation_labels": len(validation_ids),
        "held_out_frames": len(recent_ids) if model_id is not None else 0,
        "generation_ok": counts.get("ok", 0),
        "generation_quarantined": counts.get("quarantined", 0),
        "model_id": model_id,
    }
    if index > 0:
        metrics.update(_md_metrics(runs, ctx, planned_steps))
        times = walker_times_ps(db, campaign_id)
        metrics["walker_ps"] = {str(w): t for w, t in times.items()}
        metrics["simulated_ps_total"] = sum(times.values())
    if frames:
        from alforge.models import evaluate  # the model stack is imported only once there is a model

        model = load_model_record(db, model_id)  # type: ignore[arg-type]
        metrics.update(jsonable(evaluate(model, frames)))
        own = [f for f in frames if f.info["calculation_id"] in own_ids]
        errors, stds = _held_out_errors(model, own)
        pi = np.array([inclusion.get(f.info["calculation_id"], np.nan) for f in own])
        metrics["held_out_own"] = [[float(e), float(m), float(p) if np.isfinite(p) else None]
                                   for e, m, p in zip(errors, stds, pi, strict=True)]
        checks = [r.uncertainties_eV_per_A for r in runs
                  if r.uncertainties_eV_per_A is not None and len(r.uncertainties_eV_per_A)]
        if checks:
            population = np.concatenate(checks)
            metrics["estimated_force_mae_eV_per_A"] = estimate_force_mae_eV_per_A(
                errors, stds, population, inclusion=pi
            )
            interval = force_mae_interval_eV_per_A(errors, stds, checks, inclusion=pi)
            if interval is not None:
                metrics["estimated_force_mae_interval_eV_per_A"] = list(interval)
    return metrics


def phase_times(db: Database, generation_id: int) -> dict[str, float]:
    """Science time of a generation from database timestamps: MD wall and oracle-phase wall (s)."""
    with db.session(readonly=True) as session:
        runs = list(session.scalars(select(MDRun).where(MDRun.generation_id == generation_id)))
        candidates = select(Candidate.structure_id).where(
            Candidate.generation_id == generation_id, Candidate.selected.is_(True)
        )
        calcs = list(session.execute(
            select(Calculation.started_at, Calculation.finished_at, Calculation.wall_time_s).where(
                Calculation.structure_id.in_(candidates), Calculation.started_at.is_not(None)
            )
        ))
    md_s = 0.0
    if runs:
        ends = [r.created_at.timestamp() for r in runs]
        begins = [r.created_at.timestamp() - (r.wall_time_s or 0.0) for r in runs]
        md_s = max(ends) - min(begins)
    oracle_s, busy_s = 0.0, 0.0
    finished = [(a, b, w) for a, b, w in calcs if b is not None]
    if finished:
        oracle_s = max(b.timestamp() for _, b, _ in finished) - min(a.timestamp() for a, _, _ in finished)
        busy_s = sum(w or 0.0 for _, _, w in finished)
    return {"md_s": md_s, "oracle_s": oracle_s, "oracle_busy_s": busy_s}

