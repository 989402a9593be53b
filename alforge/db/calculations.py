"""Reference calculations in the database: one row per (structure, level of theory).

A row is created ``pending`` before the oracle runs and finished as ``ok``, ``failed`` (may be
retried) or ``quarantined`` (kept with its reason, never trained on). The unique constraint on
(structure, level) is what guarantees that no structure is sent to the oracle twice.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from datetime import UTC
from typing import Any

import numpy as np
from ase import Atoms
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from alforge.data import energy_of, forces_of
from alforge.db.schema import Calculation, Structure, utcnow
from alforge.db.structures import add_structures, atoms_from_row
from alforge.errors import DataError
from alforge.oracles.level_of_theory import LevelOfTheory

__all__ = [
    "ensure_calculations",
    "finish_calculation",
    "labelled_frames",
    "process_owner",
    "start_calculation",
    "store_labelled",
]

_CHUNK = 500


def _level_columns(level: LevelOfTheory) -> dict[str, Any]:
    return {
        "level_hash": level.hash,
        "level": level.to_dict(),
        "code": level.code,
        "code_version": level.code_version,
        "method": level.method,
        "basis": level.basis,
        "charge": level.charge,
        "spin": level.spin,
    }


def ensure_calculations(
    session: Session, structure_ids: Sequence[int], level: LevelOfTheory, *, status: str = "pending"
) -> dict[int, int]:
    """Create missing calculation rows for ``structure_ids`` at ``level``; map structure id → calc id.

    Existing rows (whatever their status) are left untouched, so a rerun never relabels.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    columns = _level_columns(level)
    unique_ids = list(dict.fromkeys(structure_ids))
    now = utcnow()
    for start in range(0, len(unique_ids), _CHUNK):
        rows = [
            {**columns, "structure_id": sid, "status": status, "attempts": 0, "details": {}, "created_at": now}
            for sid in unique_ids[start : start + _CHUNK]
        ]
        statement = insert(Calculation).on_conflict_do_nothing(index_elements=["structure_id", "level_hash"])
        session.execute(statement, rows)
    return _calculation_ids(session, unique_ids, level.hash)


def _calculation_ids(session: Session, structure_ids: Sequence[int], level_hash: str) -> dict[int, int]:
    """Map structure id → calculation id for the rows that exist at ``level_hash``."""
    unique_ids = list(dict.fromkeys(structure_ids))
    mapping: dict[int, int] = {}
    for start in range(0, len(unique_ids), _CHUNK):
        query = select(Calculation.structure_id, Calculation.id).where(
            Calculation.level_hash == level_hash, Calculation.structure_id.in_(unique_ids[start : start + _CHUNK])
        )
        mapping.update(dict(session.execute(query).tuples().all()))
    return mapping


def finish_calculation(
    session: Session,
    calculation_id: int,
    *,
    status: str,
    energy_eV: float | None = None,
    forces_eV_per_A: np.ndarray | None = None,
    error: str | None = None,
    wall_time_s: float | None = None,
    details: dict[str, Any] | None = None,
    code_version: str | None = None,
) -> Calculation:
    """Store the outcome of a reference calculation (``ok``, ``failed`` or ``quarantined``).

    ``attempts`` is not touched here: it counts oracle launches and is incremented by whoever
    starts the oracle, before it starts (see :func:`start_calculation`).
    """
    if status not in ("ok", "failed", "quarantined"):
        msg = f"calculation status {status!r} is not one of ok, failed, quarantined"
        raise ValueError(msg)
    calc = session.get(Calculation, calculation_id)
    if calc is None:
        msg = f"calculation {calculation_id} does not exist"
        raise KeyError(msg)
    calc.status = status
    calc.energy_eV = None if energy_eV is None else float(energy_eV)
    calc.forces_eV_per_A = None if forces_eV_per_A is None else np.asarray(forces_eV_per_A, dtype="<f8")
    calc.error = error
    calc.wall_time_s = wall_time_s
    calc.details = details or {}
    calc.finished_at = utcnow()
    if code_version:
        calc.code_version = code_version
    return calc


