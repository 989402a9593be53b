"""Training device: CUDA gives the CPU's results within tolerance; asking for a missing GPU is a clear error."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from alforge.errors import ModelError
from alforge.models import GPPotential

FIXED = {
    "optimize": False,
    "lengthscale": 2.5,
    "signal_variance_eV2": 100.0,
    "energy_noise_eV": 1e-3,
    "force_noise_eV_per_A": 1e-3,
}


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_with_the_fix():
    with pytest.raises(ModelError, match="no CUDA GPU; use device='cpu' or 'auto'"):
        GPPotential(device="cuda")


def test_auto_device_trains_where_torch_can():
    model = GPPotential(device="auto")
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(("dtype", "tolerance"), [("float64", 1e-7), ("float32", 1e-2)])
def test_gpu_fit_matches_cpu(methane, dtype, tolerance):
    cpu = GPPotential(device="cpu", dtype="float64", **FIXED).fit(methane.train)
    gpu = GPPotential(device="cuda", dtype=dtype, **FIXED).fit(methane.train)
    expected, got = cpu.predict(methane.test), gpu.predict(methane.test)
    scale = np.abs(expected.forces_eV_per_A).max()
    np.testing.assert_allclose(got.forces_eV_per_A, expected.forces_eV_per_A, atol=tolerance * scale)
    np.testing.assert_allclose(got.energy_eV, expected.energy_eV, atol=tolerance * 10)
    np.testing.assert_allclose(got.forces_std_eV_per_A, expected.forces_std_eV_per_A, atol=tolerance * scale)
