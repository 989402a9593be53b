"""Local (two- and three-body) GP potential: physics against analytic potentials, any atom count.

The shared :class:`BasePotentialTestCase` assumes one molecule in a fixed atom order (methane,
descriptor of size 10, a fixed-molecule calculator check), so the local model gets equivalent
tests here on Lennard-Jones and Stillinger–Weber systems whose atom count varies.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from scipy.spatial.transform import Rotation

from alforge.data import labelled
from alforge.errors import ModelError, ModelInputError
from alforge.models.local.local_gp_potential import LocalGPPotential
from alforge.models.model_file import read_model_file
from alforge.models.registry import KINDS, load_model
from tests.support.reference_potentials import (
    ARGON_SIGMA_A,
    lennard_jones_oracle,
    random_structures,
    stillinger_weber_oracle,
)

torch.set_num_threads(1)

SIGMA_AR_A = ARGON_SIGMA_A
LJ_CUTOFF_A = 2.5 * SIGMA_AR_A
SW_CUTOFF_A = 3.9  # Stillinger–Weber's own cutoff a·σ is 3.77 Å


@pytest.fixture(scope="module")
def lj_data() -> tuple[list[Atoms], list[Atoms]]:
    """100 training and 20 held-out periodic argon boxes of 8, 12 or 16 atoms (ASE Lennard-Jones labels)."""
    frames = random_structures(
        lennard_jones_oracle(cutoff_A=LJ_CUTOFF_A),
        120,
        n_atoms=[8, 12, 16],
        density_per_A3=0.5 / SIGMA_AR_A**3,
        min_distance_A=0.9 * SIGMA_AR_A,
        symbol="Ar",
        periodic=True,
        seed=0,
    )
    return frames[:100], frames[100:]


@pytest.fixture(scope="module")
def lj_model(lj_data) -> LocalGPPotential:
    model = LocalGPPotential(
        three_body=False,
        pair_cutoff_A=LJ_CUTOFF_A,
        n_pair_inducing=64,
        n_hyperparameter_structures=12,
        max_iterations=20,
        min_energy_noise_eV=1e-8,
        min_force_noise_eV_per_A=1e-8,
    )
    model.fit(lj_data[0])
    return model


@pytest.fixture(scope="module")
def sw_data() -> tuple[list[Atoms], list[Atoms]]:
    """40 training and 15 held-out periodic silicon boxes of 8 or 12 atoms (matscipy Stillinger–Weber labels)."""
    frames = random_structures(
        stillinger_weber_oracle(),
        55,
        n_atoms=[8, 12],
        density_per_A3=0.045,
        min_distance_A=2.1,
        symbol="Si",
        periodic=True,
        seed=1,
    )
    return frames[:40], frames[40:]


def _sw_model(three_body: bool) -> LocalGPPotential:
    return LocalGPPotential(
        three_body=three_body,
        pair_cutoff_A=SW_CUTOFF_A,
        triplet_cutoff_A=SW_CUTOFF_A,
        n_pair_inducing=24,
        n_triplet_inducing=64,
        n_hyperparameter_structures=10,
        max_iterations=15,
        min_energy_noise_eV=1e-5,
        min_force_noise_eV_per_A=1e-5,
    )


@pytest.fixture(scope="module")
def sw_models(sw_data) -> dict[str, LocalGPPotential]:
    models = {"two": _sw_model(False), "three": _sw_model(True)}
    for model in models.values():
        model.fit(sw_data[0])
    return models


def _forces(frames: list[Atoms]) -> np.ndarray:
    return np.concatenate([f.get_forces().ravel() for f in frames])


def _predicted_forces(model: LocalGPPotential, frames: list[Atoms]) -> np.ndarray:
    return np.concatenate([p.forces_eV_per_A.ravel() for p in model.predict_each(frames)])


def _numeric_forces(model: LocalGPPotential, atoms: Atoms, step_A: float = 1e-4) -> np.ndarray:
    numeric = np.zeros((len(atoms), 3))
    for atom in range(len(atoms)):
        for axis in range(3):
            plus, minus = atoms.copy(), atoms.copy()
            plus.positions[atom, axis] += step_A
            minus.positions[atom, axis] -= step_A
            energies = model.predict_each([plus, minus], with_std=False)
            numeric[atom, axis] = -(energies[0].energy_eV[0] - energies[1].energy_eV[0]) / (2 * step_A)
    return numeric


# ---- accuracy against analytic potentials ---------------------------------------------------
def test_two_body_recovers_lennard_jones_forces(lj_model, lj_data):
    reference = _forces(lj_data[1])
    error = _predicted_forces(lj_model, lj_data[1]) - reference
    rms_force = np.sqrt((reference**2).mean())
    assert np.sqrt((error**2).mean()) < 1e-3 * rms_force


def test_periodic_training_transfers_to_a_cluster(lj_model):
    """A local model trained on periodic boxes predicts an open cluster of another size."""
    (cluster,) = random_structures(
        lennard_jones_oracle(cutoff_A=LJ_CUTOFF_A),
        1,
        n_atoms=[6],
        density_per_A3=0.5 / SIGMA_AR_A**3,
        min_distance_A=0.95 * SIGMA_AR_A,
        symbol="Ar",
        periodic=False,
        seed=7,
    )
    prediction = lj_model.predict([cluster])
    assert prediction.forces_eV_per_A.shape == (1, 6, 3)
    reference = cluster.get_forces()
    scale = np.sqrt((reference**2).mean())
    assert np.sqrt(((prediction.forces_eV_per_A[0] - reference) ** 2).mean()) < 1e-2 * scale


def test_three_body_learns_stillinger_weber_where_two_body_cannot(sw_models, sw_data):
    reference = _forces(sw_data[1])
    mae = {name: np.abs(_predicted_forces(m, sw_data[1]) - reference).mean() for name, m in sw_models.items()}
    assert mae["three"] < 0.25 * mae["two"], mae
    assert mae["three"] < 0.1 * np.abs(reference).mean(), mae


# ---- physics of the model --------------------------------------------------------------------
@pytest.mark.parametrize("which", ["lj", "sw"])
def test_forces_are_minus_the_energy_gradient(which, lj_model, lj_data, sw_models, sw_data):
    model, atoms = (lj_model, lj_data[1][0]) if which == "lj" else (sw_models["three"], sw_data[1][0])
    forces = model.predict([atoms]).forces_eV_per_A[0]
    numeric = _numeric_forces(model, atoms)
    np.testing.assert_allclose(forces, numeric, rtol=0, atol=1e-5 * np.abs(forces).max() + 1e-7)


def test_invariant_under_rotation_translation_and_permutation(sw_models, sw_data):
    model = sw_models["three"]
    frame = sw_data[1][1]
    cluster = Atoms(frame.numbers, frame.positions)  # open cluster: rotations are symmetries
    rotation = Rotation.random(random_state=3).as_matrix()
    moved = Atoms(cluster.numbers, cluster.positions @ rotation.T + [1.5, -2.0, 0.7])
    perm = np.random.default_rng(4).permutation(len(cluster))
    swapped = Atoms(cluster.numbers[perm], cluster.positions[perm])
    before, after, permuted = model.predict([cluster]), model.predict([moved]), model.predict([swapped])
    np.testing.assert_allclose(after.energy_eV, before.energy_eV, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(after.forces_eV_per_A[0], before.forces_eV_per_A[0] @ rotation.T, atol=1e-8)
    np.testing.assert_allclose(after.forces_std_eV_per_A, before.forces_std_eV_per_A, rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(permuted.energy_eV, before.energy_eV, rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(permuted.forces_eV_per_A[0], before.forces_eV_per_A[0][perm], atol=1e-8)


def test_periodic_images_are_equivalent(lj_model, lj_data):
    """Shifting every atom by a lattice vector or wrapping positions changes nothing."""
    frame = lj_data[1][2]
    shifted = Atoms(frame.numbers, frame.positions + frame.cell[0] + 0.3, cell=frame.cell, pbc=True)
    wrapped = shifted.copy()
    wrapped.wrap()
    reference = lj_model.predict([frame])
    for other in (shifted, wrapped):
        prediction = lj_model.predict([other])
        np.testing.assert_allclose(prediction.energy_eV, reference.energy_eV, rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(prediction.forces_eV_per_A, reference.forces_eV_per_A, atol=1e-9)


def test_uncertainty_small_at_training_points_and_grows_away(sw_models, sw_data):
    model = sw_models["three"]
    train, test = sw_data
    at_training = np.concatenate([p.forces_std_eV_per_A.ravel() for p in model.predict_each(train)]).mean()
    held_out = np.concatenate([p.forces_std_eV_per_A.ravel() for p in model.predict_each(test)]).mean()
    assert 0 < at_training < held_out
    base = train[3]
    direction = np.random.default_rng(11).normal(size=base.positions.shape)
    stds = [
        model.predict(
            [Atoms(base.numbers, base.positions + a * direction, cell=base.cell, pbc=True)]
        ).forces_std_eV_per_A.mean()
        for a in (0.0, 0.1, 0.3)
    ]
    assert np.all(np.diff(stds) > 0), stds


# ---- interface ---------------------------------------------------------------------------
def test_variable_atom_counts_and_predictions(lj_model, lj_data):
    frames = lj_data[1]
    assert len({len(f) for f in frames}) > 1
    with pytest.raises(ModelInputError, match="predict_each"):
        lj_model.predict(frames)
    parts = lj_model.predict_each(frames)
    for frame, part in zip(frames, parts, strict=True):
        assert part.forces_eV_per_A.shape == (1, len(frame), 3)
        assert part.forces_std_eV_per_A.shape == (1, len(frame))
        assert part.energy_std_eV[0] > 0
    assert lj_model.descriptor(frames).shape == (len(frames), lj_model.inducing.n_columns)


def test_calculator_results(sw_models, sw_data):
    model = sw_models["three"]
    frame = sw_data[1][0]
    atoms = Atoms(frame.numbers, frame.positions, cell=frame.cell, pbc=True)
    atoms.calc = model.calculator()
    prediction = model.predict([frame])
    assert atoms.get_potential_energy() == pytest.approx(prediction.energy_eV[0], abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), prediction.forces_eV_per_A[0], atol=1e-10)
    assert atoms.calc.get_property("energy_std", atoms) == pytest.approx(prediction.energy_std_eV[0])
    forces_std = atoms.calc.get_property("forces_std", atoms)
    assert forces_std.shape == (len(frame),)
    np.testing.assert_allclose(forces_std, prediction.forces_std_eV_per_A[0], atol=1e-12)
    bigger = Atoms("Si16", np.random.default_rng(2).uniform(0, 8, size=(16, 3)))
    bigger.calc = model.calculator()
    assert bigger.get_forces().shape == (16, 3)
    atoms.calc = model.calculator(uncertainty=False)  # production MD: the same mean, no variance
    assert atoms.get_potential_energy() == pytest.approx(prediction.energy_eV[0], abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), prediction.forces_eV_per_A[0], atol=1e-10)
    assert "forces_std" not in atoms.calc.results


def test_save_load_gives_identical_predictions(sw_models, sw_data, tmp_path: Path):
    assert "local" in KINDS
    model = sw_models["three"]
    model.training_ids = list(range(40))
    path = model.save(tmp_path / "local.pt")
    kind, _ = read_model_file(path)
    assert kind == "local"
    loaded = load_model(path)
    assert isinstance(loaded, LocalGPPotential)
    assert loaded.hyperparameters == model.hyperparameters
    assert loaded.training_ids == model.training_ids
    before, after = model.predict_each(sw_data[1]), loaded.predict_each(sw_data[1])
    for a, b in zip(before, after, strict=True):
        for name in ("energy_eV", "forces_eV_per_A", "energy_std_eV", "forces_std_eV_per_A"):
            np.testing.assert_array_equal(getattr(b, name), getattr(a, name))


def test_fixed_hyperparameters_reproduce_the_fit(lj_model, lj_data):
    again = LocalGPPotential(
        three_body=False,
        pair_cutoff_A=LJ_CUTOFF_A,
        n_pair_inducing=64,
        optimize=False,
        hyperparameters=lj_model.hyperparameters,
        min_energy_noise_eV=1e-8,
        min_force_noise_eV_per_A=1e-8,
    )
    again.fit(lj_data[0])
    np.testing.assert_allclose(
        again.predict(lj_data[1][:1]).forces_eV_per_A, lj_model.predict(lj_data[1][:1]).forces_eV_per_A, atol=1e-8
    )


def test_hyperparameters_and_report(sw_models):
    model = sw_models["three"]
    json.dumps(model.hyperparameters)
    report = model.fit_report
    assert report is not None
    assert report.kind == "local"
    assert report.n_structures == 40
    assert report.solver == "sparse"
    assert report.fit_time_s > 0
    assert model.force_noise_eV_per_A > 0
    json.dumps(report.to_dict())


# ---- bad inputs ------------------------------------------------------------------------------
def test_refuses_bad_inputs(lj_model, lj_data):
    with pytest.raises(ModelInputError, match="no training structures"):
        LocalGPPotential().fit([])
    unlabelled = Atoms(lj_data[0][1].numbers, lj_data[0][1].positions)
    with pytest.raises(ModelInputError, match="frame 1 has no reference energy"):
        LocalGPPotential().fit([lj_data[0][0], unlabelled])
    with pytest.raises(ModelInputError, match="not trained on"):
        lj_model.predict([Atoms("ArNe", [[0, 0, 0], [3, 0, 0]])])
    nan = Atoms("Ar2", [[0, 0, 0], [np.nan, 0, 0]])
    with pytest.raises(ModelInputError, match="non-finite"):
        lj_model.predict([nan])
    with pytest.raises(ModelError, match="triplet_cutoff_A"):
        LocalGPPotential(pair_cutoff_A=3.0, triplet_cutoff_A=4.0)


def test_refuses_mixed_levels_of_theory(lj_data):
    frames = []
    for i, frame in enumerate(lj_data[0][:4]):
        copy = labelled(frame, frame.get_potential_energy(), frame.get_forces())
        copy.info["level_of_theory_hash"] = "aaaa" if i < 2 else "bbbb"
        frames.append(copy)
    with pytest.raises(ModelInputError, match="mix levels of theory"):
        LocalGPPotential(three_body=False).fit(frames)


# ---- a campaign --------------------------------------------------------------------------------
def test_local_campaign_on_argon_clusters_of_two_sizes(e2e_db, tmp_path: Path) -> None:
    """A tiny kind="local" campaign (real Prefect, SQLite, ASE Lennard-Jones oracle) with walkers
    starting from Ar₅ and Ar₇: candidates, labels and held-out frames mix atom counts."""
    from ase.cluster import Icosahedron
    from ase.io import write

    from alforge import Campaign, CampaignSpec

    big = Icosahedron("Ar", 2)[:7]  # 7 atoms of a 13-atom icosahedron (nearest neighbours ≈ 3.7 Å)
    small = big[:5]
    start = tmp_path / "argon.extxyz"
    write(start, [small, big])
    spec = CampaignSpec.from_dict(
        {
            "name": "argon-local",
            "seed": 3,
            "system": {"structures": str(start), "seed_structures": 6, "rattle_A": 0.1},
            "oracle": {
                "name": "ase",
                "method": "LennardJones",
                "wall_time_s": 60,
                "options": {"sigma": SIGMA_AR_A, "epsilon": 0.0104, "rc": LJ_CUTOFF_A, "smooth": True},
            },
            "model": {"kind": "local", "options": {"three_body": False, "pair_cutoff_A": LJ_CUTOFF_A}},
            "exploration": {
                "walkers": 2,
                "temperatures_K": [40.0],
                "timestep_fs": 2.0,
                "steps": 40,
                "sampled_frames": 4,
            },
            "selection": {"method": "uncertainty", "threshold_eV_per_A": 0.002, "max_labels": 4},
            "validation": {"labels_per_generation": 2, "confirm_labels": 4, "confirm_steps_factor": 2},
            "stopping": {"max_labels": 24, "max_generations": 3},
            "compute": {"oracle_workers": 1, "device": "cpu"},
        }
    )
    result = Campaign(spec).run()
    assert result["state"] in ("converged", "stopped"), result
    loaded = Campaign.load("argon-local")
    metrics = [g["metrics"] for g in loaded.generations if g["metrics"]]
    assert any("force_mae_eV_per_A" in m for m in metrics), metrics
    final = [m for m in metrics if "force_mae_eV_per_A" in m][-1]
    assert np.isfinite(final["force_mae_eV_per_A"])
    calc = loaded.calculator()
    for atoms in (small.copy(), big.copy()):
        atoms.calc = calc
        assert np.isfinite(atoms.get_potential_energy())
        assert calc.results["forces_std"].shape == (len(atoms),)
        assert calc.results["energy_std"] > 0


def test_fit_and_evaluate_cli_on_frames_of_several_sizes(lj_data, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from alforge.cli import app
    from alforge.data import write_labelled

    train, test = tmp_path / "train.extxyz", tmp_path / "test.extxyz"
    write_labelled(train, lj_data[0][:12])
    write_labelled(test, lj_data[1][:6])
    runner = CliRunner()
    fitted = runner.invoke(app, ["fit", str(train), "-o", str(tmp_path / "m.pt"), "--kind", "local", "--device", "cpu"])
    assert fitted.exit_code == 0, fitted.output
    scored = runner.invoke(app, ["evaluate", str(tmp_path / "m.pt"), str(test), "--json"])
    assert scored.exit_code == 0, scored.output
    metrics = json.loads(scored.output[scored.output.index("{") :])
    assert metrics["n_structures"] == 6
    assert 0 < metrics["force_mae_eV_per_A"] < np.abs(_forces(lj_data[1][:6])).mean()


# ---- the cutoff chosen from the data ----------------------------------------------------------------
def test_cutoff_is_chosen_when_interactions_reach_beyond_the_default():
    """Argon clusters whose Lennard-Jones pairs reach 8.5 Å: 5 Å misses a tenth of the force, the
    automatic choice finds a cutoff that does not, and the fit report says which and why."""
    from alforge.models.local.cutoff import cutoff_candidates

    frames = random_structures(
        lennard_jones_oracle(cutoff_A=LJ_CUTOFF_A),
        44,
        n_atoms=[8, 12],
        density_per_A3=0.5 / SIGMA_AR_A**3,
        min_distance_A=0.9 * SIGMA_AR_A,
        symbol="Ar",
        periodic=False,
        seed=4,
    )
    train, test = frames[:32], frames[32:]
    candidates, why = cutoff_candidates(train)
    assert 5.0 in candidates
    assert max(candidates) > LJ_CUTOFF_A
    assert "largest pair distance" in why
    options = {"three_body": False, "n_hyperparameter_structures": 8, "max_iterations": 20,
               "min_energy_noise_eV": 1e-8, "min_force_noise_eV_per_A": 1e-8}
    fixed = LocalGPPotential(pair_cutoff_A=5.0, **options)
    fixed.fit(train)
    automatic = LocalGPPotential(**options)
    report = automatic.fit(train)
    assert automatic.pair_cutoff_A >= LJ_CUTOFF_A - 0.1
    assert report.notes[0].startswith(f"pair cutoff {automatic.pair_cutoff_A:g} Å chosen by held-out force MAE")
    assert automatic.hyperparameters["pair_cutoff_A"] == automatic.pair_cutoff_A
    scale = np.abs(_forces(test)).mean()
    auto_error = np.abs(_predicted_forces(automatic, test) - _forces(test)).mean() / scale
    fixed_error = np.abs(_predicted_forces(fixed, test) - _forces(test)).mean() / scale
    assert auto_error < 1e-2 < fixed_error
    assert load_model_roundtrip(automatic).pair_cutoff_A == automatic.pair_cutoff_A


def load_model_roundtrip(model: LocalGPPotential) -> LocalGPPotential:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "auto.model"
        model.save(path)
        return load_model(path)  # type: ignore[return-value]


def test_small_molecules_take_the_cutoff_that_sees_every_pair(methane):
    model = LocalGPPotential(max_iterations=5, n_pair_inducing=8, n_triplet_inducing=8)
    report = model.fit(methane.train[:6])
    longest = max(float(np.max(np.linalg.norm(f.positions[:, None] - f.positions[None], axis=-1))) for f in
                  methane.train[:6])
    assert longest < model.pair_cutoff_A <= longest + 0.5 + 1e-6
    assert "chosen automatically" in report.notes[0]