def process_owner() -> str:
    """This process as a calculation owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str) -> bool:
    """True if ``owner`` (``host:pid``) is a live process on this host; unknown for other hosts."""
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname():
        return True  # cannot tell from here: the lease decides
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def start_calculation(session: Session, calculation_id: int, *, lease_s: float = 3600.0) -> Calculation | None:
    """Claim a calculation before the oracle runs (attempts += 1, started_at, owner).

    Returns ``None`` when there is nothing to do here: the calculation is finished, or another
    live process holds it (its lease of ``lease_s`` seconds has not expired). A calculation whose
    owner died (a crash) is taken over at once, so a resume reruns only what was in flight.
    """
    calc = session.get(Calculation, calculation_id, with_for_update=True)
    if calc is None:
        msg = f"calculation {calculation_id} does not exist"
        raise KeyError(msg)
    if calc.status in ("ok", "quarantined"):
        return None
    me = process_owner()
    owner = (calc.details or {}).get("owner")
    if calc.started_at is not None and calc.finished_at is None and owner and owner != me:
        started = calc.started_at if calc.started_at.tzinfo else calc.started_at.replace(tzinfo=UTC)
        within_lease = (utcnow() - started).total_seconds() < lease_s
        if within_lease and _owner_alive(owner):
            return None
    calc.attempts = (calc.attempts or 0) + 1
    calc.started_at = utcnow()
    calc.details = {**(calc.details or {}), "owner": me}
    return calc


def store_labelled(session: Session, frames: Sequence[Atoms], level: LevelOfTheory) -> list[int]:
    """Store labelled frames (energy eV, forces eV/Å) at ``level``; return their calculation ids.

    A structure already labelled at this level keeps its stored result (nothing is overwritten).
    """
    for i, atoms in enumerate(frames):
        forces = forces_of(atoms)
        if forces.shape != (len(atoms), 3):
            msg = f"frame {i}: forces have shape {forces.shape}, expected ({len(atoms)}, 3)"
            raise DataError(msg)
        if not (np.isfinite(energy_of(atoms)) and np.isfinite(forces).all()):
            msg = f"frame {i}: energy or forces are not finite; drop or relabel this frame"
            raise DataError(msg)
    structure_ids = add_structures(session, frames)
    existing = _calculation_ids(session, structure_ids, level.hash)
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    columns = _level_columns(level)
    now = utcnow()
    rows: dict[int, dict[str, Any]] = {}
    for sid, atoms in zip(structure_ids, frames, strict=True):
        if sid in existing or sid in rows:
            continue
        rows[sid] = {
            **columns,
            "structure_id": sid,
            "status": "ok",
            "energy_eV": energy_of(atoms),
            "forces_eV_per_A": np.asarray(forces_of(atoms), dtype="<f8"),
            "attempts": 0,
            "details": {"source": "imported"},
            "created_at": now,
            "finished_at": now,
        }
    values = list(rows.values())
    for start in range(0, len(values), _CHUNK):
        statement = insert(Calculation).on_conflict_do_nothing(index_elements=["structure_id", "level_hash"])
        session.execute(statement, values[start : start + _CHUNK])
    mapping = _calculation_ids(session, structure_ids, level.hash)
    return [mapping[sid] for sid in structure_ids]


def labelled_frames(session: Session, calculation_ids: Sequence[int]) -> list[Atoms]:
    """Labelled frames for calculation ids (only status ``ok``), in order.

    Each frame's ``info`` holds ``calculation_id``, ``structure_id`` and ``level_of_theory_hash``.
    """
    from alforge.data import labelled

    rows: dict[int, tuple[Calculation, Structure]] = {}
    ids = list(calculation_ids)
    for start in range(0, len(ids), _CHUNK):
        query = (
            select(Calculation, Structure)
            .join(Structure, Calculation.structure_id == Structure.id)
            .where(Calculation.id.in_(ids[start : start + _CHUNK]))
        )
        rows.update({calc.id: (calc, structure) for calc, structure in session.execute(query)})
    frames = []
    for cid in ids:
        if cid not in rows:
            msg = f"calculation {cid} is not in the database"
            raise KeyError(msg)
        calc, structure = rows[cid]
        if calc.status != "ok" or calc.energy_eV is None or calc.forces_eV_per_A is None:
            msg = f"calculation {cid} has status {calc.status!r}; only 'ok' results can be used as labels"
            raise DataError(msg)
        frame = labelled(atoms_from_row(structure), calc.energy_eV, calc.forces_eV_per_A)
        frame.info.update(
            calculation_id=calc.id, structure_id=structure.id, level_of_theory_hash=calc.level_hash
        )
        frames.append(frame)
    return frames
