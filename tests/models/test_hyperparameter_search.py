"""The marginal-likelihood search: grid over length scale × noise, then a short L-BFGS polish.

The data are drawn from the GP prior itself (water, Matérn-5/2, known hyperparameters), so the
search has a right answer to find.
"""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from ase.build import molecule
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import ScaleKernel

import alforge.models.gdml.hyperparameter_search as search
from alforge.models.gdml.gradient_noise import GradientNoise
from alforge.models.gdml.matern52_gdml_kernel import Matern52GDMLKernel

FLOOR = 1e-8  # noise variance floor of the test modules


def modules() -> tuple[ScaleKernel, GradientNoise]:
    covar = ScaleKernel(Matern52GDMLKernel(3), outputscale_constraint=GreaterThan(1e-12, torch.exp, torch.log))
    noise = GradientNoise(GreaterThan(FLOOR, torch.exp, torch.log), GreaterThan(FLOOR, torch.exp, torch.log))
    return covar.double(), noise.double()


def prior_sample(
    lengthscale_factor: float, force_noise: float, n_structures: int = 30, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Water structures and targets drawn from the GP prior; returns ``(x, y, ℓ)``.

    ``ℓ`` is ``lengthscale_factor`` times the median descriptor distance, the signal variance 1,
    the energy noise variance 1e-6 and the force noise variance ``force_noise``.
    """
    rng = np.random.default_rng(seed)
    positions = molecule("H2O").positions[None] + rng.normal(scale=0.05, size=(n_structures, 3, 3))
    x = torch.as_tensor(positions.reshape(n_structures, 9))
    covar, _ = modules()
    lengthscale = lengthscale_factor * search.median_descriptor_distance(covar.base_kernel, x)
    covar.base_kernel.lengthscale = torch.tensor(lengthscale, dtype=torch.float64)
    with torch.no_grad():
        matrix = covar.base_kernel.forward(x, x)
    energy_rows = torch.arange(matrix.shape[0]) % 10 == 0
    matrix.diagonal().add_(torch.where(energy_rows, 1e-6, force_noise))
    generator = torch.Generator().manual_seed(seed)
    y = torch.linalg.cholesky(matrix) @ torch.randn(matrix.shape[0], generator=generator, dtype=torch.float64)
    return x, y, lengthscale


def test_search_recovers_the_prior_lengthscale_and_force_noise():
    x, y, lengthscale = prior_sample(lengthscale_factor=2.0, force_noise=1e-4)
    covar, noise = modules()
    result = search.optimise_hyperparameters(covar, noise, x, y)
    fitted = float(covar.base_kernel.lengthscale.detach())
    assert lengthscale / 1.5 < fitted < 1.5 * lengthscale, (fitted, lengthscale)
    assert 0.5e-4 < float(noise.force_noise.detach()) < 2e-4
    assert result.n_evaluations <= 2 * 10 + 5


def test_polish_never_ends_below_the_best_grid_point():
    x, y, _ = prior_sample(lengthscale_factor=1.0, force_noise=1e-5)
    grid = search._profiled_grid(modules()[0], x, y, search._initial_noise(y, x.shape[0]), (FLOOR, FLOOR))
    assert grid is not None
    result = search.optimise_hyperparameters(modules()[0], modules()[1], x, y)
    assert result.log_marginal_likelihood >= grid.log_marginal_likelihood / y.shape[0] - 1e-9


def test_scan_stops_early_at_the_same_maximum_as_the_full_scan(monkeypatch):
    x, y, _ = prior_sample(lengthscale_factor=12.0, force_noise=1e-5)
    initial = search._initial_noise(y, x.shape[0])
    factorisations = []
    factorize = search.CholeskyFactor.factorize
    monkeypatch.setattr(
        search.CholeskyFactor, "factorize", lambda *a, **k: factorisations.append(1) or factorize(*a, **k)
    )
    early = search._profiled_grid(modules()[0], x, y, initial, (FLOOR, FLOOR))
    n_early = len(factorisations)
    monkeypatch.setattr(search, "_GRID_PATIENCE", math.inf)
    full = search._profiled_grid(modules()[0], x, y, initial, (FLOOR, FLOOR))
    assert early == full
    assert n_early < len(factorisations) - len(search._NOISE_SCALES)


def test_fitted_noise_stays_on_its_floor_for_clean_data():
    x, y, _ = prior_sample(lengthscale_factor=2.0, force_noise=1e-9)
    covar, noise = modules()
    search.optimise_hyperparameters(covar, noise, x, y)
    assert float(noise.force_noise.detach()) < 10 * FLOOR


@pytest.mark.timeout(120)
def test_a_fit_does_not_import_torch_dynamo():
    """``torch.optim`` imports ``torch._dynamo`` (2–4 s) on first use; the search must not."""
    code = (
        "import sys, numpy as np\n"
        "from ase.build import molecule\n"
        "from alforge.data import labelled\n"
        "from alforge.models import GPPotential\n"
        "rng = np.random.default_rng(0)\n"
        "frames = []\n"
        "for _ in range(6):\n"
        "    a = molecule('H2O'); a.positions += rng.normal(scale=0.05, size=(3, 3))\n"
        "    frames.append(labelled(a, float(rng.normal()), rng.normal(size=(3, 3))))\n"
        "GPPotential(device='cpu', calibrate=False).fit(frames)\n"
        "print('torch._dynamo' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False", out.stdout + out.stderr
