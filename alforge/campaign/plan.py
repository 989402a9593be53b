"""The generation's plan: its uncertainty threshold and trust ceiling, resolved once before MD.

The threshold on the largest per-atom force std comes, in order of precedence, from
``selection.threshold_eV_per_A`` (absolute), ``selection.threshold_relative`` (× the fitted force
noise) or the user's target force MAE, ``τ = target / κ`` (:mod:`alforge.campaign.calibration`).
Explore, select, evaluate and the dashboard read the stored plan; none recomputes it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from alforge.campaign.artifacts import load_model_record
from alforge.campaign.calibration import KAPPA_PRIOR, calibrate_kappa, threshold_eV_per_A
from alforge.campaign.context import get_generation, load_context
from alforge.db import Database, Generation

__all__ = ["KAPPA_GENERATIONS", "plan_step"]

KAPPA_GENERATIONS = 3  # generations whose held-out frames calibrate the threshold


def plan_step(db: Database, campaign_id: int, generation_id: int, model_id: int) -> dict[str, Any]:
    """Resolve the generation's uncertainty threshold once, before its walkers start; return the plan.

    The threshold on the largest per-atom force std comes, in order of precedence, from
    ``selection.threshold_eV_per_A`` (absolute), ``selection.threshold_relative`` (× the fitted
    force noise) or the user's target force MAE: ``τ = target / κ``, with ``κ`` (expected force
    MAE per unit of largest per-atom std, :mod:`alforge.campaign.calibration`) fitted on the last
    ``KAPPA_GENERATIONS`` generations' held-out frames, each as scored by its own generation's
    model on frames from that model's own MD. (Scoring them with this generation's model instead
    would read frames next in time to ones it trained on, and flatter it.) The plan is stored in
    the generation's settings; a rerun reads it.
    """
    ctx = load_context(db, campaign_id)
    with db.session(readonly=True) as session:
        generation = get_generation(session, generation_id)
        if "plan" in (generation.settings or {}):
            return dict(generation.settings["plan"])
        earlier = session.scalars(
            select(Generation.metrics)
            .where(
                Generation.campaign_id == campaign_id,
                Generation.state == "complete",
                Generation.index < generation.index,
                Generation.index >= generation.index - KAPPA_GENERATIONS,
            )
        ).all()
    pairs = [pair for metrics in earlier for pair in (metrics or {}).get("held_out_own", [])]
    errors, stds = [e for e, _ in pairs], [m for _, m in pairs]
    kappa = calibrate_kappa(errors, stds)
    s, target = ctx.spec.selection, ctx.spec.stopping.target_force_mae_eV_per_A
    if s.threshold_eV_per_A is not None:
        threshold, source = s.threshold_eV_per_A, "selection.threshold_eV_per_A"
    elif s.threshold_relative is not None or target is None:
        noise = float(getattr(load_model_record(db, model_id), "force_noise_eV_per_A", 0.0) or 0.0)
        factor = s.threshold_relative or 3.0
        threshold, source = max(factor * noise, 1e-3), f"selection.threshold_relative × force noise {noise:.3g} eV/Å"
    else:
        threshold = threshold_eV_per_A(target, kappa)
        source = f"target {target:g} eV/Å / kappa {kappa:.3g} ({len(errors)} held-out frames)"
    plan = {
        "threshold_eV_per_A": float(threshold),
        "upper_eV_per_A": float(threshold * s.upper_factor),
        "kappa": float(kappa),
        "kappa_prior": KAPPA_PRIOR,
        "kappa_frames": len(errors),
        "threshold_source": source,
    }
    with db.session() as session:
        generation = get_generation(session, generation_id)
        if "plan" not in (generation.settings or {}):
            generation.settings = {**(generation.settings or {}), "plan": plan,
                                   "threshold_eV_per_A": plan["threshold_eV_per_A"]}
        return dict(generation.settings["plan"])

