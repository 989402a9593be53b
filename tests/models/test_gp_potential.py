"""The gradient-domain GP: the shared potential tests plus GP-specific ones."""

from __future__ import annotations

import numpy as np
import pytest
from base_potential_test_case import BasePotentialTestCase

from alforge.errors import ModelError
from alforge.models import GPPotential, Potential, evaluate


class TestGPPotential(BasePotentialTestCase):
    def make_model(self) -> Potential:
        return GPPotential("matern52", max_iterations=20, seed=0)

    def test_uses_methane_symmetries_and_exact_solver(self, model):
        assert model.hyperparameters["n_symmetries"] == 24
        assert model.fit_report.solver == "exact"
        assert model.fit_report.variance == "exact"

    def test_posterior_variance_near_noise_at_training_points(self, model, methane):
        std = model.predict(methane.train).forces_std_eV_per_A
        assert std.mean() < 3 * model.force_noise_eV_per_A


def test_rbf_kernel_and_float32_fit(methane):
    model = GPPotential("rbf", max_iterations=10, dtype="float32", device="cpu")
    model.fit(methane.train[:15])
    prediction = model.predict(methane.test[:3])
    reference = np.array([f.get_forces() for f in methane.test[:3]])
    assert prediction.forces_eV_per_A.dtype == np.float64
    assert np.abs(prediction.forces_eV_per_A - reference).mean() < 0.05 * np.abs(reference).mean()


def test_fixed_hyperparameters_skip_the_search(methane):
    fitted = GPPotential(max_iterations=10).fit(methane.train[:10]).hyperparameters
    model = GPPotential(
        optimize=False,
        lengthscale=fitted["lengthscale_per_A"],
        signal_variance_eV2=fitted["signal_variance_eV2"],
        energy_noise_eV=fitted["energy_noise_eV"],
        force_noise_eV_per_A=fitted["force_noise_eV_per_A"],
    )
    report = model.fit(methane.train[:10])
    assert report.n_hyperparameter_structures == 0
    assert report.hyperparameters["lengthscale_per_A"] == pytest.approx(fitted["lengthscale_per_A"])


def test_sparse_solver_and_low_rank_variance(methane):
    exact = GPPotential(max_iterations=10).fit(methane.train).hyperparameters
    options = {
        "optimize": False,
        "lengthscale": exact["lengthscale_per_A"],
        "signal_variance_eV2": exact["signal_variance_eV2"],
        "energy_noise_eV": exact["energy_noise_eV"],
        "force_noise_eV_per_A": exact["force_noise_eV_per_A"],
        "calibrate": False,  # compares the posteriors' own variances
    }
    sparse = GPPotential(solver="sparse", n_inducing=30, **options)
    assert sparse.fit(methane.train).solver == "sparse"
    low_rank = GPPotential(variance_rank=60, **options)
    assert low_rank.fit(methane.train).variance.startswith("low-rank(60)")
    model = GPPotential(**options)
    model.fit(methane.train)
    full = model.predict(methane.test)
    np.testing.assert_allclose(sparse.predict(methane.test).forces_eV_per_A, full.forces_eV_per_A, atol=5e-3)
    approx = low_rank.predict(methane.test)
    np.testing.assert_array_equal(approx.forces_eV_per_A, full.forces_eV_per_A)
    assert np.all(approx.forces_std_eV_per_A >= full.forces_std_eV_per_A - 1e-9)


