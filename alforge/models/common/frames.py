"""Checks that turn frames into arrays for a potential, with one-line errors.

Labels are read and checked in one place, :func:`read_labels` (frames of any size; its
:func:`label_of` per frame); :func:`stack_labelled` adds the one-molecule checks of
:func:`stack_positions` for the global models.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from ase import Atoms
from ase.symbols import Symbols

from alforge.errors import ModelInputError

__all__ = ["LEVEL_KEY", "check_finite", "label_of", "level_hashes", "read_labels", "stack_labelled", "stack_positions"]

LEVEL_KEY = "level_of_theory_hash"
"""Key of ``atoms.info`` that holds the level-of-theory hash of a frame's label."""


def _describe(numbers: np.ndarray) -> str:
    symbols = Symbols(numbers)
    return f"{symbols.get_chemical_formula()} (atom order {' '.join(symbols)})"


def check_finite(positions: np.ndarray, index: int) -> None:
    """Refuse frame ``index`` if an atom has a NaN or infinite coordinate, naming the atom."""
    bad = ~np.isfinite(positions).all(axis=1)
    if bad.any():
        atom = int(np.flatnonzero(bad)[0])
        msg = (
            f"frame {index}: atom {atom} has non-finite coordinates {positions[atom].tolist()}; "
            "fix or drop this structure"
        )
        raise ModelInputError(msg)


def stack_positions(frames: Sequence[Atoms], numbers: np.ndarray | None = None) -> np.ndarray:
    """Positions of frames of one molecule, checked.

    Parameters
    ----------
    frames
        Structures with the same atoms in the same order.
    numbers
        Atomic numbers the frames must have (the model's molecule); default: those of frame 0.

    Returns
    -------
    numpy.ndarray
        Positions in Å, shape ``(n, N, 3)``.

    Raises
    ------
    ModelInputError
        No frames, a different molecule or atom order, or non-finite coordinates.
    """
    if len(frames) == 0:
        msg = "no structures given; pass at least one frame"
        raise ModelInputError(msg)
    reference = np.asarray(frames[0].numbers if numbers is None else numbers)
    positions = np.empty((len(frames), len(reference), 3))
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            msg = f"frame {i} is a {type(atoms).__name__}, not ase.Atoms; pass a list of ase.Atoms"
            raise ModelInputError(msg)
        if len(atoms) != len(reference) or not np.array_equal(atoms.numbers, reference):
            msg = (
                f"frame {i} is {_describe(atoms.numbers)} but the model is for {_describe(reference)}; "
                "a global model takes one molecule in one atom order: fit one model per molecule "
                "or reorder the atoms"
            )
            raise ModelInputError(msg)
        frame_positions = atoms.get_positions()
        check_finite(frame_positions, i)
        positions[i] = frame_positions
    return positions


def label_of(
    atoms: Atoms, index: int, *, energy_key: str = "energy", forces_key: str = "forces"
) -> tuple[float, np.ndarray]:
    """Reference energy (eV) and forces (eV/Å, ``(N, 3)``) of one frame, checked.

    The label is read the ways ASE users store it: ``atoms.info[energy_key]`` and
    ``atoms.arrays[forces_key]`` (what ``ase.io.read`` leaves for keys such as ``REF_energy``),
    else the results of the attached calculator (a
    :class:`~ase.calculators.singlepoint.SinglePointCalculator`, as extxyz ``energy=`` gives).

    Raises
    ------
    ModelInputError
        No label under these keys, or a label that is not finite or of the wrong shape.
    """
    results = getattr(atoms.calc, "results", None) or {}
    energy = atoms.info.get(energy_key, results.get(energy_key))
    forces = atoms.arrays.get(forces_key, results.get(forces_key))
    if energy is None or forces is None:
        missing = " and ".join(
            f"{what} {key!r}"
            for what, key, value in (("energy", energy_key, energy), ("forces", forces_key, forces))
            if value is None
        )
        msg = (
            f"frame {index} has no reference {missing} (looked in atoms.info, atoms.arrays and the calculator's "
            "results); label it first (alforge label) or name its keys (energy_key=, forces_key=)"
        )
        raise ModelInputError(msg)
    try:
        energy_eV = float(energy)
        forces_eV_per_A = np.asarray(forces, dtype=float)
    except (TypeError, ValueError):
        msg = f"frame {index}: energy {energy_key!r} or forces {forces_key!r} are not numbers; relabel it"
        raise ModelInputError(msg) from None
    if not math.isfinite(energy_eV) or forces_eV_per_A.shape != (len(atoms), 3):
        msg = f"frame {index}: energy is {energy_eV} and forces have shape {forces_eV_per_A.shape}; relabel it"
        raise ModelInputError(msg)
    if not np.isfinite(forces_eV_per_A).all():
        msg = f"frame {index}: forces contain NaN or infinity; drop this frame or relabel it"
        raise ModelInputError(msg)
    return energy_eV, forces_eV_per_A


