"""The local many-body GP against the tests every potential kind must pass (``BasePotentialTestCase``).

The local kind is not tied to one molecule: where the shared tests expect a refusal of another
composition, the overrides below check what the local kind promises instead (it predicts any
composition of the elements it learned, and names an element it never saw).
"""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from base_potential_test_case import BasePotentialTestCase

from alforge.errors import ModelInputError
from alforge.models import Potential
from alforge.models.local.local_gp_potential import LocalGPPotential


class TestLocalGPPotential(BasePotentialTestCase):
    # the shared NVE bounds over 2,000 steps of 0.25 fs instead of 10,000 of 0.5 fs (the local
    # calculator is slower per step on one small molecule). A force that is not the energy's
    # gradient drifts whatever the step; a shorter run averages the Verlet fluctuation less, so
    # the step is halved (its error falls 4×).
    md_steps = 2000
    md_timestep_fs = 0.25

    def make_model(self) -> Potential:
        return LocalGPPotential(
            pair_cutoff_A=4.0, triplet_cutoff_A=3.0, n_pair_inducing=24, n_triplet_inducing=48,
            n_hyperparameter_structures=10, max_iterations=15, min_energy_noise_eV=1e-5,
            min_force_noise_eV_per_A=1e-5,
        )

    def test_descriptor(self, model, methane):
        descriptors = model.descriptor(methane.test[:3])
        assert descriptors.shape[0] == 3
        assert np.isfinite(descriptors).all()

    def test_refuses_wrong_molecule(self, model, water):
        """Water holds oxygen, an element the methane model never saw: refused, naming it."""
        with pytest.raises(ModelInputError, match="O"):
            model.predict(water[:1])

    def test_fit_refuses_mixed_molecules(self, methane, water):
        """Mixed compositions are the local kind's purpose: a methane + water fit predicts both."""
        model = self.make_model()
        model.fit([*methane.train[:6], *water[:4]])
        for prediction in model.predict_each([methane.test[0], water[-1]]):
            assert np.isfinite(prediction.energy_eV).all()

    def test_predicts_a_smaller_fragment_of_its_elements(self, model):
        fragment = Atoms("CH2", positions=[[0, 0, 0], [1.09, 0, 0], [-0.36, 1.03, 0]])
        assert np.isfinite(model.predict([fragment]).forces_eV_per_A[0]).all()

    def test_uncertainty_small_at_training_points_and_grows_away(self, model, methane):
        """A sparse GP's std is not smallest exactly at a training point (inducing points are): it
        must still be small on training data and grow far from it."""
        at_training = model.predict(methane.train).forces_std_eV_per_A.mean()
        rng = np.random.default_rng(11)
        base = methane.train[2].positions
        direction = rng.normal(size=base.shape)
        direction /= np.linalg.norm(direction)
        far = model.predict([Atoms(methane.train[2].numbers, base + 0.5 * direction)]).forces_std_eV_per_A.mean()
        assert far > 5 * at_training

    def test_accuracy_on_held_out_structures(self, model, methane):
        """A body-order-limited model of a bonded molecule: 3 % of mean |F| on 30 structures (the
        global GP reaches 2 %)."""
        prediction = model.predict(methane.test)
        reference = np.array([f.get_forces() for f in methane.test])
        mae = np.abs(prediction.forces_eV_per_A - reference).mean()
        print(f"local GP force MAE {mae:.4f} eV/Å = {mae / np.abs(reference).mean():.2%} of mean |F|")
        assert mae < 0.03 * np.abs(reference).mean()
