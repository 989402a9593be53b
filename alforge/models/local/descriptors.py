"""Local environments of a batch of structures: pairs and triplets within cutoffs.

A :class:`LocalEnvironments` holds, for structures of any size and composition (periodic cells
included, through ASE's neighbour list), the ordered neighbour pairs ``(i, j)`` within the
two-body cutoff and the triplets ``(i; j, k)`` — a centre ``i`` and two of its neighbours within
the three-body cutoff — each tagged with its element key. Atom indices are global over the
batch, so one ``index_add_`` per quantity scatters pair and triplet terms into energies and forces.

Element keys: a pair ``(Z_a, Z_b)`` with ``Z_a ≤ Z_b``; a triplet ``(Z_i, Z_j, Z_k)`` with
``Z_j ≤ Z_k``. Triplets of like neighbours (``Z_j = Z_k``) are listed in both orders, so a
triplet term summed over the list is symmetric under ``j ↔ k``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms
from ase.neighborlist import neighbor_list

from alforge.errors import ModelInputError
from alforge.models.common.frames import check_finite

__all__ = ["LocalEnvironments", "cosine_cutoff"]


def cosine_cutoff(r_A: torch.Tensor, cutoff_A: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``f_c(r) = ½(cos(π r / r_c) + 1)`` for ``r < r_c`` (else 0) and its derivative ``df_c/dr``."""
    inside = r_A < cutoff_A
    x = torch.pi * r_A / cutoff_A
    value = torch.where(inside, 0.5 * (torch.cos(x) + 1.0), torch.zeros_like(r_A))
    slope = torch.where(inside, -0.5 * torch.pi / cutoff_A * torch.sin(x), torch.zeros_like(r_A))
    return value, slope


