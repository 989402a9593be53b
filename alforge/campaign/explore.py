"""Exploration: run a walker of the generation on its model from its planned start; store what it did.

The walker itself (MD, the trust window, rewinds) is :mod:`alforge.campaign.walker`; where it
starts was resolved with the plan (:mod:`alforge.campaign.starts`).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select

from alforge.campaign.artifacts import load_model_record
from alforge.campaign.context import get_generation, load_context
from alforge.campaign.plan import plan_step
from alforge.campaign.starts import planned_start
from alforge.db import Database, MDRun
from alforge.db import campaigns as store
from alforge.errors import AlforgeError

__all__ = ["explore_step"]


def explore_step(db: Database, campaign_id: int, generation_id: int, model_id: int, walker: int) -> int:
    """Run walker ``walker`` of a generation on its model; store it, its end and its frames; return md_run id."""
    from alforge.campaign.walker import Walker, WalkerSettings

    with db.session(readonly=True) as session:
        done = session.scalar(
            select(MDRun.id).where(MDRun.generation_id == generation_id, MDRun.walker == walker)
        )
        if done is not None:
            return done
        index = get_generation(session, generation_id).index
    ctx = load_context(db, campaign_id)
    model = load_model_record(db, model_id)
    plan = plan_step(db, campaign_id, generation_id, model_id)
    e = ctx.spec.exploration
    planned = planned_start(db, generation_id, walker)
    if planned is None:  # planned by plan_step above; a missing row is a bug, not a case to recover
        msg = f"generation {index} has no planned start for walker {walker}"
        raise AlforgeError(msg)
    start, velocities, start_id = planned
    steps = plan.md_steps or e.steps  # longer in a generation that would confirm convergence
    settings = WalkerSettings(
        temperature_K=e.temperatures_K[walker % len(e.temperatures_K)],
        steps=steps,
        threshold_eV_per_A=plan.threshold_eV_per_A,
        upper_eV_per_A=plan.upper_eV_per_A,
        rewind_after=e.rewind_after,
        timestep_fs=e.timestep_fs,
        thermostat=e.thermostat,
        friction_per_fs=e.friction_per_fs,
        check_interval=e.check_interval,
        min_distance_A=e.min_distance_A,
        max_force_eV_per_A=e.max_force_eV_per_A,
        # as densely in time as usual over a longer run, and room for a larger held-out draw
        sampled_frames=max(e.sampled_frames * steps // e.steps, -(-2 * plan.held_out_budget // e.walkers)),
        max_candidates=e.max_candidates,
        seed=int.from_bytes(hashlib.sha256(f"{ctx.spec.seed}:{index}:{walker}".encode()).digest()[:4], "little"),
    )
    # the uncertainty costs a GP several MD steps: only at the checks, unless every step is one
    calculator = model.calculator(uncertainty=True if settings.check_interval == 1 else "on_request")
    result = Walker(calculator, settings).run(start, velocities)
    with db.session() as session:
        return store.record_walker(
            session,
            generation_id,
            walker,
            temperature_K=settings.temperature_K,
            start_structure_id=start_id,
            steps_done=result.steps_done,
            stop_reason=result.stop_reason,
            max_uncertainty_eV_per_A=result.max_uncertainty_eV_per_A,
            wall_time_s=result.wall_time_s,
            uncertainties=result.uncertainties_eV_per_A,
            frames=[(f.atoms, f.uncertainty_eV_per_A, f.origin) for f in result.frames],
            steps_budget=result.steps_budget,
            confident_steps=result.confident_steps,
            rewinds=result.rewinds,
            timestep_fs=settings.timestep_fs,
            threshold_eV_per_A=settings.threshold_eV_per_A,
            end=result.end,
            end_velocities_A_per_fs=result.end_velocities_A_per_fs,
        )

