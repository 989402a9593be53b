"""Exploration: where each walker starts, and running it on the generation's model.

The walker itself (MD, the trust window, rewinds) is :mod:`alforge.campaign.walker`; this module
decides its start and stores what it did. With ``exploration.start = "continue"`` (the default)
a walker resumes where its last run ended, positions and velocities, read from the database.
"""

from __future__ import annotations

import hashlib

import numpy as np
from ase import Atoms
from sqlalchemy import select

from alforge.campaign.artifacts import load_model_record
from alforge.campaign.context import CampaignContext, campaign_starts, get_generation, load_context
from alforge.campaign.plan import plan_step
from alforge.db import Database, MDRun, Structure
from alforge.db import campaigns as store
from alforge.db.calculations import labelled_frames
from alforge.db.labels import campaign_calculation_ids
from alforge.db.structures import add_structures, atoms_from_row

__all__ = ["explore_step", "walker_start"]


def _within_guards(atoms: Atoms, ctx: CampaignContext) -> bool:
    """True if a labelled frame is a sane MD start: forces and distances inside the walkers' guards."""
    e = ctx.spec.exploration
    if np.linalg.norm(atoms.get_forces(), axis=1).max() >= e.max_force_eV_per_A:
        return False
    if len(atoms) < 2:
        return True
    distances = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return bool(distances[np.triu_indices(len(atoms), 1)].min() >= e.min_distance_A)


def walker_start(
    db: Database, ctx: CampaignContext, campaign_id: int, index: int, walker: int
) -> tuple[Atoms, np.ndarray | None]:
    """Where walker ``walker`` of generation ``index`` starts, and its velocities (Å/fs) if it continues.

    ``exploration.start = "continue"`` (the default): the walker resumes where its last recorded
    run ended, positions and velocities, so that walkers accumulate simulated time across
    generations (a guard-ended run resumes from its last confident frame with fresh velocities).
    A walker with no earlier run starts from the campaign's start structures (stored in the
    database when the campaign started), walker by walker.
    ``"labelled"``: a seeded uniform draw among the start structures and the campaign's training
    structures inside the walkers' guards. ``"initial"``: the start structures every generation.
    Everything but the very first start comes from the database, so a resumed generation starts
    its walkers where the interrupted one did.
    """
    mode = ctx.spec.exploration.start
    if mode == "continue":
        with db.session(readonly=True) as session:
            run = store.last_walker_run(session, campaign_id, walker, before_index=index)
            if run is not None:
                end = atoms_from_row(session.get(Structure, run.end_structure_id))  # type: ignore[arg-type]
                velocities = run.end_velocities_A_per_fs
                if velocities is None or velocities.shape != (len(end), 3):
                    velocities = None
                return end, velocities
    starts = campaign_starts(db, campaign_id)
    if mode in ("continue", "initial"):
        return starts[walker % len(starts)], None
    with db.session(readonly=True) as session:
        ids = campaign_calculation_ids(session, campaign_id, split="train")
        labelled = labelled_frames(session, ids) if ids else []
    pool = [*starts, *(frame for frame in labelled if _within_guards(frame, ctx))]
    choice = pool[int(np.random.default_rng([ctx.spec.seed, index, walker]).integers(len(pool)))]
    return Atoms(choice.numbers, choice.positions, cell=choice.cell, pbc=choice.pbc), None


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
    start, velocities = walker_start(db, ctx, campaign_id, index, walker)
    settings = WalkerSettings(
        temperature_K=e.temperatures_K[walker % len(e.temperatures_K)],
        steps=e.steps,
        threshold_eV_per_A=plan.threshold_eV_per_A,
        upper_eV_per_A=plan.upper_eV_per_A,
        timestep_fs=e.timestep_fs,
        thermostat=e.thermostat,
        friction_per_fs=e.friction_per_fs,
        check_interval=e.check_interval,
        min_distance_A=e.min_distance_A,
        max_force_eV_per_A=e.max_force_eV_per_A,
        sampled_frames=e.sampled_frames,
        max_candidates=e.max_candidates,
        seed=int.from_bytes(hashlib.sha256(f"{ctx.spec.seed}:{index}:{walker}".encode()).digest()[:4], "little"),
    )
    result = Walker(model.calculator(), settings).run(start, velocities)
    with db.session() as session:
        start_id = add_structures(session, [start])[0]
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

