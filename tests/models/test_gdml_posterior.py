"""The fast posterior equals dense GP algebra on the kernel; low-rank variances are conservative."""

from __future__ import annotations

import platform

import numpy as np
import pytest
import torch

from alforge.models import GPPotential
from alforge.models.gdml import allocator
from alforge.models.gdml.gp_solvers import kernel_matrix


def dense_posterior(model: GPPotential, train, test) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of every output by solving with the full kernel matrix."""
    covar, noise = model.covar_module, model.noise
    x = torch.as_tensor(np.array([f.positions for f in train]).reshape(len(train), -1))
    xt = torch.as_tensor(np.array([f.positions for f in test]).reshape(len(test), -1))
    k = kernel_matrix(covar, x)
    k.diagonal().add_(noise.diagonal(len(train), 15))
    k_star = kernel_matrix(covar, xt, x)
    energies = np.array([f.get_potential_energy() for f in train])
    forces = np.array([f.get_forces() for f in train])
    y = np.concatenate([(energies - model.prior_mean_eV)[:, None], -forces.reshape(len(train), -1)], axis=1)
    alpha = torch.linalg.solve(k, torch.as_tensor(y.reshape(-1)))
    mean = (k_star @ alpha).reshape(len(test), 16).numpy()
    prior = covar(xt, diag=True).detach()
    var = (prior - (k_star * torch.linalg.solve(k, k_star.mT).mT).sum(1)).reshape(len(test), 16).numpy()
    return mean, var


def test_fast_posterior_matches_dense_algebra(methane):
    train, test = methane.train[:20], methane.test[:5]
    model = GPPotential(max_iterations=10, calibrate=False)
    model.fit(train)
    mean, var = dense_posterior(model, train, test)
    prediction = model.predict(test)
    np.testing.assert_allclose(prediction.energy_eV, mean[:, 0] + model.prior_mean_eV, atol=1e-8)
    np.testing.assert_allclose(prediction.forces_eV_per_A, -mean[:, 1:].reshape(5, 5, 3), atol=1e-7)
    np.testing.assert_allclose(prediction.energy_std_eV, np.sqrt(np.clip(var[:, 0], 0, None)), rtol=1e-5)
    per_atom = np.sqrt(np.clip(var[:, 1:], 0, None).reshape(5, 5, 3).mean(-1))
    np.testing.assert_allclose(prediction.forces_std_eV_per_A, per_atom, rtol=1e-5)
    components = model.predict_force_variances(np.array([f.positions for f in test]))
    np.testing.assert_allclose(components, var[:, 1:].reshape(5, 5, 3), rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("kernel", ["matern52", "rbf"])
def test_single_structure_mean_in_numpy_matches_the_batched_posterior(methane, kernel):
    """MD's path (one structure, NumPy) gives the batched PyTorch mean, symmetries included."""
    model = GPPotential(kernel, max_iterations=5, calibrate=False)
    model.fit(methane.train[:20])
    assert model.posterior.n_symmetries == 24
    positions = np.array([f.positions for f in methane.test[:6]])
    batched = model.predict_positions(positions, with_std=False)
    for i, structure in enumerate(positions):
        energy, forces = model.posterior.mean_of_one(structure)
        assert energy == pytest.approx(batched.energy_eV[i], abs=1e-8)  # ~1e-11 of 1080 eV: summation order
        np.testing.assert_allclose(forces, batched.forces_eV_per_A[i], rtol=1e-7, atol=1e-9)  # summation order
        one = model.predict_positions(structure[None], with_std=False)  # the dispatch MD goes through
        np.testing.assert_array_equal(one.forces_eV_per_A[0], forces)
    assert np.ptp(batched.energy_eV) > 1e-3  # the structures differ: the comparison means something


def test_projection_without_cross_covariances_matches_forming_them(methane):
    """``Wᵀ (J R)`` (the default for low ranks) and ``k_*ᵀ R`` give the same variances."""
    model = GPPotential(max_iterations=5, variance_rank=40, n_neighbours=4)
    model.fit(methane.train[:20])
    positions = np.array([f.positions for f in methane.test[:6]])
    posterior = model.posterior
    assert not posterior._forms_rows()  # methane: 10 descriptor rows < 15 gradient components
    projected = model.predict_force_variances(positions)
    posterior._forms_rows = lambda: True
    formed = model.predict_force_variances(positions)
    np.testing.assert_allclose(projected, formed, rtol=1e-7, atol=1e-14)
    assert np.all(formed > 0)


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_fitted_posterior_keeps_freed_memory_in_the_process(methane):
    GPPotential(max_iterations=2).fit(methane.train[:4])
    assert allocator._done  # applied when the posterior was built
    assert allocator.retain_freed_memory()
