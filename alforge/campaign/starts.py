"""Where each walker of a generation starts: resolved with the plan, stored, read by the walker.

With ``exploration.start = "continue"`` (the default) a walker resumes where its last recorded
run ended, positions and velocities, so that walkers accumulate simulated time across
generations (a guard-ended run resumes from its last confident frame with fresh velocities). A
walker with no earlier run starts from the campaign's start structures and the conformers of
them the seeds were made of (before their rattle; :mod:`alforge.campaign.conformers`), walker by
walker, so that the first MD already spans the molecule's torsions; a molecule without a
rotatable bond starts every walker from the start structures.
``"labelled"``: a seeded uniform draw among the start structures and the campaign's training
structures inside the walkers' guards. ``"initial"``: the start structures every generation.
Everything comes from the database, so a resumed generation starts its walkers where the
interrupted one did, on any machine.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from sqlalchemy import select

from alforge.campaign.conformers import seed_structures
from alforge.campaign.context import CampaignContext, campaign_starts
from alforge.db import Database, Structure, WalkerStart
from alforge.db import campaigns as store
from alforge.db.calculations import labelled_frames
from alforge.db.labels import campaign_calculation_ids
from alforge.db.structures import add_structures, atoms_from_row

__all__ = ["planned_start", "resolve_starts", "walker_start"]


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
    """Where walker ``walker`` of generation ``index`` starts, and its velocities (Å/fs) if it continues."""
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
    if mode == "initial":
        return starts[walker % len(starts)], None
    if mode == "continue":
        system = ctx.spec.system
        seeds, first = seed_structures(starts, system.seed_structures, ctx.spec.seed, turn=system.seed_conformers)
        return seeds[first[walker % len(first)]], None
    with db.session(readonly=True) as session:
        ids = campaign_calculation_ids(session, campaign_id, split="train")
        labelled = labelled_frames(session, ids) if ids else []
    pool = [*starts, *(frame for frame in labelled if _within_guards(frame, ctx))]
    choice = pool[int(np.random.default_rng([ctx.spec.seed, index, walker]).integers(len(pool)))]
    return Atoms(choice.numbers, choice.positions, cell=choice.cell, pbc=choice.pbc), None


def resolve_starts(db: Database, ctx: CampaignContext, generation_id: int, index: int) -> None:
    """Store where every walker of generation ``index`` starts (once: stored starts are kept)."""
    with db.session(readonly=True) as session:
        known = set(session.scalars(
            select(WalkerStart.walker).where(WalkerStart.generation_id == generation_id)
        ))
    missing = [w for w in range(ctx.spec.exploration.walkers) if w not in known]
    starts = {w: walker_start(db, ctx, ctx.campaign_id, index, w) for w in missing}
    if not starts:
        return
    with db.session() as session:
        ids = add_structures(session, [atoms for atoms, _ in starts.values()])
        for (walker, (_, velocities)), structure_id in zip(starts.items(), ids, strict=True):
            session.add(WalkerStart(
                generation_id=generation_id, walker=walker, structure_id=structure_id,
                velocities_A_per_fs=None if velocities is None else np.asarray(velocities, dtype="<f8"),
            ))


def planned_start(db: Database, generation_id: int, walker: int) -> tuple[Atoms, np.ndarray | None, int] | None:
    """(structure, velocities in Å/fs or ``None``, structure id) stored for a walker, or ``None``."""
    with db.session(readonly=True) as session:
        row = session.scalar(
            select(WalkerStart).where(WalkerStart.generation_id == generation_id, WalkerStart.walker == walker)
        )
        if row is None:
            return None
        atoms = atoms_from_row(session.get(Structure, row.structure_id))  # type: ignore[arg-type]
        return atoms, row.velocities_A_per_fs, row.structure_id
