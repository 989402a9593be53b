"""Sanity checks around a reference calculation: the geometry before, the numbers after.

A reference code given NaN coordinates or two atoms on top of each other fails with an unhelpful
message (PySCF: ``LinAlgError`` or ``Ill geometry``) or, worse, returns a number. These checks turn
such structures into an :class:`~alforge.errors.OracleInputError` whose message names the atoms,
the bad value and the fix. After the calculation, :func:`problem_with_labels` finds energies and
forces that must not be trusted (non-finite, wrong shape, a net force on an isolated molecule).

Example
-------
>>> from ase import Atoms
>>> check_geometry(Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)]), min_distance_A=0.5)
>>> check_geometry(Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.02)]), min_distance_A=0.5)
Traceback (most recent call last):
...
alforge.errors.OracleInputError: atoms 0 and 1 are 0.02 Å apart (minimum 0.5 Å); check the ...
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.data import chemical_symbols

from alforge.errors import OracleInputError, OracleSetupError

__all__ = [
    "MAX_EXTENT_A",
    "NET_FORCE_TOL_EV_PER_A",
    "check_atomic_numbers",
    "check_geometry",
    "net_force_eV_per_A",
    "problem_with_labels",
]

MAX_EXTENT_A = 1000.0
"""Largest span of an isolated structure, in Å, that is taken as meant (anything larger is absurd)."""

NET_FORCE_TOL_EV_PER_A = 0.05
"""Largest accepted length of the summed forces of an isolated structure, in eV/Å.

Translational invariance makes it zero; DFT integration grids without grid response leave about
1e-4 eV/Å. Anything above this tolerance means the calculation went wrong."""


def check_atomic_numbers(numbers: object) -> np.ndarray:
    """``numbers`` as an integer array, or :class:`OracleSetupError` for anything that is no element.

    An empty sequence passes (``validate`` refuses an empty structure with its own message).
    """
    z = np.asarray(numbers)
    if z.size == 0:
        return z
    if z.ndim != 1 or not np.issubdtype(z.dtype, np.integer):
        msg = f"atomic numbers must be a 1-D integer sequence, got {numbers!r}"
        raise OracleSetupError(msg)
    bad = np.flatnonzero((z < 1) | (z >= len(chemical_symbols)))
    if bad.size:
        index = int(bad[0])
        msg = (
            f"atom {index} has atomic number {int(z[index])}, which is no element; "
            "atomic numbers run from 1 to 118 (ghost atoms are not supported)"
        )
        raise OracleSetupError(msg)
    return z


def check_geometry(atoms: Atoms, *, min_distance_A: float, allow_periodic: bool = True) -> None:
    """Raise :class:`OracleInputError` if ``atoms`` cannot sensibly be sent to an oracle.

    Parameters
    ----------
    atoms
        The structure; positions in Å.
    min_distance_A
        Smallest allowed interatomic distance in Å (minimum-image distance for periodic cells).
    allow_periodic
        If False, a structure with any periodic direction is refused (molecular codes).

    Raises
    ------
    OracleInputError
        No atoms; non-finite positions or cell; an isolated structure spanning more than
        :data:`MAX_EXTENT_A`; a periodic structure given to a molecular oracle; two atoms closer
        than ``min_distance_A``.
    """
    if len(atoms) == 0:
        msg = "structure has no atoms; drop it from the input"
        raise OracleInputError(msg)
    positions = atoms.get_positions()
    finite = np.isfinite(positions).all(axis=1)
    if not finite.all():
        index = int(np.flatnonzero(~finite)[0])
        msg = f"atom {index} has non-finite coordinates {positions[index].tolist()}; fix or drop this structure"
        raise OracleInputError(msg)
    periodic = bool(np.any(atoms.pbc))
    if periodic and not allow_periodic:
        msg = (
            f"structure is periodic (pbc={atoms.pbc.tolist()}) but this oracle computes isolated "
            "molecules; set atoms.pbc = False (drop the Lattice from the extxyz) or use a periodic oracle"
        )
        raise OracleInputError(msg)
    if periodic and not np.isfinite(atoms.cell.array).all():
        msg = "the cell contains NaN or infinity; fix the Lattice of this structure"
        raise OracleInputError(msg)
    if not periodic:
        extent = float(np.ptp(positions, axis=0).max())
        if extent > MAX_EXTENT_A:
            msg = (
                f"structure spans {extent:.4g} Å (limit {MAX_EXTENT_A:g} Å); "
                "check that positions are in Å, not Bohr or nm, or drop the structure"
            )
            raise OracleInputError(msg)
    _check_min_distance(atoms, min_distance_A)


def _check_min_distance(atoms: Atoms, min_distance_A: float) -> None:
    if len(atoms) < 2 or min_distance_A <= 0:
        return
    from ase.neighborlist import neighbor_list

    first, second, distance = neighbor_list("ijd", atoms, min_distance_A)
    if len(distance) == 0:
        return
    k = int(np.argmin(distance))
    i, j = sorted((int(first[k]), int(second[k])))
    where = f"atoms {i} and {j}" if i != j else f"atom {i} and its periodic image"
    msg = (
        f"{where} are {distance[k]:.3g} Å apart (minimum {min_distance_A:g} Å); check the structure's units or drop it"
    )
    raise OracleInputError(msg)


def net_force_eV_per_A(forces_eV_per_A: np.ndarray) -> float:
    """Length of the sum of all forces, in eV/Å (zero for an isolated molecule in exact arithmetic).

    Parameters
    ----------
    forces_eV_per_A
        Forces, shape ``(n_atoms, 3)``, in eV/Å.
    """
    return float(np.linalg.norm(np.asarray(forces_eV_per_A, dtype=float).sum(axis=0)))


def problem_with_labels(energy_eV: float, forces_eV_per_A: np.ndarray, atoms: Atoms) -> str | None:
    """One line saying why a computed energy and forces must not be trusted, or ``None``.

    Parameters
    ----------
    energy_eV
        Total energy in eV.
    forces_eV_per_A
        Forces in eV/Å, expected shape ``(n_atoms, 3)``.
    atoms
        The structure they belong to; the net-force test applies when it is not periodic.
    """
    if not np.isfinite(energy_eV):
        return f"energy is {energy_eV}; the calculation returned a non-finite energy"
    forces = np.asarray(forces_eV_per_A)
    if forces.shape != (len(atoms), 3):
        return f"forces have shape {forces.shape}, expected ({len(atoms)}, 3)"
    if not np.isfinite(forces).all():
        return "forces contain NaN or infinity; the calculation went wrong"
    if not np.any(atoms.pbc):
        net = net_force_eV_per_A(forces)
        if net > NET_FORCE_TOL_EV_PER_A:
            return (
                f"net force {net:.3g} eV/Å on an isolated structure "
                f"(tolerance {NET_FORCE_TOL_EV_PER_A:g} eV/Å); forces are not trustworthy"
            )
    return None
