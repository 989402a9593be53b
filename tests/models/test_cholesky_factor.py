"""In-place Cholesky factor and its solves."""

from __future__ import annotations

import torch

from alforge.models.gdml.cholesky_factor import CholeskyFactor


def spd(size: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator, dtype=torch.float64)
    return a @ a.mT + size * torch.eye(size, dtype=torch.float64)


def test_solves_match_dense_algebra():
    matrix = spd(50)
    chol = CholeskyFactor.factorize(matrix)
    rhs = torch.randn(50, 3, dtype=torch.float64)
    lower = torch.linalg.cholesky(matrix)
    torch.testing.assert_close(chol.lower, lower)
    torch.testing.assert_close(chol.solve(rhs), torch.linalg.solve(matrix, rhs))
    torch.testing.assert_close(chol.solve_lower(rhs), torch.linalg.solve_triangular(lower, rhs, upper=False))
    torch.testing.assert_close(chol.solve_upper(rhs), torch.linalg.solve_triangular(lower.mT, rhs, upper=True))
    torch.testing.assert_close(chol.logdet(), torch.logdet(matrix))


def test_overwrite_reuses_memory_and_failure_returns_none():
    matrix = spd(20)
    chol = CholeskyFactor.factorize(matrix, overwrite=True)
    assert chol.lower.data_ptr() == matrix.data_ptr()
    assert CholeskyFactor.factorize(-spd(5)) is None