def test_held_out_calibration_scales_the_posterior_std(methane):
    raw = GPPotential(max_iterations=20, calibrate=False)
    raw.fit(methane.train)
    model = GPPotential(max_iterations=20)
    report = model.fit(methane.train)
    assert raw.calibration == 1.0
    assert any(note.startswith("calibration α") for note in report.notes), report.notes
    alpha = model.calibration
    assert alpha != 1.0
    assert report.hyperparameters["calibration"] == alpha
    before, after = raw.predict(methane.test), model.predict(methane.test)
    np.testing.assert_array_equal(after.forces_eV_per_A, before.forces_eV_per_A)
    np.testing.assert_allclose(after.forces_std_eV_per_A, alpha * before.forces_std_eV_per_A, rtol=1e-12)
    np.testing.assert_allclose(after.energy_std_eV, alpha * before.energy_std_eV, rtol=1e-12)
    # on structures neither GP saw, the calibrated σ puts a fraction of errors nearer a Gaussian's 68 % within 1σ
    gaussian = 0.6827
    assert abs(evaluate(model, methane.test)["within_1sigma"] - gaussian) < abs(
        evaluate(raw, methane.test)["within_1sigma"] - gaussian
    )
    few = GPPotential(max_iterations=5)
    assert "calibration skipped" in " ".join(few.fit(methane.train[:8]).notes)
    assert few.calibration == 1.0


def test_symmetries_none_and_explicit(methane):
    model = GPPotential(symmetries="none", max_iterations=5).fit(methane.train[:8])
    assert model.hyperparameters["n_symmetries"] == 1
    with pytest.raises(ModelError, match="not a permutation of like atoms"):
        GPPotential(symmetries=np.array([[1, 0, 2, 3, 4]])).fit(methane.train[:3])


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"kernel": "cosine"}, "unknown kernel 'cosine'"),
        ({"solver": "magic"}, "unknown solver"),
        ({"optimize": False}, "optimize=False needs"),
        ({"device": "tpu"}, "unknown device"),
        ({"dtype": "float16"}, "unknown dtype"),
        ({"symmetries": "some"}, "symmetries='some'"),
    ],
)
def test_bad_options(options, match):
    with pytest.raises(ModelError, match=match):
        GPPotential(**options)


def test_unfitted_model_refuses_to_predict(methane):
    with pytest.raises(ModelError, match="not fitted"):
        GPPotential().predict(methane.test[:1])
    with pytest.raises(ModelError, match="not fitted"):
        GPPotential().calculator()


def test_calibration_from_blocks_of_the_inverse_equals_the_held_out_posterior(methane):
    """With an exact variance, α comes from the held-out block of K⁻¹; it must equal the ratio of
    squared residuals to latent variances of the held-out structures' forces given all the others,
    computed directly from the kernel matrix."""
    import torch

    from alforge.models.common.frames import stack_labelled
    from alforge.models.gdml.gp_solvers import kernel_matrix

    model = GPPotential(max_iterations=15, seed=3)
    report = model.fit(methane.train)
    assert report.variance == "exact"
    assert "from blocks of K⁻¹" in " ".join(report.notes)
    n, n_out = len(methane.train), 16
    held = np.sort(np.random.default_rng(model.seed + 1).permutation(n)[: n // 5])
    _, positions, energies, forces = stack_labelled(methane.train)
    noise = model.noise.diagonal(n, n_out - 1).detach()
    k = kernel_matrix(model.covar_module, torch.as_tensor(positions.reshape(n, -1))) + torch.diag(noise)
    y = torch.as_tensor(np.concatenate([(energies - energies.mean())[:, None], -forces.reshape(n, -1)], 1).ravel())
    h = torch.as_tensor((held[:, None] * n_out + np.arange(n_out)).ravel())
    rest = torch.as_tensor(np.setdiff1d(np.arange(n * n_out), h.numpy()))
    cross = k[h][:, rest]
    residual = y[h] - cross @ torch.linalg.solve(k[rest][:, rest], y[rest])
    latent = (k[h][:, h] - cross @ torch.linalg.solve(k[rest][:, rest], cross.T)).diagonal() - noise[h]
    is_force = (torch.arange(h.shape[0]) % n_out) != 0
    expected = np.sqrt(float(residual[is_force].pow(2).mean()) / float(latent[is_force].mean()))
    assert model.calibration == pytest.approx(expected, rel=1e-5)
