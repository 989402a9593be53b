"""What every model kind shares: farthest-point sampling, label reading, the calibration factor."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from alforge.errors import ModelInputError
from alforge.models.common import calibration_factor, farthest_point_indices, read_labels


def test_each_pick_is_the_point_farthest_from_the_picks_before_it():
    points = np.random.default_rng(0).normal(size=(60, 4))
    picked = farthest_point_indices(points, 12, first=5)
    assert picked[0] == 5
    assert len(set(picked.tolist())) == 12
    for k in range(1, len(picked)):
        distance = np.linalg.norm(points[:, None] - points[picked[:k]][None], axis=-1).min(1)
        assert distance[picked[k]] == pytest.approx(distance.max())


def test_duplicates_end_the_sampling():
    assert farthest_point_indices(np.zeros((5, 3)), 3).tolist() == [0]


def test_permutations_make_permuted_copies_duplicates():
    base = np.random.default_rng(2).normal(size=(5, 3))
    swapped = base[:, [1, 0, 2]]
    points = np.concatenate([base, swapped])
    permutations = np.array([[0, 1, 2], [1, 0, 2]])
    plain = farthest_point_indices(points, 10)
    symmetric = farthest_point_indices(points, 10, permutations=permutations)
    assert len(plain) == 10
    assert len(symmetric) == 5  # the swapped copies are at distance 0: sampling stops


def test_stops_below_the_minimum_distance():
    points = np.array([[0.0], [0.1], [0.2], [5.0], [10.0]])
    assert farthest_point_indices(points, 5, min_distance=1.0).tolist() == [0, 4, 3]


def test_labels_of_frames_of_different_sizes_from_info_and_calculator():
    water, methane = molecule("H2O"), molecule("CH4")
    water.info["REF_energy"] = -2.0
    water.arrays["REF_forces"] = np.ones((3, 3))
    methane.calc = SinglePointCalculator(methane, energy=-3.0, forces=np.zeros((5, 3)))
    methane.info["REF_energy"] = -3.0
    methane.arrays["REF_forces"] = np.zeros((5, 3))
    energies, forces = read_labels([water, methane], energy_key="REF_energy", forces_key="REF_forces")
    np.testing.assert_array_equal(energies, [-2.0, -3.0])
    assert [f.shape for f in forces] == [(3, 3), (5, 3)]


@pytest.mark.parametrize(
    ("frames", "match"),
    [
        ([], "no training structures"),
        (["H2O"], "not ase.Atoms"),
        ([Atoms("H2", positions=[[0, 0, 0], [0, 0, np.nan]])], "non-finite coordinates"),
        ([molecule("H2O")], "no reference energy 'energy' and forces 'forces'"),
    ],
)
def test_bad_frames_are_refused_with_the_reason(frames, match):
    with pytest.raises(ModelInputError, match=match):
        read_labels(frames)


def test_calibration_factor_matches_error_to_variance_and_is_clipped():
    assert calibration_factor(9.0, 4.0) == pytest.approx(1.5)
    assert calibration_factor(1e12, 1.0) == 1e3
    assert calibration_factor(1.0, 0.0) is None
