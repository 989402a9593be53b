"""Toy training data for the examples in the docstrings: displaced methane labelled by ASE's EMT.

>>> frames = emt_methane(3)
>>> len(frames), frames[0].get_forces().shape
(3, (5, 3))
"""

from __future__ import annotations

from ase import Atoms
from ase.build import molecule
from ase.calculators.emt import EMT

__all__ = ["emt_methane"]


def emt_methane(n_frames: int = 12, amplitude_A: float = 0.05) -> list[Atoms]:
    """``n_frames`` copies of ASE's CH4 rattled by ``amplitude_A`` (seeds 0, 1, …), labelled by EMT."""
    frames = []
    for seed in range(n_frames):
        atoms = molecule("CH4")
        atoms.rattle(amplitude_A, seed=seed)
        atoms.calc = EMT()
        atoms.get_forces()  # the calculator keeps energy and forces as the labels
        frames.append(atoms)
    return frames
