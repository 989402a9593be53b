"""The committee: the shared potential tests plus committee-specific ones."""

from __future__ import annotations

import numpy as np
import pytest
from base_potential_test_case import BasePotentialTestCase, with_level

from alforge.errors import ModelError, ModelInputError
from alforge.models import CommitteePotential, GPPotential, Potential


class TestCommitteePotential(BasePotentialTestCase):
    def make_model(self) -> Potential:
        return CommitteePotential(n_members=3, member_options={"max_iterations": 15}, seed=0)

    def test_members_share_hyperparameters_and_are_calibrated(self, model):
        hyper = model.hyperparameters
        assert hyper["n_members"] == 3
        lengthscales = {m["lengthscale_per_A"] for m in hyper["members"]}
        assert len(lengthscales) == 1
        assert 0.01 < model.calibration < 100
        assert model.fit_report.members[1].n_hyperparameter_structures == 0
        assert model.fit_report.solver == "committee"

    def test_mean_is_the_members_mean(self, model, methane):
        prediction = model.predict(methane.test[:2])
        members = [m.predict(methane.test[:2]) for m in model.members]
        np.testing.assert_allclose(prediction.energy_eV, np.mean([p.energy_eV for p in members], axis=0))
        spread = np.std([p.energy_eV for p in members], axis=0, ddof=1)
        np.testing.assert_allclose(prediction.energy_std_eV, model.calibration * spread)


def test_pluggable_members(methane):
    def factory(index: int) -> Potential:
        return GPPotential("rbf" if index % 2 else "matern52", max_iterations=5, seed=index)

    committee = CommitteePotential(n_members=2, member_factory=factory, share_hyperparameters=False)
    committee.fit(methane.train[:12])
    assert [m.hyperparameters["kernel"] for m in committee.members] == ["matern52", "rbf"]


def test_from_members_refuses_mixed_levels_and_molecules(methane, water):
    a = GPPotential(max_iterations=5)
    a.fit(with_level(methane.train[:6], "aaaa"))
    b = GPPotential(max_iterations=5)
    b.fit(with_level(methane.train[6:12], "bbbb"))
    with pytest.raises(ModelInputError, match="bbbb"):
        CommitteePotential.from_members([a, b])
    c = GPPotential(max_iterations=5)
    c.fit(water)
    with pytest.raises(ModelInputError, match="same molecule"):
        CommitteePotential.from_members([a, c])
    same = GPPotential(max_iterations=5)
    same.fit(with_level(methane.train[12:18], "aaaa"))
    committee = CommitteePotential.from_members([a, same])
    assert committee.level_hash == "aaaa"
    with pytest.raises(ModelInputError, match="bbbb"):
        committee.check_level(with_level(methane.train[:4], "bbbb"))


def test_needs_two_members():
    with pytest.raises(ModelError, match="at least 2 members"):
        CommitteePotential(n_members=1)