@dataclass(frozen=True)
class LocalEnvironments:
    """Pairs and triplets of a batch of structures (all index arrays global over the batch).

    Attributes
    ----------
    n_structures
        Structures in the batch.
    atoms_per_structure
        Atom counts, shape ``(n,)``.
    numbers
        Atomic numbers of all atoms, shape ``(A,)``.
    atom_structure
        Structure of each atom, shape ``(A,)``.
    pair_i, pair_j
        Ordered pairs (both ``(i, j)`` and ``(j, i)`` are listed), shape ``(P,)``.
    pair_vec_A
        ``x_j - x_i`` (periodic image included), shape ``(P, 3)``.
    pair_key
        Index into :attr:`pair_keys`, shape ``(P,)``.
    pair_keys
        Element pairs present, each ``(Z_a, Z_b)`` with ``Z_a ≤ Z_b``.
    trip_ij, trip_ik
        Pair indices of the two legs of each triplet (centre ``i``), shape ``(T,)``.
    trip_key
        Index into :attr:`triplet_keys`, shape ``(T,)``.
    triplet_keys
        Element triplets present, ``(Z_i, Z_j, Z_k)`` with ``Z_j ≤ Z_k``.
    """

    n_structures: int
    atoms_per_structure: np.ndarray
    numbers: np.ndarray
    atom_structure: np.ndarray
    pair_i: np.ndarray
    pair_j: np.ndarray
    pair_vec_A: np.ndarray
    pair_key: np.ndarray
    pair_keys: tuple[tuple[int, int], ...]
    trip_ij: np.ndarray
    trip_ik: np.ndarray
    trip_key: np.ndarray
    triplet_keys: tuple[tuple[int, int, int], ...]

    @property
    def n_atoms(self) -> int:
        """Atoms in the whole batch."""
        return len(self.numbers)

    @property
    def pair_structure(self) -> np.ndarray:
        """Structure of each pair, shape ``(P,)``."""
        return self.atom_structure[self.pair_i]

    @property
    def trip_structure(self) -> np.ndarray:
        """Structure of each triplet, shape ``(T,)``."""
        return self.atom_structure[self.pair_i[self.trip_ij]]

    @classmethod
    def build(cls, frames: Sequence[Atoms], pair_cutoff_A: float, triplet_cutoff_A: float | None) -> LocalEnvironments:
        """Neighbour pairs within ``pair_cutoff_A`` and triplets within ``triplet_cutoff_A``.

        Parameters
        ----------
        frames
            Structures of any size; periodic cells are honoured (``atoms.pbc``, ``atoms.cell``).
        pair_cutoff_A
            Two-body cutoff in Å.
        triplet_cutoff_A
            Three-body cutoff in Å (at most ``pair_cutoff_A``), or ``None`` for no triplets.

        Raises
        ------
        ModelInputError
            No frames, a non-Atoms item, or non-finite coordinates.
        """
        if len(frames) == 0:
            msg = "no structures given; pass at least one frame"
            raise ModelInputError(msg)
        cutoff = max(pair_cutoff_A, triplet_cutoff_A or 0.0)
        counts, numbers, owner = [], [], []
        pi, pj, vec = [], [], []
        offset = 0
        for s, atoms in enumerate(frames):
            if not isinstance(atoms, Atoms):
                msg = f"frame {s} is a {type(atoms).__name__}, not ase.Atoms; pass a list of ase.Atoms"
                raise ModelInputError(msg)
            check_finite(atoms.get_positions(), s)
            i, j, d = neighbor_list("ijD", atoms, cutoff)
            pi.append(i + offset)
            pj.append(j + offset)
            vec.append(d)
            counts.append(len(atoms))
            numbers.append(atoms.numbers)
            owner.append(np.full(len(atoms), s))
            offset += len(atoms)
        numbers_all = np.concatenate(numbers).astype(np.int64)
        pair_i = np.concatenate(pi).astype(np.int64)
        pair_j = np.concatenate(pj).astype(np.int64)
        pair_vec = np.concatenate(vec).reshape(-1, 3)
        r = np.linalg.norm(pair_vec, axis=1)
        trip_ij, trip_ik = _triplets(pair_i, pair_j, r, numbers_all, triplet_cutoff_A)
        keep = r < pair_cutoff_A
        # pairs beyond the two-body cutoff stay (triplet legs point at them) but get no pair key use
        za, zb = numbers_all[pair_i], numbers_all[pair_j]
        pair_tuples = np.stack([np.minimum(za, zb), np.maximum(za, zb)], axis=1)
        pair_keys, pair_key = _keys(pair_tuples[keep])
        full_key = np.full(len(pair_i), -1, dtype=np.int64)
        full_key[keep] = pair_key
        trip_tuples = np.stack([za[trip_ij], zb[trip_ij], zb[trip_ik]], axis=1)
        triplet_keys, trip_key = _keys(trip_tuples)
        return cls(
            n_structures=len(frames),
            atoms_per_structure=np.asarray(counts, dtype=np.int64),
            numbers=numbers_all,
            atom_structure=np.concatenate(owner).astype(np.int64),
            pair_i=pair_i,
            pair_j=pair_j,
            pair_vec_A=pair_vec,
            pair_key=full_key,
            pair_keys=tuple(tuple(int(z) for z in k) for k in pair_keys),  # type: ignore[misc]
            trip_ij=trip_ij,
            trip_ik=trip_ik,
            trip_key=trip_key,
            triplet_keys=tuple(tuple(int(z) for z in k) for k in triplet_keys),  # type: ignore[misc]
        )


def _keys(tuples: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    if len(tuples) == 0:
        return [], np.zeros(0, dtype=np.int64)
    unique, inverse = np.unique(tuples, axis=0, return_inverse=True)
    return [tuple(row) for row in unique.tolist()], inverse.reshape(-1).astype(np.int64)


def _triplets(
    pair_i: np.ndarray, pair_j: np.ndarray, r: np.ndarray, numbers: np.ndarray, cutoff_A: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """Ordered leg pairs ``(ij, ik)``, ``j ≠ k`` neighbours of ``i`` within the cutoff, ``Z_j ≤ Z_k``."""
    if cutoff_A is None or len(pair_i) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    legs = np.flatnonzero(r < cutoff_A)
    order = np.argsort(pair_i[legs], kind="stable")
    legs = legs[order]
    centres = pair_i[legs]
    starts = np.flatnonzero(np.r_[True, centres[1:] != centres[:-1]])
    sizes = np.diff(np.r_[starts, len(legs)])
    out_ij, out_ik = [], []
    for size in np.unique(sizes):
        if size < 2:
            continue
        a, b = np.nonzero(~np.eye(size, dtype=bool))
        groups = starts[sizes == size]
        out_ij.append(legs[(groups[:, None] + a[None, :]).reshape(-1)])
        out_ik.append(legs[(groups[:, None] + b[None, :]).reshape(-1)])
    if not out_ij:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    ij, ik = np.concatenate(out_ij), np.concatenate(out_ik)
    keep = numbers[pair_j[ij]] <= numbers[pair_j[ik]]
    return ij[keep].astype(np.int64), ik[keep].astype(np.int64)
