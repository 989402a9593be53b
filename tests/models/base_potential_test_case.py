"""Tests every potential kind must pass (GPyTorch's ``base_kernel_test_case`` pattern).

A test class for a model kind inherits :class:`BasePotentialTestCase` and implements
:meth:`~BasePotentialTestCase.make_model`; the fitted model is built once per class on the
methane data of ``conftest.py`` (30 RHF/STO-3G structures).
"""

from __future__ import annotations

import json
from abc import abstractmethod
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms, units
from ase.calculators.calculator import PropertyNotImplementedError
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet
from scipy.spatial.transform import Rotation

from alforge.errors import ModelInputError
from alforge.models import Potential, load_model
from alforge.models.common.frames import LEVEL_KEY

H_ATOMS = [1, 2, 3, 4]  # the hydrogens of ASE's CH4: C is atom 0

MD_DRIFT_BOUND_EV_PER_ATOM = 1e-4


def with_level(frames: list[Atoms], level_hash: str) -> list[Atoms]:
    """Copies of ``frames`` (labels kept) whose info carries ``level_hash``."""
    out = []
    for frame in frames:
        copy = frame.copy()
        copy.calc = frame.calc
        copy.info[LEVEL_KEY] = level_hash
        out.append(copy)
    return out


class BasePotentialTestCase:
    """Physics, persistence and input checks shared by every model kind."""

    md_steps = 10_000  # NVE check: 5 ps at 0.5 fs; a kind slower per step may shorten it (and the step)
    md_timestep_fs = 0.5

    @abstractmethod
    def make_model(self) -> Potential:
        """A new, unfitted model of the kind under test (small and fast)."""

    @pytest.fixture(scope="class")
    def model(self, methane) -> Potential:
        model = self.make_model()
        model.fit(methane.train)
        return model

    # ---- physics ---------------------------------------------------------------------------
    def test_forces_are_minus_the_energy_gradient(self, model, methane):
        positions = methane.test[0].positions
        forces = model.predict_positions(positions[None]).forces_eV_per_A[0]
        step = 1e-4
        numeric = np.zeros_like(positions)
        for atom in range(len(positions)):
            for axis in range(3):
                shifted = np.stack([positions.copy(), positions.copy()])
                shifted[0, atom, axis] += step
                shifted[1, atom, axis] -= step
                energies = model.predict_positions(shifted, with_std=False).energy_eV
                numeric[atom, axis] = -(energies[0] - energies[1]) / (2 * step)
        np.testing.assert_allclose(forces, numeric, rtol=0, atol=1e-5)

    def test_md_calculator_forces_are_minus_its_energy_gradient(self, model, methane):
        """The calculator MD runs on (``uncertainty=False``: one structure a call, the GP in NumPy)."""
        atoms = Atoms(methane.test[0].numbers, methane.test[0].positions)
        atoms.calc = model.calculator(uncertainty=False)
        forces = atoms.get_forces()
        step = 1e-4
        numeric = np.zeros_like(forces)
        for atom in range(len(atoms)):
            for axis in range(3):
                energies = []
                for sign in (1, -1):
                    atoms.positions[atom, axis] += sign * step
                    energies.append(atoms.get_potential_energy())
                    atoms.positions[atom, axis] -= sign * step
                numeric[atom, axis] = -(energies[0] - energies[1]) / (2 * step)
        np.testing.assert_allclose(forces, numeric, rtol=0, atol=1e-5)

    def test_invariant_under_rotation_and_translation(self, model, methane):
        frames = methane.test[:3]
        rotation = Rotation.random(random_state=3).as_matrix()
        moved = [Atoms(f.numbers, f.positions @ rotation.T + [1.5, -2.0, 0.7]) for f in frames]
        before, after = model.predict(frames), model.predict(moved)
        np.testing.assert_allclose(after.energy_eV, before.energy_eV, rtol=0, atol=1e-9)
        np.testing.assert_allclose(after.forces_eV_per_A, before.forces_eV_per_A @ rotation.T, atol=1e-8)
        np.testing.assert_allclose(after.energy_std_eV, before.energy_std_eV, atol=1e-7)
        np.testing.assert_allclose(after.forces_std_eV_per_A, before.forces_std_eV_per_A, atol=1e-7)

    def test_invariant_under_permutation_of_equivalent_atoms(self, model, methane):
        frame = methane.test[1]
        perm = np.array([0, 3, 1, 4, 2])  # a cyclic swap of three hydrogens
        swapped = Atoms(frame.numbers, frame.positions[perm])
        before, after = model.predict([frame]), model.predict([swapped])
        np.testing.assert_allclose(after.energy_eV, before.energy_eV, rtol=0, atol=1e-9)
        np.testing.assert_allclose(after.forces_eV_per_A[0], before.forces_eV_per_A[0][perm], atol=1e-8)
        np.testing.assert_allclose(after.forces_std_eV_per_A[0], before.forces_std_eV_per_A[0][perm], atol=1e-7)

    def test_nve_md_conserves_energy(self, model, methane):
        """VelocityVerlet (``md_steps`` of ``md_timestep_fs``): the total energy must not drift (0.1 meV/atom)."""
        atoms = Atoms(methane.train[0].numbers, methane.train[0].positions)
        atoms.calc = model.calculator()
        thermalize_momenta(atoms, 300, rng=np.random.default_rng(5))
        Stationary(atoms)
        ZeroRotation(atoms)
        dyn = VelocityVerlet(atoms, timestep=self.md_timestep_fs * units.fs)
        totals = []
        dyn.attach(lambda: totals.append(atoms.get_total_energy()), interval=10)
        dyn.run(self.md_steps)
        totals = np.array(totals)
        window = len(totals) // 10
        drift = abs(totals[-window:].mean() - totals[:window].mean()) / len(atoms)
        assert drift < MD_DRIFT_BOUND_EV_PER_ATOM
        assert np.ptp(totals) / len(atoms) < 5e-3

    def test_uncertainty_small_at_training_points_and_grows_away(self, model, methane):
        at_training = model.predict(methane.train).forces_std_eV_per_A.mean()
        rng = np.random.default_rng(11)
        base = methane.train[2].positions
        direction = rng.normal(size=base.shape)
        direction /= np.linalg.norm(direction)
        amplitudes = [0.0, 0.05, 0.2, 0.5]
        stds = [
            model.predict([Atoms(methane.train[2].numbers, base + a * direction)]).forces_std_eV_per_A.mean()
            for a in amplitudes
        ]
        assert np.all(np.diff(stds) > 0), stds
        held_out = model.predict(methane.test).forces_std_eV_per_A.mean()
        assert at_training < held_out
        energy_std = model.predict([Atoms(methane.train[2].numbers, base + 0.5 * direction)]).energy_std_eV[0]
        assert energy_std > model.predict(methane.train[2:3]).energy_std_eV[0]

    def test_accuracy_on_held_out_structures(self, model, methane):
        prediction = model.predict(methane.test)
        reference = np.array([f.get_forces() for f in methane.test])
        mae = np.abs(prediction.forces_eV_per_A - reference).mean()
        assert mae < 0.02 * np.abs(reference).mean()

    # ---- interface -------------------------------------------------------------------------
    def test_prediction_shapes(self, model, methane):
        prediction = model.predict(methane.test[:4])
        assert prediction.energy_eV.shape == (4,)
        assert prediction.forces_eV_per_A.shape == (4, 5, 3)
        assert prediction.energy_std_eV.shape == (4,)
        assert prediction.forces_std_eV_per_A.shape == (4, 5)
        assert np.all(prediction.forces_std_eV_per_A > 0)

    def test_calculator(self, model, methane):
        atoms = Atoms(methane.test[0].numbers, methane.test[0].positions)
        atoms.calc = model.calculator()
        prediction = model.predict(methane.test[:1])
        assert atoms.get_potential_energy() == pytest.approx(prediction.energy_eV[0], abs=1e-10)
        np.testing.assert_allclose(atoms.get_forces(), prediction.forces_eV_per_A[0], atol=1e-10)
        assert atoms.calc.get_property("energy_std", atoms) == pytest.approx(prediction.energy_std_eV[0])
        forces_std = atoms.calc.get_property("forces_std", atoms)
        assert forces_std.shape == (5,)
        np.testing.assert_allclose(forces_std, prediction.forces_std_eV_per_A[0], atol=1e-12)

    def test_calculator_without_uncertainty_predicts_the_same_mean_only(self, model, methane):
        atoms = Atoms(methane.test[0].numbers, methane.test[0].positions)
        atoms.calc = model.calculator()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = model.calculator(uncertainty=False)  # a GP sums in another order (NumPy, one structure)
        assert atoms.get_potential_energy() == pytest.approx(energy, abs=1e-9)
        np.testing.assert_allclose(atoms.get_forces(), forces, atol=1e-10)
        assert set(atoms.calc.results) == {"energy", "free_energy", "forces"}
        with pytest.raises(PropertyNotImplementedError):
            atoms.calc.get_property("forces_std", atoms)

    def test_calculator_gives_the_uncertainty_on_request(self, model, methane):
        """``uncertainty="on_request"``: energy and forces alone, the std only when asked for."""
        eager = Atoms(methane.test[0].numbers, methane.test[0].positions)
        eager.calc = model.calculator()
        atoms = eager.copy()
        atoms.calc = model.calculator(uncertainty="on_request")
        np.testing.assert_allclose(atoms.get_forces(), eager.get_forces(), atol=1e-10)
        assert set(atoms.calc.results) == {"energy", "free_energy", "forces"}
        std = atoms.calc.get_property("forces_std", atoms)
        np.testing.assert_allclose(std, eager.calc.get_property("forces_std", eager), atol=1e-12)
        assert atoms.calc.get_property("energy_std", atoms) == pytest.approx(eager.calc.results["energy_std"])
        atoms.positions[1, 2] += 0.05  # moved: the next forces come without the old std
        eager.positions[1, 2] += 0.05
        np.testing.assert_allclose(atoms.get_forces(), eager.get_forces(), atol=1e-10)
        assert "forces_std" not in atoms.calc.results
        moved_std = atoms.calc.get_property("forces_std", atoms)
        np.testing.assert_allclose(moved_std, eager.calc.get_property("forces_std", eager), atol=1e-12)
        assert not np.allclose(moved_std, std)
        with pytest.raises(ValueError, match="on_request"):
            model.calculator(uncertainty="sometimes")

    def test_calculator_recomputes_exactly_when_the_structure_changes(self, model, methane):
        atoms = Atoms(methane.test[0].numbers, methane.test[0].positions)
        atoms.calc = model.calculator()
        first = atoms.get_potential_energy()
        assert atoms.calc.check_state(atoms) == []
        atoms.set_initial_charges([0.1] * 5)  # not read by the model: no recalculation
        assert atoms.calc.check_state(atoms) == []
        atoms.positions[0, 0] += 1e-6
        assert atoms.calc.check_state(atoms) == ["positions"]
        assert atoms.get_potential_energy() != first
        atoms.cell = [10.0, 10.0, 10.0]
        assert atoms.calc.check_state(atoms) == ["cell"]
        atoms.numbers = atoms.numbers[::-1]
        assert "numbers" in atoms.calc.check_state(atoms)

    def test_hyperparameters_and_report(self, model):
        assert model.force_noise_eV_per_A > 0
        json.dumps(model.hyperparameters)
        report = model.fit_report
        assert report is not None
        assert report.n_structures == 30
        assert report.fit_time_s > 0
        assert report.solver
        json.dumps(report.to_dict())

    def test_descriptor(self, model, methane):
        descriptors = model.descriptor(methane.test[:3])
        assert descriptors.shape == (3, 10)
        assert np.isfinite(descriptors).all()

    def test_save_load_gives_identical_predictions(self, model, methane, tmp_path: Path):
        model.training_ids = list(range(100, 130))
        model.level_of_theory = {"code": "pyscf", "method": "HF", "basis": "sto-3g", "hash": "abc123"}
        model.metadata = {"note": "test"}
        path = model.save(tmp_path / "model.pt")
        loaded = load_model(path)
        assert type(loaded) is type(model)
        assert loaded.training_ids == model.training_ids
        assert loaded.level_of_theory == model.level_of_theory
        assert loaded.metadata == {"note": "test"}
        assert loaded.hyperparameters == model.hyperparameters
        before, after = model.predict(methane.test), loaded.predict(methane.test)
        for name in ("energy_eV", "forces_eV_per_A", "energy_std_eV", "forces_std_eV_per_A"):
            np.testing.assert_array_equal(getattr(after, name), getattr(before, name))
        model.level_of_theory = None

    # ---- bad inputs ------------------------------------------------------------------------
    def test_refuses_wrong_molecule(self, model, water):
        with pytest.raises(ModelInputError, match="H2O"):
            model.predict(water[:1])
        atoms = water[0].copy()
        atoms.calc = model.calculator()
        with pytest.raises(ModelInputError, match="CH4"):
            atoms.get_potential_energy()

    def test_refuses_nan_positions(self, model, methane):
        atoms = Atoms(methane.test[0].numbers, methane.test[0].positions)
        atoms.positions[2, 1] = np.nan
        with pytest.raises(ModelInputError, match="atom 2 has non-finite"):
            model.predict([atoms])
        atoms.calc = model.calculator()
        with pytest.raises(ModelInputError, match="non-finite"):
            atoms.get_forces()

    def test_fit_refuses_empty_data(self):
        with pytest.raises(ModelInputError, match="no training structures"):
            self.make_model().fit([])

    def test_fit_refuses_unlabelled_frames(self, methane):
        frames = [*methane.train[:3], Atoms(methane.train[3].numbers, methane.train[3].positions)]
        with pytest.raises(ModelInputError, match="frame 3 has no reference energy"):
            self.make_model().fit(frames)

    def test_fit_refuses_mixed_molecules(self, methane, water):
        with pytest.raises(ModelInputError, match="frame 3 is H2O"):
            self.make_model().fit([*methane.train[:3], water[0]])

    def test_fit_refuses_nan_positions(self, methane):
        frame = methane.train[1].copy()
        frame.calc = methane.train[1].calc
        frame.positions[0, 0] = np.inf
        with pytest.raises(ModelInputError, match="frame 1: atom 0"):
            self.make_model().fit([methane.train[0], frame])

    # ---- levels of theory ------------------------------------------------------------------
    def test_fit_refuses_mixed_levels_of_theory(self, methane):
        frames = with_level(methane.train[:3], "aaaa") + with_level(methane.train[3:6], "bbbb")
        with pytest.raises(ModelInputError, match="mix levels of theory"):
            self.make_model().fit(frames)

    def test_fit_refuses_frames_of_another_level(self, methane):
        model = self.make_model()
        model.level_of_theory = {"code": "pyscf", "method": "HF", "basis": "sto-3g", "hash": "aaaa"}
        with pytest.raises(ModelInputError, match="bbbb"):
            model.fit(with_level(methane.train[:4], "bbbb"))

    def test_check_level_refuses_other_model_and_frames(self, model, methane):
        other = self.make_model()
        other.level_of_theory = {"code": "pyscf", "method": "PBE", "basis": "def2-svp", "hash": "cccc"}
        model.level_of_theory = {"code": "pyscf", "method": "HF", "basis": "sto-3g", "hash": "dddd"}
        try:
            with pytest.raises(ModelInputError, match="cccc"):
                model.check_level(other)
            with pytest.raises(ModelInputError, match="eeee"):
                model.check_level(with_level(methane.test[:2], "eeee"))
            model.check_level(with_level(methane.test[:2], "dddd"))
        finally:
            model.level_of_theory = None
