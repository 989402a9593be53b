"""Cholesky factor of a symmetric positive-definite kernel matrix, in place where possible.

The factor overwrites the matrix (:func:`torch.linalg.cholesky_ex` with ``out=``, which needs
one temporary copy). When that copy would not fit in memory, the CPU path runs LAPACK ``potrf``
from SciPy directly on the matrix's memory instead (about half as fast, no copy), so a
kernel matrix of ``M`` rows costs ``8 M²`` bytes once (28 000 rows: 6.3 GB).
"""

from __future__ import annotations

import psutil
import torch
from scipy.linalg import lapack
from torch import Tensor

__all__ = ["CholeskyFactor"]


class CholeskyFactor:
    """Lower-triangular ``L`` with ``K = L Lᵀ``.

    Build it with :meth:`factorize`; the instance answers solves with ``K``, ``L`` and ``Lᵀ``.

    Parameters
    ----------
    lower
        The factor ``L``, shape ``(M, M)``, zero above the diagonal.
    """

    def __init__(self, lower: Tensor) -> None:
        self.lower = lower

    @classmethod
    def factorize(cls, matrix: Tensor, *, overwrite: bool = False) -> CholeskyFactor | None:
        """Factorise ``matrix``; ``None`` if it is not numerically positive definite.

        Parameters
        ----------
        matrix
            Symmetric matrix, shape ``(M, M)``.
        overwrite
            Allow the factor to reuse ``matrix``'s memory (its content is then lost, also on
            failure).
        """
        work = matrix if overwrite else matrix.clone()
        copy_bytes = work.numel() * work.element_size()
        cpu = work.device.type == "cpu" and work.dtype in (torch.float32, torch.float64)
        if cpu and copy_bytes > 0.5 * psutil.virtual_memory().available and work.is_contiguous():
            array = work.numpy()
            (potrf,) = lapack.get_lapack_funcs(("potrf",), (array.T,))
            _, info = potrf(array.T, lower=0, clean=1, overwrite_a=1)
            return cls(work) if info == 0 else None
        info = torch.empty((), dtype=torch.int32, device=work.device)
        torch.linalg.cholesky_ex(work, out=(work, info))
        if int(info) != 0:
            return None
        return cls(work)

    @property
    def size(self) -> int:
        """Number of rows ``M``."""
        return int(self.lower.shape[0])

    def logdet(self) -> Tensor:
        """``log det K``."""
        return 2.0 * self.lower.diagonal().log().sum()

    def _triangular(self, rhs: Tensor, *, transpose: bool) -> Tensor:
        if transpose:
            return torch.linalg.solve_triangular(self.lower.mT, rhs, upper=True)
        return torch.linalg.solve_triangular(self.lower, rhs, upper=False)

    def solve_lower(self, rhs: Tensor) -> Tensor:
        """``L⁻¹ rhs`` for ``rhs`` of shape ``(M,)`` or ``(M, k)``."""
        return self._triangular(rhs, transpose=False)

    def solve_upper(self, rhs: Tensor) -> Tensor:
        """``L⁻ᵀ rhs`` for ``rhs`` of shape ``(M,)`` or ``(M, k)``."""
        return self._triangular(rhs, transpose=True)

    def solve(self, rhs: Tensor) -> Tensor:
        """``K⁻¹ rhs`` for ``rhs`` of shape ``(M,)`` or ``(M, k)``."""
        return self.solve_upper(self.solve_lower(rhs))
