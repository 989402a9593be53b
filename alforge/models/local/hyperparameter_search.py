"""The local GP's hyperparameter search: starting values, then L-BFGS on the marginal likelihood."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms

from alforge.models.local.descriptors import LocalEnvironments
from alforge.models.local.kernel import LocalInducing, LocalKernel
from alforge.models.local.weight_regression import log_marginal_likelihood

__all__ = ["initial_values", "search_hyperparameters"]


def initial_values(
    kernel: LocalKernel, rms_force: float, residual: np.ndarray, frames: Sequence[Atoms]
) -> dict[str, float]:
    """Starting hyperparameters from the force scale and the per-atom energy residuals."""
    pair_low, pair_high = (
        float(b)
        for b in (
            kernel.raw_pair_lengthscale_constraint.lower_bound,
            kernel.raw_pair_lengthscale_constraint.upper_bound,
        )
    )
    trip_low, trip_high = (
        float(b)
        for b in (
            kernel.raw_triplet_lengthscale_constraint.lower_bound,
            kernel.raw_triplet_lengthscale_constraint.upper_bound,
        )
    )
    per_atom = float(np.std(residual / np.array([len(f) for f in frames]))) or rms_force
    return {
        "pair_lengthscale_A": math.sqrt(pair_low * pair_high),
        "pair_signal_variance_eV2": rms_force**2,
        "triplet_lengthscale_A": max(2.0 * trip_low, 0.25 * trip_high),
        "triplet_signal_variance_eV2": 0.1 * rms_force**2,
        "energy_noise_per_atom_eV": max(0.01 * per_atom, 1e-3 * rms_force),
        "force_noise_eV_per_A": 0.01 * rms_force,
    }


def search_hyperparameters(
    kernel: LocalKernel,
    env: LocalEnvironments,
    inducing: LocalInducing,
    targets: tuple[torch.Tensor, torch.Tensor],
    species: list[int],
    offset_prior_eV: float,
    three_body: bool,
    max_iterations: int,
) -> list[str]:
    """Maximise the marginal likelihood over ``kernel``'s parameters (in place) by L-BFGS; return notes.

    The triplet parameters stay fixed without ``three_body``. A search that diverges restores the
    initial values.
    """
    params = [p for name, p in kernel.named_parameters() if three_body or "triplet" not in name]
    optimiser = torch.optim.LBFGS(params, lr=1.0, max_iter=max_iterations, line_search_fn="strong_wolfe")
    n_rows = float(targets[0].numel() + targets[1].numel())
    failures: list[str] = []

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        try:
            loss = -log_marginal_likelihood(kernel, env, inducing, targets, species, offset_prior_eV) / n_rows
        except torch.linalg.LinAlgError as exc:
            failures.append(str(exc))
            return torch.tensor(float("inf"), dtype=targets[0].dtype)
        loss.backward()
        return loss

    before = {n: p.detach().clone() for n, p in kernel.named_parameters()}
    optimiser.step(closure)
    if not all(torch.isfinite(p).all() for p in kernel.parameters()):
        with torch.no_grad():
            for n, p in kernel.named_parameters():
                p.copy_(before[n])
        return ["hyperparameter search diverged; kept the initial values"]
    return [f"{len(failures)} marginal-likelihood evaluations failed (Cholesky)"] if failures else []
