"""The symmetrised gradient-domain kernels, tested like GPyTorch's base kernel test case."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule
from gpytorch.kernels import ScaleKernel

from alforge.models.gdml.gdml_kernel import GDMLKernel
from alforge.models.gdml.matern52_gdml_kernel import Matern52GDMLKernel
from alforge.models.gdml.rbf_gdml_kernel import RBFGDMLKernel
from alforge.models.gdml.symmetries import find_symmetries

KERNELS = [Matern52GDMLKernel, RBFGDMLKernel]


def make_kernel(cls: type[GDMLKernel], dtype: torch.dtype = torch.float64) -> tuple[GDMLKernel, torch.Tensor]:
    atoms = molecule("CH4")
    kernel = cls(5, find_symmetries(atoms.numbers, atoms.positions)).to(dtype)
    kernel.lengthscale = torch.tensor(0.4, dtype=dtype)
    rng = np.random.default_rng(0)
    x = atoms.positions[None] + rng.normal(scale=0.08, size=(4, 5, 3))
    return kernel, torch.as_tensor(x.reshape(4, 15), dtype=dtype)


@pytest.mark.parametrize("cls", KERNELS)
def test_symmetric_positive_semidefinite_with_right_shape(cls):
    kernel, x = make_kernel(cls)
    matrix = ScaleKernel(kernel).to(torch.float64)(x).to_dense()
    assert matrix.shape == (64, 64)
    torch.testing.assert_close(matrix, matrix.mT)
    assert torch.linalg.eigvalsh(matrix).min() > -1e-10


@pytest.mark.parametrize("cls", KERNELS)
def test_diag_matches_full_matrix(cls):
    kernel, x = make_kernel(cls)
    torch.testing.assert_close(kernel(x, x, diag=True), kernel.forward(x, x).diagonal())
    with pytest.raises(ValueError, match="diag=True"):
        kernel.forward(x, x[:2], diag=True)


@pytest.mark.parametrize("cls", KERNELS)
def test_derivative_blocks_match_finite_differences(cls):
    kernel, x = make_kernel(cls)
    a, b = x[:1], x[1:2]
    full = kernel.forward(a, b)
    step = 1e-5
    eye = torch.eye(15, dtype=x.dtype) * step

    def energy_energy(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        return kernel.forward(p, q)[0, 0]

    d_b = torch.stack([(energy_energy(a, b + e) - energy_energy(a, b - e)) / (2 * step) for e in eye])
    d_a = torch.stack([(energy_energy(a + e, b) - energy_energy(a - e, b)) / (2 * step) for e in eye])
    d_ab = torch.stack(
        [(kernel.forward(a, b + e)[1:, 0] - kernel.forward(a, b - e)[1:, 0]) / (2 * step) for e in eye], dim=1
    )
    torch.testing.assert_close(full[0, 1:], d_b, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(full[1:, 0], d_a, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(full[1:, 1:], d_ab, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", KERNELS)
def test_invariant_under_symmetry_permutations(cls):
    kernel, x = make_kernel(cls)
    perm = kernel.atom_permutations[7]
    permuted = x.reshape(4, 5, 3)[:, perm].reshape(4, 15)
    energy = slice(0, None, 16)
    torch.testing.assert_close(kernel.forward(permuted, x)[energy, energy], kernel.forward(x, x)[energy, energy])


@pytest.mark.parametrize("cls", KERNELS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_is_kept(cls, dtype):
    kernel, x = make_kernel(cls, dtype)
    assert kernel.forward(x, x).dtype == dtype


@pytest.mark.parametrize("cls", KERNELS)
def test_lengthscale_is_a_constrained_raw_parameter_and_state_round_trips(cls):
    kernel, x = make_kernel(cls)
    assert "raw_lengthscale" in dict(kernel.named_parameters())
    assert float(kernel.lengthscale.detach()) == pytest.approx(0.4)
    clone, _ = make_kernel(cls)
    clone.load_state_dict(kernel.state_dict())
    torch.testing.assert_close(clone.forward(x, x), kernel.forward(x, x))
