"""Structures and labelled frames: extxyz in and out, with checks.

A *labelled frame* is an :class:`ase.Atoms` whose calculator is a
:class:`~ase.calculators.singlepoint.SinglePointCalculator` holding ``energy`` (eV) and
``forces`` (eV/Å, shape ``(n_atoms, 3)``), which is what ASE itself produces when it reads an
extxyz file with ``energy`` in the comment line and ``forces`` in the per-atom columns.

Example
-------
>>> from ase.build import molecule
>>> import numpy as np
>>> frame = labelled(molecule("H2O"), energy_eV=-2079.5, forces_eV_per_A=np.zeros((3, 3)))
>>> energy_of(frame)
-2079.5
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from alforge.errors import DataError

__all__ = [
    "check_positions",
    "energy_of",
    "forces_of",
    "is_labelled",
    "labelled",
    "read_labelled",
    "read_structures",
    "write_labelled",
]


def labelled(atoms: Atoms, energy_eV: float, forces_eV_per_A: np.ndarray) -> Atoms:
    """Return a copy of ``atoms`` carrying a reference energy (eV) and forces (eV/Å, ``(n, 3)``)."""
    frame = atoms.copy()
    forces = np.asarray(forces_eV_per_A, dtype=float)
    if forces.shape != (len(frame), 3):
        msg = f"forces have shape {forces.shape}, expected ({len(frame)}, 3) for {len(frame)} atoms"
        raise DataError(msg)
    frame.calc = SinglePointCalculator(frame, energy=float(energy_eV), forces=forces)
    return frame


def is_labelled(atoms: Atoms) -> bool:
    """True if ``atoms`` carries both a reference energy and forces."""
    calc = atoms.calc
    if calc is None:
        return False
    results = getattr(calc, "results", {})
    return "energy" in results and "forces" in results


def energy_of(atoms: Atoms) -> float:
    """Reference energy of a labelled frame in eV."""
    if not is_labelled(atoms):
        msg = "structure has no reference energy and forces; label it first (alforge label)"
        raise DataError(msg)
    return float(atoms.calc.results["energy"])


def forces_of(atoms: Atoms) -> np.ndarray:
    """Reference forces of a labelled frame in eV/Å, shape ``(n_atoms, 3)``."""
    if not is_labelled(atoms):
        msg = "structure has no reference energy and forces; label it first (alforge label)"
        raise DataError(msg)
    return np.asarray(atoms.calc.results["forces"], dtype=float)


def check_positions(atoms: Atoms, where: str = "structure") -> None:
    """Raise :class:`DataError` if positions (or the cell) contain NaN or infinity."""
    positions = atoms.get_positions()
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        msg = (
            f"{where}: atom {index} has non-finite coordinates {positions[index].tolist()}; "
            "fix or drop this structure"
        )
        raise DataError(msg)
    if not np.isfinite(atoms.cell.array).all():
        msg = f"{where}: the cell contains NaN or infinity; fix the Lattice of this structure"
        raise DataError(msg)


def _reason(exc: BaseException) -> str:
    """The parser's complaint without quoted content, so an error never echoes a file's text."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    first = re.sub(r"'[^']*'?|\"[^\"]*\"?", "'…'", first)
    return first[:160]


def _read(path: Path, index: str | int = ":") -> list[Atoms]:
    from ase.io import read

    if not path.exists():
        msg = f"{path}: no such file; check the path"
        raise DataError(msg)
    try:
        frames = read(path, index=index)
    except Exception as exc:  # ASE raises many types for malformed files
        msg = f"{path}: cannot read as a structure file ({_reason(exc)}); check that it is valid extxyz/xyz"
        raise DataError(msg) from exc
    if isinstance(frames, Atoms):
        frames = [frames]
    if not frames:
        msg = f"{path}: holds no structures; give a file with at least one frame"
        raise DataError(msg)
    return list(frames)


def read_structures(path: str | Path) -> list[Atoms]:
    """Read every frame of an extxyz/xyz (or any ASE-readable) file and check positions."""
    path = Path(path)
    frames = _read(path)
    for i, atoms in enumerate(frames):
        check_positions(atoms, where=f"{path} frame {i}")
    return frames


def read_labelled(path: str | Path) -> list[Atoms]:
    """Read a labelled extxyz file: ``energy`` in ``info`` and ``forces`` in ``arrays``.

    Raises
    ------
    DataError
        When the file cannot be parsed, a frame lacks energy or forces, or numbers are not finite.
    """
    path = Path(path)
    frames = read_structures(path)
    for i, atoms in enumerate(frames):
        where = f"{path} frame {i}"
        if atoms.calc is None or "energy" not in atoms.calc.results:
            msg = f"{where}: no energy; put energy=<eV> in the comment line (ASE extxyz convention)"
            raise DataError(msg)
        if "forces" not in atoms.calc.results:
            msg = f"{where}: no forces; add a forces:R:3 column in eV/Å (ASE extxyz convention)"
            raise DataError(msg)
        try:
            energy = float(atoms.calc.results["energy"])
            forces = np.asarray(atoms.calc.results["forces"], dtype=float)
        except (TypeError, ValueError):
            msg = f"{where}: energy or forces are not numbers; write energy=<eV> and forces in eV/Å"
            raise DataError(msg) from None
        if not math.isfinite(energy):
            msg = f"{where}: energy is {energy}; drop this frame or relabel it"
            raise DataError(msg)
        if not np.isfinite(forces).all():
            msg = f"{where}: forces contain NaN or infinity; drop this frame or relabel it"
            raise DataError(msg)
    return frames


def write_labelled(path: str | Path, frames: Sequence[Atoms], *, append: bool = False) -> None:
    """Write frames to extxyz with ``energy`` in ``info`` and ``forces`` in ``arrays`` where labelled."""
    from ase.io import write

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write(path, list(frames), format="extxyz", append=append)
