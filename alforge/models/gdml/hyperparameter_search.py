"""Maximise the GP's log marginal likelihood over its four hyperparameters.

Hyperparameters: the descriptor length scale ``ℓ``, the signal variance ``s`` (eV²), and the
energy and force noise variances. The search has two stages:

1. **Grid over ℓ × noise** (``ℓ`` at ``2⁴ … 2⁻²`` times the median symmetrised descriptor
   distance between the search structures, largest first, stopping once the likelihood has
   fallen twice; the noises at ``1, 10⁻¹ … 10⁻⁴`` times ``10⁻³`` of the data variances, down to
   their floors) with the signal variance profiled out analytically: for a kernel
   ``s (K̃ + ν̃ I)`` the optimum is ``ŝ = yᵀ (K̃ + ν̃ I)⁻¹ y / M``. Each ``ℓ`` costs one kernel
   build without autograd and one Cholesky per noise level.
2. **L-BFGS polish** (SciPy's L-BFGS-B, few iterations) on the GPyTorch raw parameters
   (constrained: ``ℓ`` within ``LENGTHSCALE_BOUNDS`` × the median distance, noises above their
   floors) from the best grid point, with the exact marginal likelihood of the dense kernel
   matrix (:class:`~alforge.models.gdml.gaussian_log_likelihood.ExactGaussianLogLikelihood`:
   Cholesky, not CG, with an analytic backward). One evaluation (kernel with autograd, Cholesky,
   backward) costs about three grid points.

Before the grid searched the noise too, the L-BFGS stage started from noises of ``10⁻³`` of the
data variances and walked 40–50 evaluations to their floors and to the ``ℓ`` bound (ethanol,
80 structures: 57 s of a 59 s fit, one thread); the grid now lands there directly.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from gpytorch.kernels import ScaleKernel
from linear_operator.utils.errors import NotPSDError
from scipy.optimize import minimize
from torch import Tensor

from alforge.errors import FitError
from alforge.models.gdml.cholesky_factor import CholeskyFactor
from alforge.models.gdml.gaussian_log_likelihood import ExactGaussianLogLikelihood
from alforge.models.gdml.gdml_kernel import GDMLKernel
from alforge.models.gdml.gradient_noise import GradientNoise
from alforge.models.gdml.log_interval import LogInterval

__all__ = ["SearchResult", "bound_notes", "optimise_hyperparameters"]

_GRID_EXPONENTS = range(4, -3, -1)  # ℓ = 2^e × the median distance, largest first (2⁴ is the bound)
_GRID_PATIENCE = 2
_NOISE_SCALES = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
_TOLERANCE_CHANGE = 1e-7
LENGTHSCALE_BOUNDS = (1 / 16, 16.0)
"""Search bounds of ``ℓ`` as multiples of the median symmetrised descriptor distance."""


@dataclass
class SearchResult:
    """Outcome of :func:`optimise_hyperparameters`.

    Attributes
    ----------
    log_marginal_likelihood
        Per output row (nats), at the optimum on the search structures.
    n_evaluations
        Marginal-likelihood evaluations of the L-BFGS stage.
    grid_time_s, lbfgs_time_s
        Wall time of the grid and of the L-BFGS stage.
    notes
        Remarks (bounds hit, evaluation failures).
    """

    log_marginal_likelihood: float
    n_evaluations: int
    grid_time_s: float = 0.0
    lbfgs_time_s: float = 0.0
    notes: list[str] = field(default_factory=list)


def median_descriptor_distance(kernel: GDMLKernel, x: Tensor) -> float:
    """Median symmetrised descriptor distance (1/Å) between distinct structures ``x`` ``(n, 3N)``."""
    desc = kernel.descriptor(x.reshape(x.shape[0], kernel.n_atoms, 3))
    perms = kernel.descriptor_permutations
    dist = (desc[:, perms].unsqueeze(2) - desc[None, None]).norm(dim=-1).amin(1)
    off = dist[~torch.eye(x.shape[0], dtype=torch.bool, device=x.device)]
    median = float(off.median()) if off.numel() else 0.0
    return median if median > 0 else 0.1


@dataclass(frozen=True)
class GridPoint:
    """A point of :func:`_profiled_grid`: ``ℓ`` (1/Å), ``ŝ`` (eV²) and the two noise variances."""

    log_marginal_likelihood: float
    lengthscale: float
    signal_variance: float
    energy_noise: float
    force_noise: float


def _profiled_grid(
    covar_module: ScaleKernel, x: Tensor, y: Tensor, initial_noise: tuple[float, float], floor: tuple[float, float]
) -> GridPoint | None:
    """Best point of the grid over ``ℓ`` × noise scale with ``s`` profiled out, or ``None``.

    At each ``ℓ`` the unit-variance kernel is built once (no autograd) and factorised once per
    noise scale ``c`` of ``_NOISE_SCALES`` (largest first). The trial noise variances
    ``max(c × initial, floor)`` are divided by a reference signal variance ``s_ref`` so that
    they become ratios to the signal; ``ŝ`` is then profiled out and the fitted noise is
    ``ŝ / s_ref`` times the trial noise. ``s_ref`` is first the one that matches the prior
    gradient variance to the data's, then the previous scale's ``ŝ`` (so that the trial noises
    land near their absolute values); smaller scales are skipped once both noises reach their
    floors.

    The length scales run from the largest down and stop after ``_GRID_PATIENCE`` in a row that
    improve on nothing. This assumes the profiled likelihood is unimodal in ``log ℓ``, as it was
    on ethanol (the only molecule checked), where smooth data put its maximum on the upper bound
    and the scan ends after three length scales instead of seven.
    """
    kernel = covar_module.base_kernel
    n_structures = x.shape[0]
    size = y.shape[0]
    n_outputs = size // n_structures
    median = median_descriptor_distance(kernel, x)
    best: GridPoint | None = None
    top = math.log2(LENGTHSCALE_BOUNDS[1]) - 0.01
    energy_rows = torch.arange(size, device=x.device) % n_outputs == 0
    worse = 0
    for exponent in _GRID_EXPONENTS:
        if worse >= _GRID_PATIENCE:
            break
        lengthscale = median * 2.0 ** min(exponent, top)
        previous = best
        kernel.lengthscale = torch.tensor(lengthscale, dtype=x.dtype, device=x.device)
        with torch.no_grad():
            unit = kernel.forward(x, x)
            grad_rows = unit.diagonal().reshape(n_structures, -1)[:, 1:].mean()
            signal_ref = float(y.reshape(n_structures, -1)[:, 1:].pow(2).mean() / grad_rows)
            for scale in _NOISE_SCALES:
                trial = [max(scale * v, f) for v, f in zip(initial_noise, floor, strict=True)]
                matrix = unit.clone()
                matrix.diagonal().add_(torch.where(energy_rows, trial[0], trial[1]) / signal_ref)
                chol = CholeskyFactor.factorize(matrix, overwrite=True)
                if chol is None:
                    continue
                signal = float(y @ chol.solve(y.unsqueeze(-1)).squeeze(-1)) / size
                logml = -0.5 * (size * math.log(signal) + float(chol.logdet()) + size * (1 + math.log(2 * math.pi)))
                fitted = [v * signal / signal_ref for v in trial]
                if best is None or logml > best.log_marginal_likelihood:
                    best = GridPoint(logml, lengthscale, signal, *fitted)
                if fitted[0] <= floor[0] and fitted[1] <= floor[1]:
                    break
                signal_ref = signal
        worse = 0 if best is not previous else worse + 1
    return best


def _initial_noise(y: Tensor, n_structures: int) -> tuple[float, float]:
    per_structure = y.reshape(n_structures, -1)
    energy_var = float(per_structure[:, 0].var()) if n_structures > 1 else 1.0
    force_var = float(per_structure[:, 1:].pow(2).mean())
    return max(1e-3 * energy_var, 1e-8), max(1e-3 * force_var, 1e-8)


def optimise_hyperparameters(
    covar_module: ScaleKernel,
    noise: GradientNoise,
    x: Tensor,
    y: Tensor,
    *,
    max_iterations: int = 10,
    use_grid: bool = True,
) -> SearchResult:
    """Fit ``ℓ``, ``s`` and both noises by maximising the marginal likelihood; updates the modules.

    Parameters
    ----------
    covar_module
        Scaled :class:`~alforge.models.gdml.gdml_kernel.GDMLKernel` (modified in place).
    noise
        Noise module (modified in place).
    x
        Flattened positions in Å of the search structures, shape ``(n, 3N)``.
    y
        Their targets (energies minus the prior mean, energy gradients), shape ``(n (1 + 3N),)``.
    max_iterations
        L-BFGS iterations of the polish (at most ``2 max_iterations + 5`` evaluations).
    use_grid
        Start with the profiled grid over ``ℓ`` (otherwise start from the modules' values).

    Raises
    ------
    FitError
        Every evaluation failed or the optimum is not finite.
    """
    n_structures = x.shape[0]
    n_gradients = x.shape[1]
    notes: list[str] = []
    kernel = covar_module.base_kernel
    median = median_descriptor_distance(kernel, x)
    bounds = (median * LENGTHSCALE_BOUNDS[0], median * LENGTHSCALE_BOUNDS[1])
    kernel.register_constraint("raw_lengthscale", LogInterval(*bounds).to(x))
    grid_time = 0.0
    if use_grid:
        started = time.perf_counter()
        floor = (
            float(noise.raw_energy_noise_constraint.lower_bound),
            float(noise.raw_force_noise_constraint.lower_bound),
        )
        best = _profiled_grid(covar_module, x, y, _initial_noise(y, n_structures), floor)
        if best is None:
            msg = "the kernel matrix is not positive definite for any length scale; check for duplicate structures"
            raise FitError(msg)
        covar_module.base_kernel.lengthscale = torch.tensor(best.lengthscale, dtype=x.dtype, device=x.device)
        covar_module.outputscale = torch.tensor(best.signal_variance, dtype=x.dtype, device=x.device)
        noise.energy_noise, noise.force_noise = best.energy_noise, best.force_noise
        grid_time = time.perf_counter() - started

    params = [p for p in (*covar_module.parameters(), *noise.parameters()) if p.requires_grad]
    evaluations = 0
    best_state: tuple[float, list[Tensor]] = (math.inf, [p.detach().clone() for p in params])

    def loss_and_gradient(raw: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal evaluations, best_state
        evaluations += 1
        with torch.no_grad():
            for param, value in zip(params, torch.as_tensor(raw).to(x).split(1), strict=True):
                param.copy_(value.reshape(param.shape))
                param.grad = None
        covariance = covar_module(x).to_dense() + torch.diag(noise.diagonal(n_structures, n_gradients))
        loss = -ExactGaussianLogLikelihood.apply(covariance, y) / y.shape[0]
        loss.backward()
        value = float(loss.detach())
        if math.isfinite(value) and value < best_state[0]:
            best_state = (value, [p.detach().clone() for p in params])
        gradient = torch.cat([torch.zeros(1).to(x) if p.grad is None else p.grad.reshape(1) for p in params])
        return value, gradient.cpu().numpy()

    # SciPy's L-BFGS-B rather than torch.optim.LBFGS: the latter imports torch._dynamo on first
    # use, 2–4 s of a 10 s fit. The loss is the log marginal likelihood per output row: a relative
    # change below 1e-7 (≈ 1e-4 nats in all on 1,700 rows) moves no hyperparameter that matters.
    started = time.perf_counter()
    start_raw = torch.cat([p.detach().reshape(1) for p in params]).cpu().numpy()
    try:
        minimize(
            loss_and_gradient,
            start_raw,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": max_iterations, "maxfun": 2 * max_iterations + 5, "ftol": _TOLERANCE_CHANGE},
        )
    except NotPSDError:
        notes.append("the marginal-likelihood search stopped at a non positive-definite kernel matrix")
    with torch.no_grad():
        for param, value in zip(params, best_state[1], strict=True):
            param.copy_(value)
    if not math.isfinite(best_state[0]) or not all(torch.isfinite(p).all() for p in params):
        msg = (
            "maximising the marginal likelihood gave non-finite hyperparameters; fix them "
            "(lengthscale=..., signal_variance_eV2=...) with optimize=False or check the data"
        )
        raise FitError(msg)
    return SearchResult(-best_state[0], evaluations, grid_time, time.perf_counter() - started, notes)


def bound_notes(hyper: dict[str, Any], covar: ScaleKernel, min_force_noise_eV_per_A: float) -> list[str]:
    """What the fit report says about fitted hyperparameters at their bounds; non-finite ones raise."""
    notes = []
    if hyper["force_noise_eV_per_A"] <= 1.01 * min_force_noise_eV_per_A:
        notes.append(
            f"force noise is at its lower bound {min_force_noise_eV_per_A} eV/Å "
            "(very clean data or too small a bound)"
        )
    upper = float(covar.base_kernel.raw_lengthscale_constraint.upper_bound)
    if math.isfinite(upper) and hyper["lengthscale_per_A"] >= 0.99 * upper:
        notes.append(
            f"length scale is at its upper search bound {upper:.3g} 1/Å (16 × the median "
            "descriptor distance): the data look nearly harmonic"
        )
    if not all(math.isfinite(v) for v in hyper.values() if isinstance(v, float)):
        msg = f"fitted hyperparameters are not finite: {hyper}; check the data or fix them (optimize=False)"
        raise FitError(msg)
    return notes
