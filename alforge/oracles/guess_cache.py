"""A small, thread-safe store of converged orbitals, to start the next SCF close to its answer.

Structures an active-learning loop sends to the oracle are often close to one another
(snapshots of the same molecular dynamics). Starting the SCF from the orbitals of the nearest
previous structure, rather than from a superposition of atoms, saves SCF cycles and the cost of
the atomic guess. Orbitals are in the atomic-orbital basis, whose functions follow the atoms, so
a stored guess only fits a structure with the same atoms in the same order, and positions are
compared as they are (RMSD without alignment: a rotated copy is *not* close).

Example
-------
>>> import numpy as np
>>> cache = GuessCache(max_entries=4, max_rmsd_A=0.1)
>>> cache.store([1, 1], np.array([[0, 0, 0], [0, 0, 0.74]]), (np.ones((2, 1)),))
>>> guess, rmsd = cache.nearest([1, 1], np.array([[0, 0, 0], [0, 0, 0.76]]))
>>> guess[0].shape, round(rmsd, 3)
((2, 1), 0.014)
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["GuessCache", "Orbitals"]

Orbitals = tuple[np.ndarray, ...]
"""Occupied MO coefficients: one ``(nao, n_occ)`` array (restricted) or two (alpha, beta)."""


@dataclass(frozen=True)
class _Entry:
    numbers: tuple[int, ...]
    positions_A: np.ndarray
    orbitals: Orbitals


class GuessCache:
    """Most recent converged orbitals, looked up by nearest positions.

    Parameters
    ----------
    max_entries
        How many structures are kept (oldest dropped first).
    max_rmsd_A
        A stored guess is offered only if the positional RMSD to it is at most this, in Å
        (farther than ~0.1 Å the atomic guess does as well).
    """

    def __init__(self, max_entries: int = 16, max_rmsd_A: float = 0.1) -> None:
        self.max_rmsd_A = max_rmsd_A
        self._entries: deque[_Entry] = deque(maxlen=max_entries)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def store(self, numbers: Sequence[int] | np.ndarray, positions_A: np.ndarray, orbitals: Orbitals) -> None:
        """Remember the converged ``orbitals`` of a structure.

        Parameters
        ----------
        numbers
            Atomic numbers, shape ``(n_atoms,)``.
        positions_A
            Positions in Å, shape ``(n_atoms, 3)``.
        orbitals
            Occupied MO coefficients (see :data:`Orbitals`).
        """
        entry = _Entry(
            tuple(int(z) for z in numbers),
            np.array(positions_A, dtype=float),
            tuple(np.array(c, dtype=float) for c in orbitals),
        )
        with self._lock:
            self._entries.append(entry)

    def nearest(self, numbers: Sequence[int] | np.ndarray, positions_A: np.ndarray) -> tuple[Orbitals, float] | None:
        """The stored orbitals of the closest structure with the same atoms, and its RMSD in Å.

        Returns
        -------
        tuple of (Orbitals, float) or None
            ``(orbitals, rmsd_A)``, or ``None`` if no stored structure has the same atoms in the
            same order within :attr:`max_rmsd_A`.
        """
        key = tuple(int(z) for z in numbers)
        positions = np.asarray(positions_A, dtype=float)
        with self._lock:
            candidates = [entry for entry in self._entries if entry.numbers == key]
        best: tuple[Orbitals, float] | None = None
        for entry in candidates:
            rmsd = float(np.sqrt(np.mean(np.sum((entry.positions_A - positions) ** 2, axis=1))))
            if rmsd <= self.max_rmsd_A and (best is None or rmsd < best[1]):
                best = (entry.orbitals, rmsd)
        return best