def read_labels(
    frames: Sequence[Atoms], *, energy_key: str = "energy", forces_key: str = "forces"
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Reference energies and forces of labelled frames of any sizes, checked.

    Parameters
    ----------
    frames
        Labelled structures (see :func:`label_of` for where the labels are read).
    energy_key, forces_key
        Where the labels are stored.

    Returns
    -------
    energies : numpy.ndarray
        Reference energies in eV, shape ``(n,)``.
    forces : list of numpy.ndarray
        Reference forces in eV/Å, one ``(N_i, 3)`` array per frame.

    Raises
    ------
    ModelInputError
        No frames, something that is not ``ase.Atoms``, non-finite coordinates, or a missing or
        malformed label.
    """
    if len(frames) == 0:
        msg = "no training structures; give at least one labelled frame"
        raise ModelInputError(msg)
    energies, forces = np.empty(len(frames)), []
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            msg = f"frame {i} is a {type(atoms).__name__}, not ase.Atoms; pass a list of ase.Atoms"
            raise ModelInputError(msg)
        check_finite(atoms.positions, i)
        energies[i], frame_forces = label_of(atoms, i, energy_key=energy_key, forces_key=forces_key)
        forces.append(frame_forces)
    return energies, forces


def stack_labelled(
    frames: Sequence[Atoms],
    numbers: np.ndarray | None = None,
    *,
    energy_key: str = "energy",
    forces_key: str = "forces",
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positions, energies and forces of labelled frames of one molecule.

    Parameters
    ----------
    frames
        Labelled frames (see :func:`label_of`).
    numbers
        Atomic numbers the frames must have; default: those of frame 0.
    energy_key, forces_key
        Where the labels are stored (see :func:`label_of`).

    Returns
    -------
    numbers : numpy.ndarray
        Atomic numbers, shape ``(N,)``.
    positions : numpy.ndarray
        Positions in Å, shape ``(n, N, 3)``.
    energies : numpy.ndarray
        Reference energies in eV, shape ``(n,)``.
    forces : numpy.ndarray
        Reference forces in eV/Å, shape ``(n, N, 3)``.

    Raises
    ------
    ModelInputError
        No frames, an unlabelled frame, mixed molecules, or non-finite numbers.
    """
    if len(frames) == 0:
        msg = "no training structures; give at least one labelled frame"
        raise ModelInputError(msg)
    positions = stack_positions(frames, numbers)
    energies, forces = read_labels(frames, energy_key=energy_key, forces_key=forces_key)
    return np.asarray(frames[0].numbers), positions, energies, np.stack(forces)


def level_hashes(frames: Sequence[Atoms]) -> set[str]:
    """Distinct level-of-theory hashes carried in ``atoms.info[LEVEL_KEY]`` (frames without one are skipped)."""
    return {str(atoms.info[LEVEL_KEY]) for atoms in frames if atoms.info.get(LEVEL_KEY)}
