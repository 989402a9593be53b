"""Inverse-distance descriptor: values, Jacobian, invariances, permutation mapping."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import molecule
from scipy.spatial.transform import Rotation

from alforge.models.gdml.inverse_distance import InverseDistance


@pytest.fixture
def ethanol_positions() -> torch.Tensor:
    rng = np.random.default_rng(0)
    positions = molecule("CH3CH2OH").positions + rng.normal(scale=0.05, size=(9, 3))
    return torch.as_tensor(positions)


def test_values_are_inverse_pair_distances(ethanol_positions):
    descriptor = InverseDistance(9)
    x = descriptor(ethanol_positions)
    assert x.shape == (descriptor.dim,) == (36,)
    rows, cols = np.tril_indices(9, k=-1)
    distances = np.linalg.norm(ethanol_positions.numpy()[rows] - ethanol_positions.numpy()[cols], axis=1)
    np.testing.assert_allclose(x.numpy(), 1 / distances)


def test_jacobian_matches_autograd(ethanol_positions):
    descriptor = InverseDistance(9)
    x, jacobian = descriptor.with_jacobian(ethanol_positions[None])
    auto = torch.autograd.functional.jacobian(descriptor, ethanol_positions).reshape(36, 27)
    torch.testing.assert_close(jacobian[0], auto)
    torch.testing.assert_close(x[0], descriptor(ethanol_positions))


def test_invariant_under_rotation_and_translation(ethanol_positions):
    descriptor = InverseDistance(9)
    rotation = torch.as_tensor(Rotation.random(random_state=1).as_matrix())
    moved = ethanol_positions @ rotation.T + torch.tensor([3.0, -1.0, 2.0], dtype=torch.float64)
    torch.testing.assert_close(descriptor(moved), descriptor(ethanol_positions))


def test_permutation_mapping(ethanol_positions):
    descriptor = InverseDistance(9)
    perm = np.random.default_rng(2).permutation(9)
    sigma = descriptor.permutation(perm)
    torch.testing.assert_close(descriptor(ethanol_positions[perm]), descriptor(ethanol_positions)[sigma])


def test_needs_two_atoms():
    with pytest.raises(ValueError, match="at least 2 atoms"):
        InverseDistance(1)
