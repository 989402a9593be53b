"""Solving the gradient-domain GP once its hyperparameters are fixed: exact or sparse.

- **exact**: the full ``M × M`` joint kernel matrix (``M = n (1 + 3N)``) is built in blocks and
  factorised in place (:class:`~alforge.models.gdml.cholesky_factor.CholeskyFactor`); the weights are
  ``K⁻¹ y``. The variance factor ``R`` (``R Rᵀ ≈ K⁻¹``) is ``L⁻ᵀ`` when small enough, otherwise a
  rank-``r`` factor ``L⁻ᵀ U_r`` where ``U_r`` spans the dominant left singular vectors of
  ``L⁻¹ K_f`` (the whitened cross-covariances of the training points themselves), found by a
  randomised range finder that needs only ``L``. Dropping the other directions can only
  *over*-estimate variances.
- **sparse**: DTC with inducing structures (all of their energy and force outputs) chosen by
  farthest-point sampling; memory ``O(m M)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil
import torch
from gpytorch.kernels import ScaleKernel
from torch import Tensor

from alforge.errors import FitError
from alforge.models.common.farthest_point import farthest_point_indices
from alforge.models.gdml.cholesky_factor import CholeskyFactor

__all__ = ["SOLVERS", "GPSolution", "choose_solver", "kernel_matrix", "solve", "solve_exact", "solve_sparse"]

_BLOCK_ELEMENTS = 25_000_000
SOLVERS = ("auto", "exact", "sparse")
# An exact variance costs ~M² per prediction: at 1400 rows (50 ethanol structures) MD with
# uncertainty ran at 154 steps/s against 318 with rank 64 + local (Spearman 0.525 vs 0.549).
_EXACT_VARIANCE_MAX_ROWS = 1000
_DEFAULT_VARIANCE_RANK = 64
_SPARSE_INDUCING_ROWS = 6000  # default inducing structures keep the inducing kernel at most this many rows


@dataclass
class GPSolution:
    """Weights and variance factor of a solved GP.

    Attributes
    ----------
    centre_indices
        Training structures the weights refer to, shape ``(n_c,)``.
    weights
        ``K⁻¹ y`` on the centres' outputs, shape ``(n_c (1 + 3N),)``.
    factor
        ``R`` with ``R Rᵀ ≈ K⁻¹``, shape ``(n_c (1 + 3N), r)``.
    local_basis
        ``L U`` for a low-rank ``R = L⁻ᵀ U`` (enables the posterior's local correction), else ``None``.
    variance
        ``"exact"`` or ``"low-rank(r)"``.
    log_marginal_likelihood
        Of all training outputs, in nats.
    jitter
        Largest diagonal jitter relative to the kernel diagonal that had to be added (0 if none).
    notes
        Remarks for the fit report.
    """

    centre_indices: Tensor
    weights: Tensor
    factor: Tensor
    local_basis: Tensor | None
    variance: str
    log_marginal_likelihood: float
    jitter: float = 0.0
    notes: list[str] = field(default_factory=list)


def kernel_matrix(
    covar_module: ScaleKernel, x1: Tensor, x2: Tensor | None = None, out: Tensor | None = None
) -> Tensor:
    """Joint kernel matrix built in blocks of structures, without autograd.

    Parameters
    ----------
    covar_module
        Scaled :class:`~alforge.models.gdml.gdml_kernel.GDMLKernel`.
    x1, x2
        Flattened positions in Å, shapes ``(n1, 3N)``, ``(n2, 3N)``; ``x2`` defaults to ``x1``.
    out
        Preallocated result of shape ``(n1 (1 + 3N), n2 (1 + 3N))``.
    """
    x2 = x1 if x2 is None else x2
    n_out = 1 + x1.shape[-1]
    d = covar_module.base_kernel.descriptor.dim
    n_sym = covar_module.base_kernel.n_symmetries
    per_row = x2.shape[0] * max(d * (n_out - 1), n_sym * d)
    block = max(1, _BLOCK_ELEMENTS // per_row)
    if out is None:
        out = torch.empty(x1.shape[0] * n_out, x2.shape[0] * n_out, dtype=x1.dtype, device=x1.device)
    with torch.no_grad():
        for start in range(0, x1.shape[0], block):
            stop = min(start + block, x1.shape[0])
            out[start * n_out : stop * n_out] = covar_module.forward(x1[start:stop], x2)
    return out


def _factorize_with_jitter(
    build: Callable[[], Tensor], noise_diag: Tensor
) -> tuple[CholeskyFactor, Tensor, float]:
    """Factorise ``build() + diag(noise)``; on failure redo it with a jitter relative to the diagonal.

    Returns the factor, the diagonal added on top of ``noise_diag`` and its relative size.
    """
    jitter = torch.zeros_like(noise_diag)
    relative = 0.0
    for attempt in range(4):
        matrix = build()
        if attempt:
            relative = 1e-10 * 100.0**attempt
            jitter = matrix.diagonal() * relative
        matrix.diagonal().add_(noise_diag + jitter)
        chol = CholeskyFactor.factorize(matrix, overwrite=True)
        if chol is not None:
            return chol, jitter, relative
        del matrix
    msg = (
        "the kernel matrix is not positive definite even with a relative jitter of 1e-4; remove "
        "duplicate structures or raise the noise lower bounds (min_force_noise_eV_per_A)"
    )
    raise FitError(msg)


def _low_rank_factor(chol: CholeskyFactor, noise_diag: Tensor, rank: int, seed: int) -> tuple[Tensor, Tensor]:
    """``(L⁻ᵀ U_r, L U_r)`` with ``U_r`` the top-``rank`` left singular vectors of ``A = L⁻¹ K_f``."""
    size = chol.size
    q = min(size, rank + 16)
    lower = chol.lower
    noise = noise_diag.unsqueeze(-1)

    def apply_a(v: Tensor) -> Tensor:
        return lower.mT @ v - chol.solve_lower(noise * v)

    def apply_at(v: Tensor) -> Tensor:
        return lower @ v - noise * chol.solve_upper(v)

    generator = torch.Generator(device="cpu").manual_seed(seed)
    omega = torch.randn(size, q, generator=generator, dtype=lower.dtype).to(lower.device)
    basis = torch.linalg.qr(apply_a(omega)).Q
    n_power = 2 if size <= 12_000 else 1
    for _ in range(n_power):
        basis = torch.linalg.qr(apply_at(basis)).Q
        basis = torch.linalg.qr(apply_a(basis)).Q
    left, _, _ = torch.linalg.svd(apply_at(basis).mT, full_matrices=False)
    directions = (basis @ left[:, :rank]).contiguous()
    return chol.solve_upper(directions).contiguous(), (lower @ directions).contiguous()


def solve_exact(
    covar_module: ScaleKernel,
    noise_diag: Tensor,
    x: Tensor,
    y: Tensor,
    *,
    variance_rank: int | None,
    seed: int = 0,
) -> GPSolution:
    """Exact GP solve on all structures.

    Parameters
    ----------
    covar_module
        Scaled kernel with fitted hyperparameters.
    noise_diag
        Noise variances per output, shape ``(M,)``.
    x
        Flattened positions in Å, shape ``(n, 3N)``.
    y
        Targets (energies minus the prior mean, energy gradients), shape ``(M,)``.
    variance_rank
        Rank of the variance factor; ``None`` or ``≥ M`` gives the exact ``L⁻ᵀ``.
    seed
        Seed of the randomised range finder.
    """
    size = y.shape[0]
    chol, jitter, relative = _factorize_with_jitter(lambda: kernel_matrix(covar_module, x), noise_diag)
    weights = chol.solve(y.unsqueeze(-1)).squeeze(-1)
    logml = -0.5 * (float(y @ weights) + float(chol.logdet()) + size * math.log(2 * math.pi))
    local_basis = None
    if variance_rank is None or variance_rank >= size:
        eye = torch.eye(size, dtype=y.dtype, device=y.device)
        factor = chol.solve_upper(eye).contiguous()
        variance = "exact"
    else:
        factor, local_basis = _low_rank_factor(chol, noise_diag + jitter, variance_rank, seed)
        variance = f"low-rank({variance_rank}) + local"
    notes = [f"added a relative jitter of {relative:.0e} to the kernel diagonal"] if relative else []
    centres = torch.arange(x.shape[0], device=x.device)
    return GPSolution(centres, weights, factor, local_basis, variance, logml, relative, notes)


def solve_sparse(
    covar_module: ScaleKernel,
    noise_diag: Tensor,
    x: Tensor,
    y: Tensor,
    inducing: Tensor,
    *,
    variance_rank: int | None,
) -> GPSolution:
    """DTC sparse GP with inducing structures.

    Parameters
    ----------
    covar_module, noise_diag, x, y
        As for :func:`solve_exact`.
    inducing
        Indices of the inducing structures, shape ``(n_u,)``.
    variance_rank
        Keep at most this many directions of the variance factor (``None``: all).
    """
    n_out = 1 + x.shape[-1]
    rows = (inducing[:, None] * n_out + torch.arange(n_out, device=x.device)).reshape(-1)
    k_uf = kernel_matrix(covar_module, x[inducing], x)
    noise_u = noise_diag[rows]

    k_uu = k_uf[:, rows].clone()
    chol_u, _, relative = _factorize_with_jitter(k_uu.clone, noise_u)
    del k_uu
    whitened = chol_u.solve_lower(k_uf)
    del k_uf
    scaled = whitened / noise_diag
    inner = scaled @ whitened.mT
    inner.diagonal().add_(1.0)
    eigenvalues, eigenvectors = torch.linalg.eigh(inner)
    if float(eigenvalues.min()) <= 0.0:
        msg = "the sparse GP's inner matrix is not positive definite; use fewer inducing structures"
        raise FitError(msg)
    projected = scaled @ y
    coefficients = eigenvectors @ ((eigenvectors.mT @ projected) / eigenvalues)
    weights = chol_u.solve_upper(coefficients.unsqueeze(-1)).squeeze(-1)
    quad = float((y * y / noise_diag).sum()) - float(projected @ coefficients)
    logdet = float(eigenvalues.log().sum()) + float(noise_diag.log().sum())
    logml = -0.5 * (quad + logdet + y.shape[0] * math.log(2 * math.pi))
    keep = 1.0 - 1.0 / eigenvalues
    order = torch.argsort(keep, descending=True)
    if variance_rank is not None:
        order = order[:variance_rank]
    factor = chol_u.solve_upper((eigenvectors[:, order] * keep[order].clamp_min(0.0).sqrt()).contiguous())
    variance = "exact" if variance_rank is None or variance_rank >= rows.shape[0] else f"low-rank({variance_rank})"
    notes = [f"sparse GP on {inducing.shape[0]} inducing structures (farthest-point sampled)"]
    if relative:
        notes.append(f"added a relative jitter of {relative:.0e} to the inducing kernel diagonal")
    return GPSolution(inducing, weights, factor, None, variance, logml, relative, notes)


def choose_solver(solver: str, n_rows: int, dtype: torch.dtype, device: torch.device) -> str:
    """``solver``, or for ``"auto"``: ``"exact"`` if the ``n_rows²`` kernel matrix fits in half the free memory."""
    if solver != "auto":
        return solver
    itemsize = torch.finfo(dtype).bits // 8
    free = torch.cuda.mem_get_info(device)[0] / 2 if device.type == "cuda" else psutil.virtual_memory().available
    return "exact" if n_rows * n_rows * itemsize <= 0.5 * free else "sparse"


def _variance_rank(option: int | str | None, rows: int) -> int | None:
    """Rank of the variance factor for the ``variance_rank`` option (``"auto"``: exact up to 1000 rows, else 64)."""
    if option is None:
        return None
    if option == "auto":
        return None if rows <= _EXACT_VARIANCE_MAX_ROWS else _DEFAULT_VARIANCE_RANK
    return int(option)


def solve(
    covar_module: ScaleKernel,
    noise_diag: Tensor,
    x: Tensor,
    y: Tensor,
    *,
    solver: str,
    n_inducing: int | None,
    variance_rank: int | str | None,
    seed: int,
) -> GPSolution:
    """:func:`solve_exact` or :func:`solve_sparse` (``solver``), the latter on farthest-point inducing structures.

    ``n_inducing`` defaults to as many structures as keep the inducing kernel at ≤ 6000 rows;
    ``variance_rank`` is the GP's option (``"auto"``, an integer or ``None``).
    """
    n_structures, n_outputs = x.shape[0], 1 + x.shape[1]
    if solver == "exact":
        rank = _variance_rank(variance_rank, n_structures * n_outputs)
        return solve_exact(covar_module, noise_diag, x, y, variance_rank=rank, seed=seed)
    n_inducing = min(n_inducing or max(1, _SPARSE_INDUCING_ROWS // n_outputs), n_structures)
    base = covar_module.base_kernel
    descriptors = base.descriptor(x.reshape(n_structures, base.n_atoms, 3))
    picked = farthest_point_indices(descriptors, n_inducing, permutations=base.descriptor_permutations)
    inducing = torch.as_tensor(picked, device=x.device)
    rank = _variance_rank(variance_rank, n_inducing * n_outputs)
    return solve_sparse(covar_module, noise_diag, x, y, inducing, variance_rank=rank)
