"""Generation 0: the start structures and rattled copies of them, labelled to fit the first model."""

from __future__ import annotations

import numpy as np
from ase import Atoms

from alforge.campaign.context import campaign_starts, load_context
from alforge.db import Database
from alforge.db import campaigns as store

__all__ = ["seed_step"]


def seed_step(db: Database, campaign_id: int, generation_id: int) -> int:
    """Generation 0: the start structures and rattled copies, selected for training."""
    ctx = load_context(db, campaign_id)
    rng = np.random.default_rng(ctx.spec.seed)
    starts = campaign_starts(db, campaign_id)
    frames: list[Atoms] = []
    for i in range(max(ctx.spec.system.seed_structures, len(starts))):
        atoms = starts[i % len(starts)].copy()
        if i >= len(starts):
            atoms.positions += rng.normal(scale=ctx.spec.system.rattle_A, size=atoms.positions.shape)
        frames.append(atoms)
    with db.session() as session:
        ids = store.add_candidates(session, generation_id, frames, [None] * len(frames), ["seed"] * len(frames))
        store.mark_selected(session, dict.fromkeys(ids, ("train", "seed")))
        return len(ids)

