"""Generation 0: the start structures and rattled conformers (or copies) of them, labelled to fit the first model.

The conformers (:mod:`alforge.campaign.conformers`) turn every rotatable single bond of a start
structure by a random angle; a molecule without one (water) gets rattled copies.
"""

from __future__ import annotations

import numpy as np

from alforge.campaign.conformers import seed_structures
from alforge.campaign.context import campaign_starts, load_context
from alforge.db import Database
from alforge.db import campaigns as store

__all__ = ["seed_step"]


def seed_step(db: Database, campaign_id: int, generation_id: int) -> int:
    """Generation 0: the start structures and rattled conformers (or copies), selected for training."""
    ctx = load_context(db, campaign_id)
    rng = np.random.default_rng(ctx.spec.seed)
    starts = campaign_starts(db, campaign_id)
    system = ctx.spec.system
    frames, _ = seed_structures(starts, system.seed_structures, ctx.spec.seed, turn=system.seed_conformers)
    for atoms in frames[len(starts):]:
        atoms.positions += rng.normal(scale=system.rattle_A, size=atoms.positions.shape)
    with db.session() as session:
        ids = store.add_candidates(session, generation_id, frames, [None] * len(frames), ["seed"] * len(frames))
        store.mark_selected(session, dict.fromkeys(ids, ("train", "seed")))
        return len(ids)

