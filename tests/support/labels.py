"""A campaign's labels in a canonical order, to compare two runs of it bit for bit."""

from __future__ import annotations

from sqlalchemy import select

from alforge.db import Calculation, Candidate, Database, Generation
from alforge.db.structures import get_atoms

__all__ = ["labels_by_generation"]


def labels_by_generation(db: Database) -> list[tuple[int, str, bytes, float | None]]:
    """Every label of the database's campaign: generation, split, positions (bytes) and energy (eV), sorted."""
    with db.session(readonly=True) as session:
        rows = session.execute(
            select(Generation.index, Candidate.split, Calculation.structure_id, Calculation.energy_eV)
            .join(Candidate, Candidate.generation_id == Generation.id)
            .join(Calculation, Calculation.structure_id == Candidate.structure_id)
            .where(Candidate.selected.is_(True))
        ).all()
        atoms = get_atoms(session, [structure_id for _, _, structure_id, _ in rows])
    return sorted((index, split, a.positions.tobytes(), energy)
                  for (index, split, _, energy), a in zip(rows, atoms, strict=True))
