"""Bayesian linear regression in the local GP's whitened inducing weights.

With the energy linear in ``M`` whitened weights ``w ~ N(0, I)`` (design rows ``Φ`` from
:meth:`~alforge.models.local.kernel.LocalKernel.design`, plus one column per element for its
energy offset), training is regression with noise ``Λ``: precision ``A = ΦᵀΛ⁻¹Φ + I``, mean
``A⁻¹ΦᵀΛ⁻¹y``, and a closed-form marginal likelihood. Blocks of structures add up, so the cost
is linear in the number of training structures.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from ase import Atoms

from alforge.errors import FitError, ModelInputError
from alforge.models.local.descriptors import LocalEnvironments
from alforge.models.local.kernel import LocalInducing, LocalKernel

__all__ = [
    "LOG_2PI",
    "WeightSolution",
    "design_rows",
    "element_offsets",
    "log_marginal_likelihood",
    "normal_equations",
    "row_variance",
    "solve_weights",
]

LOG_2PI = math.log(2 * math.pi)


def design_rows(
    kernel: LocalKernel, env: LocalEnvironments, inducing: LocalInducing, species: list[int], offset_prior_eV: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Design rows with one extra column per element: its energy offset, prior std ``offset_prior_eV``.

    Learning the per-element energies jointly with the pair/triplet terms matters: a per-atom
    constant is not a sum of cutoff-switched pair terms, so fixing it beforehand leaves a
    residual that no local term can fit.
    """
    energy_rows, force_rows = kernel.design(env, inducing)
    counts = np.stack(
        [np.bincount(env.atom_structure[env.numbers == z], minlength=env.n_structures) for z in species], axis=1
    )
    offsets = offset_prior_eV * torch.as_tensor(counts, dtype=energy_rows.dtype, device=energy_rows.device)
    energy_rows = torch.cat([energy_rows, offsets], dim=1)
    force_rows = torch.cat([force_rows, force_rows.new_zeros(*force_rows.shape[:2], len(species))], dim=2)
    return energy_rows, force_rows


def normal_equations(
    kernel: LocalKernel,
    env: LocalEnvironments,
    inducing: LocalInducing,
    targets: tuple[torch.Tensor, torch.Tensor],
    *,
    species: list[int],
    offset_prior_eV: float,
    add_prior: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Precision ``ΦᵀΛ⁻¹Φ (+ I)``, ``ΦᵀΛ⁻¹y``, ``yᵀΛ⁻¹y``, ``Σ log λ`` and row count of one block.

    Blocks of structures add up; the prior's identity is added by one block only (``add_prior``).
    """
    energy_rows, force_rows = design_rows(kernel, env, inducing, species, offset_prior_eV)
    force_rows = force_rows.reshape(-1, force_rows.shape[-1])
    energy_y, force_y = targets
    counts = torch.as_tensor(env.atoms_per_structure, dtype=energy_rows.dtype, device=energy_rows.device)
    energy_noise = kernel.energy_noise_var_eV2 * counts
    force_noise = kernel.force_noise_var_eV2_per_A2.expand(force_rows.shape[0])
    precision = energy_rows.T @ (energy_rows / energy_noise[:, None]) + force_rows.T @ (
        force_rows / force_noise[:, None]
    )
    force_y = force_y.reshape(-1)
    rhs = energy_rows.T @ (energy_y / energy_noise) + force_rows.T @ (force_y / force_noise)
    y_norm = (energy_y**2 / energy_noise).sum() + (force_y**2 / force_noise).sum()
    log_noise = energy_noise.log().sum() + force_noise.log().sum()
    n_rows = torch.tensor(float(len(energy_y) + len(force_y)), dtype=energy_rows.dtype)
    if add_prior:
        precision = precision + torch.eye(precision.shape[0], dtype=precision.dtype, device=precision.device)
    return precision, rhs, y_norm, log_noise, n_rows


def log_marginal_likelihood(
    kernel: LocalKernel,
    env: LocalEnvironments,
    inducing: LocalInducing,
    targets: tuple[torch.Tensor, torch.Tensor],
    species: list[int],
    offset_prior_eV: float,
) -> torch.Tensor:
    """Log marginal likelihood (nats) of one block of structures, differentiable in the kernel's parameters."""
    precision, rhs, y_norm, log_noise, n_rows = normal_equations(
        kernel, env, inducing, targets, species=species, offset_prior_eV=offset_prior_eV, add_prior=True
    )
    factor = torch.linalg.cholesky(precision)
    alpha = torch.cholesky_solve(rhs[:, None], factor)[:, 0]
    return -0.5 * (y_norm - rhs @ alpha + 2 * factor.diagonal().log().sum() + log_noise + n_rows * LOG_2PI)


def row_variance(rows: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``diag(Φ A⁻¹ Φᵀ)`` with ``A = L Lᵀ``, shape ``(R,)``."""
    if rows.shape[0] == 0:
        return rows.new_zeros(0)
    solved = torch.linalg.solve_triangular(factor, rows.T, upper=False)
    return (solved**2).sum(0)


def element_offsets(frames: Sequence[Atoms], energies: np.ndarray, species: list[int]) -> dict[int, float]:
    """Per-element energies ``μ_Z`` (eV) by least squares ``E ≈ Σ_Z n_Z μ_Z`` (minimum norm)."""
    counts = np.array([[np.count_nonzero(f.numbers == z) for z in species] for f in frames], dtype=float)
    mu = np.linalg.lstsq(counts, energies, rcond=None)[0]
    return {z: float(m) for z, m in zip(species, mu, strict=True)}


@dataclass(frozen=True)
class WeightSolution:
    """Posterior of the weights: mean, Cholesky factor of the precision, log marginal likelihood (nats)."""

    weights: torch.Tensor
    factor: torch.Tensor
    log_marginal_likelihood: float
    n_rows: int


def solve_weights(
    kernel: LocalKernel,
    blocks: Iterable[tuple[LocalEnvironments, tuple[torch.Tensor, torch.Tensor]]],
    inducing: LocalInducing,
    species: list[int],
    offset_prior_eV: float,
) -> WeightSolution:
    """Accumulate the normal equations over blocks of structures ``(environments, targets)`` and solve.

    Raises
    ------
    FitError
        The precision matrix is not positive definite.
    """
    totals: tuple[torch.Tensor, ...] | None = None
    for b, (env, targets) in enumerate(blocks):
        with torch.no_grad():
            part = normal_equations(
                kernel, env, inducing, targets, species=species, offset_prior_eV=offset_prior_eV, add_prior=b == 0
            )
        totals = part if totals is None else tuple(a + c for a, c in zip(totals, part, strict=True))
    if totals is None:
        msg = "no training structures; give at least one labelled frame"
        raise ModelInputError(msg)
    precision, rhs, y_norm, log_noise, n_rows = totals
    try:
        factor = torch.linalg.cholesky(precision)
    except torch.linalg.LinAlgError as exc:
        msg = f"the weight precision matrix is not positive definite ({exc}); raise the noise bounds"
        raise FitError(msg) from exc
    weights = torch.cholesky_solve(rhs[:, None], factor)[:, 0]
    log_ml = -0.5 * float(y_norm - rhs @ weights + 2 * factor.diagonal().log().sum() + log_noise + n_rows * LOG_2PI)
    return WeightSolution(weights, factor, log_ml, int(n_rows))
