"""The ``[model]`` section: one spec class per kind, option checks, hyperparameter round trips, labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

from alforge.config import CampaignSpec
from alforge.errors import ModelInputError, SpecError
from alforge.model_spec import (
    CommitteeModelSpec,
    GPModelSpec,
    LocalModelSpec,
    parse_model_spec,
    with_settings,
)
from alforge.models import CommitteePotential, GPPotential, LocalGPPotential

# small and fast versions of each kind (the methane fixture has 30 real RHF/STO-3G structures)
SMALL = {
    "gp": {"kind": "gp", "options": {"max_iterations": 10}},
    "committee": {"kind": "committee", "committee_size": 3, "options": {"max_iterations": 10}},
    "local": {
        "kind": "local",
        "options": {"pair_cutoff_A": 3.5, "max_iterations": 10, "n_pair_inducing": 16, "n_triplet_inducing": 24},
    },
}


def info_labelled(frames: list[Atoms], energy_key: str = "energy", forces_key: str = "forces") -> list[Atoms]:
    """Copies with the labels in ``info[energy_key]`` / ``arrays[forces_key]`` and no calculator."""
    out = []
    for frame in frames:
        copy = Atoms(frame.numbers, frame.positions)
        copy.info[energy_key] = frame.get_potential_energy()
        copy.arrays[forces_key] = frame.get_forces()
        out.append(copy)
    return out


# ---- parsing ---------------------------------------------------------------------------------
def test_kind_picks_the_class_and_gp_is_the_default():
    assert isinstance(parse_model_spec({}), GPModelSpec)
    assert isinstance(parse_model_spec({"kind": "committee"}), CommitteeModelSpec)
    assert isinstance(parse_model_spec({"kind": "local"}), LocalModelSpec)
    spec = CampaignSpec.from_dict({"name": "a", "system": {"molecule": "H2O"}, "model": {"kind": "local"}})
    assert isinstance(spec.model, LocalModelSpec)


def test_stored_specs_of_the_single_class_still_load():
    """A campaign stored before the kinds had classes dumped every key; resuming it must work."""
    old = {"kernel": "matern52", "hyperparameters": "fit", "committee_size": 4, "options": {}}
    assert parse_model_spec({"kind": "gp", **old}).kind == "gp"
    assert parse_model_spec({"kind": "local", **old}).kind == "local"
    committee = parse_model_spec({"kind": "committee", **old, "committee_size": 6})
    assert committee.options.n_members == 6


def test_json_dump_round_trips():
    for data in SMALL.values():
        spec = parse_model_spec(data)
        assert parse_model_spec(spec.model_dump(mode="json")) == spec


@pytest.mark.parametrize(
    ("data", "names"),
    [
        ({"kind": "local", "options": {"cutoff": 5.0}}, ["'cutoff'", "pair_cutoff_A"]),
        ({"kind": "gp", "options": {"n_members": 4}}, ["'n_members'", "max_iterations"]),
        ({"kind": "committee", "options": {"pair_cutoff_A": 4}}, ["'pair_cutoff_A'", "n_members"]),
        ({"kind": "local", "kernel": "rbf"}, ["'kernel'", "options"]),
        ({"kind": "gp", "size": 4}, ["'size'", "kernel"]),
        ({"kind": "gp", "kernel": "cosine"}, ["kernel", "matern52"]),
        ({"kind": "committee", "committee_size": 3, "options": {"n_members": 5}}, ["committee_size=3", "n_members=5"]),
        ({"kind": "local", "options": {"pair_cutoff_A": 3.0, "triplet_cutoff_A": 4.0}}, ["triplet_cutoff_A=4.0"]),
        ({"kind": "gp", "hyperparameters": {"lengthscale_per_A": 1.0}}, ["force_noise_eV_per_A", '"fit"']),
        ({"kind": "neural"}, ["gp, committee or local"]),
    ],
)
def test_bad_options_name_the_option_and_the_choices(data, names):
    with pytest.raises(SpecError) as error:
        parse_model_spec(data)
    message = str(error.value)
    assert "\n" not in message
    for name in names:
        assert name in message, message
    with pytest.raises(SpecError, match="model"):
        CampaignSpec.from_dict({"name": "a", "system": {"molecule": "H2O"}, "model": data})


def test_settings_are_typed_by_the_spec():
    local = with_settings(parse_model_spec({"kind": "local"}), ["pair_cutoff_A=8.5", "three_body=false"])
    assert local.options.pair_cutoff_A == 8.5
    assert local.options.three_body is False
    committee = with_settings(parse_model_spec({"kind": "committee"}), ["n_members=8", "kernel=rbf"])
    assert committee.options.n_members == 8
    assert committee.kernel == "rbf"
    gp = with_settings(parse_model_spec({"kind": "gp"}), ["variance_rank=exact"])
    assert gp.build(device="cpu").variance_rank is None
    with pytest.raises(SpecError, match=r"--set pair_cutoff_A: not an option of a gp model; valid choices: .*kernel"):
        with_settings(parse_model_spec({"kind": "gp"}), ["pair_cutoff_A=8.5"])
    with pytest.raises(SpecError, match="greater than or equal to 2"):
        with_settings(parse_model_spec({"kind": "committee"}), ["n_members=1"])
    with pytest.raises(SpecError, match="KEY=VALUE"):
        with_settings(parse_model_spec({"kind": "committee"}), ["n_members"])


# ---- building ---------------------------------------------------------------------------------
def test_each_kind_builds_its_potential_with_the_compute_settings():
    gp = parse_model_spec({"kind": "gp", "kernel": "rbf"}).build(device="cpu", dtype="float32", seed=7)
    assert isinstance(gp, GPPotential)
    assert (gp.kernel_name, gp.dtype, gp.seed) == ("rbf", torch.float32, 7)
    local = parse_model_spec({"kind": "local", "options": {"pair_cutoff_A": 6.0}}).build(device="cpu")
    assert isinstance(local, LocalGPPotential)
    assert local.pair_cutoff_A == 6.0


def test_committee_members_honour_device_and_dtype(methane):
    committee = parse_model_spec({"kind": "committee", "committee_size": 2, "options": {"max_iterations": 5}}).build(
        device="cpu", dtype="float32", seed=3
    )
    assert isinstance(committee, CommitteePotential)
    committee.fit(methane.train[:8])
    assert len(committee.members) == 2
    for member in committee.members:
        assert member.dtype == torch.float32
        assert member.device == torch.device("cpu")
        assert member.posterior.weights.dtype == torch.float32
    assert committee.predict(methane.test[:2]).forces_eV_per_A.shape == (2, 5, 3)


# ---- hyperparameters round trip ----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["gp", "committee", "local"])
def test_fitted_hyperparameters_pasted_into_the_spec_give_the_same_model(kind, methane):
    spec = parse_model_spec(SMALL[kind])
    model = spec.build(device="cpu", seed=2)
    model.fit(methane.train[:14])
    assert spec.hyperparameters == "fit"
    pasted = parse_model_spec({**SMALL[kind], "hyperparameters": model.hyperparameters})
    again = pasted.build(device="cpu", seed=2)
    again.fit(methane.train[:14])
    first, second = model.predict(methane.test), again.predict(methane.test)
    np.testing.assert_allclose(second.energy_eV, first.energy_eV, rtol=0, atol=1e-8)
    np.testing.assert_allclose(second.forces_eV_per_A, first.forces_eV_per_A, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(second.forces_std_eV_per_A, first.forces_std_eV_per_A, rtol=1e-6, atol=1e-10)
    assert again.fit_report.n_hyperparameter_structures == 0  # nothing was searched


def test_pasted_hyperparameters_bring_their_kernel():
    hyper = {"kernel": "rbf", "lengthscale_per_A": 1.0, "signal_variance_eV2": 1.0, "energy_noise_eV": 0.01,
             "force_noise_eV_per_A": 0.01}
    assert parse_model_spec({"kind": "gp", "hyperparameters": hyper}).kernel == "rbf"
    with pytest.raises(SpecError, match="give one kernel"):
        parse_model_spec({"kind": "gp", "kernel": "matern52", "hyperparameters": hyper})


# ---- warm start in campaigns --------------------------------------------------------------------
def test_warm_start_reuses_the_previous_hyperparameters_between_full_searches():
    spec = parse_model_spec({"kind": "gp", "search_every": 3})
    previous = {"kernel": "matern52", "lengthscale_per_A": 1.0, "signal_variance_eV2": 2.0, "energy_noise_eV": 0.01,
                "force_noise_eV_per_A": 0.02, "calibration": 1.7}
    assert spec.warm_start(None, 1, [])[0] is None
    hyper, reason = spec.warm_start(previous, 1, [0.2])
    assert hyper is not None
    assert "calibration" not in hyper
    assert hyper["lengthscale_per_A"] == 1.0
    assert "warm" in reason
    assert spec.warm_start(previous, 3, [0.2, 0.1])[0] is None  # every third generation
    hyper, reason = spec.warm_start(previous, 4, [0.1, 0.15])
    assert hyper is None
    assert "grew" in reason
    assert spec.warm_start(previous, 5, [0.2, 0.1])[0] is not None
    broken = {"lengthscale_per_A": 1.0}
    assert spec.warm_start(broken, 1, [])[0] is None
    fixed = parse_model_spec({"kind": "gp", "hyperparameters": previous})
    assert fixed.warm_start(previous, 1, [])[0] is None


# ---- labels where ASE users keep them -----------------------------------------------------------
@pytest.mark.parametrize("kind", ["gp", "committee", "local"])
def test_labels_from_info_and_arrays_equal_labels_from_a_calculator(kind, methane):
    frames = methane.train[:10]
    assert isinstance(frames[0].calc, SinglePointCalculator)
    spec = parse_model_spec(SMALL[kind])
    from_calc = spec.build(device="cpu")
    from_calc.fit(frames)
    from_info = spec.build(device="cpu")
    from_info.fit(info_labelled(frames))
    custom = spec.build(device="cpu")
    custom.fit(info_labelled(frames, "REF_energy", "REF_forces"), energy_key="REF_energy", forces_key="REF_forces")
    expected = from_calc.predict(methane.test[:3]).forces_eV_per_A
    for model in (from_info, custom):
        np.testing.assert_allclose(model.predict(methane.test[:3]).forces_eV_per_A, expected, rtol=1e-9, atol=1e-10)


def test_missing_labels_name_the_keys(methane):
    frames = info_labelled(methane.train[:4], "REF_energy", "REF_forces")
    with pytest.raises(ModelInputError, match="frame 0 has no reference energy 'energy' and forces 'forces'"):
        GPPotential().fit(frames)
    with pytest.raises(ModelInputError, match="forces 'F'"):
        LocalGPPotential(pair_cutoff_A=3.0).fit(frames, energy_key="REF_energy", forces_key="F")
    frames[1].arrays["REF_forces"] = frames[1].arrays["REF_forces"][:, :2].copy()
    with pytest.raises(ModelInputError, match="frame 1"):
        GPPotential().fit(frames, energy_key="REF_energy", forces_key="REF_forces")
