"""Inverse interatomic distances: a translation- and rotation-invariant molecular descriptor.

For a molecule of ``N`` atoms the descriptor has one entry per atom pair ``p = (i, j)`` with
``i > j`` (lower triangle, row by row, as sGDML orders it):

.. math:: x_p = 1 / \\lVert \\mathbf r_i - \\mathbf r_j \\rVert \\quad [\\text{Å}^{-1}]

Its Jacobian with respect to the Cartesian positions is sparse: row ``p`` holds
``-(r_i - r_j) / |r_i - r_j|^3`` in the three columns of atom ``i`` and the opposite vector in
those of atom ``j``.

Example
-------
>>> import torch
>>> descriptor = InverseDistance(3)
>>> positions = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]])
>>> descriptor(positions)
tensor([[1.0000, 0.5000, 0.4472]])
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["InverseDistance"]


class InverseDistance:
    """Inverse interatomic distances of a molecule with a fixed number of atoms.

    Parameters
    ----------
    n_atoms
        Number of atoms ``N`` (at least 2).
    """

    def __init__(self, n_atoms: int) -> None:
        if n_atoms < 2:
            msg = f"an inverse-distance descriptor needs at least 2 atoms, got {n_atoms}; use a molecule"
            raise ValueError(msg)
        self.n_atoms = n_atoms
        rows, cols = np.tril_indices(n_atoms, k=-1)
        self._pair_i = torch.as_tensor(rows, dtype=torch.long)
        self._pair_j = torch.as_tensor(cols, dtype=torch.long)
        index = np.full((n_atoms, n_atoms), -1, dtype=np.int64)
        index[rows, cols] = np.arange(rows.size)
        index[cols, rows] = np.arange(rows.size)
        self._pair_index = index
        incidence = np.zeros((rows.size, n_atoms))
        incidence[np.arange(rows.size), rows] = 1.0
        incidence[np.arange(rows.size), cols] = -1.0
        self._incidence = torch.as_tensor(incidence)

    @property
    def dim(self) -> int:
        """Descriptor length ``d = N (N - 1) / 2``."""
        return self.n_atoms * (self.n_atoms - 1) // 2

    def __call__(self, positions_A: Tensor) -> Tensor:
        """Descriptor of structures.

        Parameters
        ----------
        positions_A
            Cartesian positions in Å, shape ``(..., N, 3)``.

        Returns
        -------
        Tensor
            Inverse distances in 1/Å, shape ``(..., d)``.
        """
        diff = positions_A[..., self._pair_i, :] - positions_A[..., self._pair_j, :]
        return diff.pow(2).sum(-1).rsqrt()

    def with_jacobian(self, positions_A: Tensor) -> tuple[Tensor, Tensor]:
        """Descriptor and its dense Jacobian.

        Parameters
        ----------
        positions_A
            Cartesian positions in Å, shape ``(..., N, 3)``.

        Returns
        -------
        x : Tensor
            Inverse distances in 1/Å, shape ``(..., d)``.
        jacobian : Tensor
            ``∂x_p / ∂R_k`` in 1/Å², shape ``(..., d, 3N)``; column ``k = 3 a + c`` is atom ``a``,
            Cartesian component ``c``.
        """
        diff = positions_A[..., self._pair_i, :] - positions_A[..., self._pair_j, :]
        x = diff.pow(2).sum(-1).rsqrt()
        pair_gradient = -diff * x.pow(3).unsqueeze(-1)
        incidence = self._incidence.to(device=positions_A.device, dtype=positions_A.dtype)
        jacobian = incidence.unsqueeze(-1) * pair_gradient.unsqueeze(-2)
        return x, jacobian.reshape(*x.shape, 3 * self.n_atoms)

    def permutation(self, atom_permutation: np.ndarray) -> np.ndarray:
        """Descriptor index permutation induced by an atom permutation.

        Parameters
        ----------
        atom_permutation
            Integer array ``π`` of shape ``(N,)``; the permuted structure is ``R[π]``.

        Returns
        -------
        numpy.ndarray
            Integer array ``σ`` of shape ``(d,)`` with ``x(R[π]) = x(R)[σ]``.
        """
        perm = np.asarray(atom_permutation, dtype=np.int64)
        rows, cols = np.tril_indices(self.n_atoms, k=-1)
        return self._pair_index[perm[rows], perm[cols]]
