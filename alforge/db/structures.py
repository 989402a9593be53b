"""Structures in the database: canonical hashing, bulk insertion with deduplication, read-back.

Example
-------
>>> from ase.build import molecule
>>> from alforge.db import Database
>>> db = Database("sqlite:///:memory:")
>>> with db.session() as session:
...     first = add_structures(session, [molecule("H2O")])
...     again = add_structures(session, [molecule("H2O")])
>>> first == again
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
from ase import Atoms
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from alforge.data import check_positions
from alforge.db.schema import Structure, utcnow

__all__ = ["add_structures", "atoms_from_row", "get_atoms", "structure_hash"]

HASH_RESOLUTION_A = 1e-6
_CHUNK = 500


def structure_hash(atoms: Atoms) -> str:
    """Canonical content hash: equal for geometries equal to 1e-6 Å (same numbers, cell, pbc).

    Positions and cell are rounded to integer multiples of 1e-6 Å before hashing, so values
    that differ by float noise only hash the same. Atom order matters (it is part of the data).
    """
    numbers = np.asarray(atoms.numbers, dtype="<i8")
    positions = np.rint(np.asarray(atoms.positions, dtype=float) / HASH_RESOLUTION_A).astype("<i8")
    cell = np.rint(np.asarray(atoms.cell.array, dtype=float) / HASH_RESOLUTION_A).astype("<i8")
    pbc = np.asarray(atoms.pbc, dtype=bool)
    digest = hashlib.sha256()
    for part in (numbers, positions, cell, pbc.astype("<i8")):
        digest.update(part.tobytes())
    return digest.hexdigest()


def _row(atoms: Atoms, digest: str) -> dict[str, object]:
    return {
        "hash": digest,
        "formula": atoms.get_chemical_formula(mode="hill"),
        "n_atoms": len(atoms),
        "numbers": np.asarray(atoms.numbers, dtype="<i8"),
        "positions": np.asarray(atoms.positions, dtype="<f8"),
        "cell": np.asarray(atoms.cell.array, dtype="<f8"),
        "pbc": np.asarray(atoms.pbc, dtype=bool),
        "created_at": utcnow(),
    }


def add_structures(session: Session, frames: Sequence[Atoms]) -> list[int]:
    """Insert structures not yet stored and return the id of every frame, in order.

    Safe under concurrent writers: inserts use ``ON CONFLICT DO NOTHING`` on the hash and the ids
    are read back afterwards. Raises :class:`~alforge.errors.DataError` for NaN/inf positions
    before anything is written.
    """
    digests = []
    for i, atoms in enumerate(frames):
        check_positions(atoms, where=f"structure {i}")
        digests.append(structure_hash(atoms))
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    ids: dict[str, int] = {}
    for start in range(0, len(frames), _CHUNK):
        chunk_digests = digests[start : start + _CHUNK]
        known = _ids_for(session, chunk_digests)
        ids.update(known)
        new: dict[str, dict[str, object]] = {}
        for atoms, digest in zip(frames[start : start + _CHUNK], chunk_digests, strict=True):
            if digest not in ids and digest not in new:
                new[digest] = _row(atoms, digest)
        if new:
            statement = insert(Structure).on_conflict_do_nothing(index_elements=["hash"])
            session.execute(statement, list(new.values()))
            ids.update(_ids_for(session, list(new)))
    return [ids[d] for d in digests]


def _ids_for(session: Session, digests: Iterable[str]) -> dict[str, int]:
    rows = session.execute(select(Structure.hash, Structure.id).where(Structure.hash.in_(list(digests))))
    return dict(rows.tuples().all())


def atoms_from_row(row: Structure) -> Atoms:
    """Build an :class:`ase.Atoms` from a stored structure (bit-exact positions and cell)."""
    atoms = Atoms(numbers=row.numbers, positions=row.positions, cell=row.cell, pbc=row.pbc)
    atoms.info["structure_id"] = row.id
    return atoms


def get_atoms(session: Session, structure_ids: Sequence[int]) -> list[Atoms]:
    """Read structures back by id, in the order given."""
    rows = {}
    for start in range(0, len(structure_ids), _CHUNK):
        chunk = list(structure_ids[start : start + _CHUNK])
        rows.update({row.id: row for row in session.scalars(select(Structure).where(Structure.id.in_(chunk)))})
    missing = [sid for sid in structure_ids if sid not in rows]
    if missing:
        msg = f"structure ids {missing[:5]} are not in the database; check the ids"
        raise KeyError(msg)
    return [atoms_from_row(rows[sid]) for sid in structure_ids]
