"""Errors and variances of a fitted GP on held-out structures, for its calibration factor ``α``.

The posterior standard deviations are multiplied by ``α``, fitted on held-out structures as the
committee's is on its out-of-bag ones: the posterior of the held-out structures given the other
training structures (same hyperparameters), and ``α² = mean(error²) / mean(σ²)`` over the
held-out force components (:func:`~alforge.models.common.calibration.calibration_factor`). With an
exact variance factor that posterior comes from the held-out block of ``K⁻¹`` (no second solve);
with a low-rank one a GP is solved again without them, so that ``α`` calibrates the variance the
model reports. Marginal-likelihood GPs of smooth molecular surfaces tend to put nearly all errors
within 1σ (ethanol, 200 structures: 99.9 %), which makes an uncertainty threshold tied to a
target error trip far too early.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from alforge.models.gdml.gdml_posterior import GDMLPosterior
from alforge.models.gdml.gp_solvers import GPSolution
from alforge.models.gdml.gradient_noise import GradientNoise

__all__ = ["held_out_errors"]

_MIN_HELD_OUT = 2  # structures; fewer and the calibration is skipped (α = 1)
_MAX_HELD_OUT = 50
_CALIBRATION_POOL = 250  # structures the calibration GP is drawn from (bounds its cost)


def held_out_errors(
    positions_A: np.ndarray,
    forces_eV_per_A: np.ndarray,
    solution: GPSolution,
    noise: GradientNoise,
    n_outputs: int,
    seed: int,
    refit: Callable[[np.ndarray], GDMLPosterior],
) -> tuple[float, float, str] | str:
    """Mean squared force error, mean predicted force variance and their source; or why there are none.

    Parameters
    ----------
    positions_A, forces_eV_per_A
        Training structures and their reference forces, shapes ``(n, N, 3)``.
    solution
        The GP solved on all of them.
    noise
        Its noise module.
    n_outputs
        ``1 + 3N``.
    seed
        Seed of the held-out draw (a fifth of at most 250 structures, at most 50, at least 2).
    refit
        Posterior of a GP with the same hyperparameters on the given kept structures' indices
        (used when ``solution`` has no exact variance factor).
    """
    n_structures = positions_A.shape[0]
    pool = np.random.default_rng(seed).permutation(n_structures)[:_CALIBRATION_POOL]
    n_held = min(pool.size // 5, _MAX_HELD_OUT)
    if n_held < _MIN_HELD_OUT:
        return f"calibration skipped: {n_structures} structures are too few to hold any out (α = 1)"
    held, kept = np.sort(pool[:n_held]), np.sort(pool[n_held:])
    size = n_structures * n_outputs
    if solution.variance == "exact" and solution.factor.shape[0] == solution.factor.shape[1] == size:
        return _errors_from_blocks(solution, noise, held, n_outputs)
    posterior = refit(kept)
    positions = torch.as_tensor(positions_A[held], device=posterior.device, dtype=posterior.dtype)
    with torch.no_grad():
        out = posterior(positions, with_variance=True)
    if out.forces_var_eV2_per_A2 is None:
        return "calibration skipped: this GP has no variance factor (α = 1)"
    error2 = float(((out.forces_eV_per_A.cpu().numpy() - forces_eV_per_A[held]) ** 2).mean())
    variance = float(out.forces_var_eV2_per_A2.mean())
    return error2, variance, f"{n_held} held-out structures (a GP with the same hyperparameters on {kept.size} others)"


def _errors_from_blocks(
    solution: GPSolution, noise: GradientNoise, held: np.ndarray, n_outputs: int
) -> tuple[float, float, str] | str:
    """:func:`held_out_errors` from the block of ``K⁻¹`` of the held-out structures' outputs.

    With an exact variance factor ``R = L⁻ᵀ``, the held-out structures' posterior given all the
    others follows from the block ``P_HH = R_H R_Hᵀ`` of ``K⁻¹``: residuals ``P_HH⁻¹ (K⁻¹ y)_H``
    and covariance ``P_HH⁻¹`` (minus the noise).
    """
    device = solution.factor.device
    rows = torch.as_tensor((held[:, None] * n_outputs + np.arange(n_outputs)).reshape(-1), device=device)
    factor = solution.factor[rows]
    lower, info = torch.linalg.cholesky_ex(factor @ factor.mT)
    if int(info) != 0:
        return "calibration skipped: the held-out block of the inverse kernel matrix is singular (α = 1)"
    residuals = torch.cholesky_solve(solution.weights[rows].unsqueeze(-1), lower).squeeze(-1)
    covariance = torch.cholesky_inverse(lower).diagonal()
    noise_variances = noise.diagonal(held.size, n_outputs - 1).detach().to(covariance)
    forces = (torch.arange(rows.shape[0], device=device) % n_outputs) != 0
    error2 = float(residuals[forces].pow(2).mean())
    variance = float((covariance - noise_variances)[forces].clamp_min(0.0).mean())
    others = solution.centre_indices.shape[0] - held.size
    source = f"{held.size} held-out structures (posterior given the {others} others, from blocks of K⁻¹)"
    return error2, variance, source
