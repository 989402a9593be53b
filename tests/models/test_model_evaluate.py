"""evaluate(): the scores the CLI reports."""

from __future__ import annotations

import json

import pytest

from alforge.errors import ModelInputError
from alforge.models import GPPotential, evaluate


@pytest.fixture(scope="module")
def small_model(methane) -> GPPotential:
    model = GPPotential(max_iterations=10)
    model.fit(methane.train[:20])
    return model


def test_scores(small_model, methane):
    scores = evaluate(small_model, methane.test)
    json.dumps(scores)
    assert scores["n_structures"] == len(methane.test)
    assert 0 < scores["force_mae_eV_per_A"] <= scores["force_rmse_eV_per_A"]
    assert 0 < scores["energy_mae_eV"] <= scores["energy_rmse_eV"]
    assert 0 <= scores["within_1sigma"] <= scores["within_2sigma"] <= 1
    assert -1 <= scores["spearman_std_error"] <= 1
    assert scores["predict_ms_per_structure"] > 0


def test_refuses_unlabelled_frames(small_model, methane):
    from ase import Atoms

    with pytest.raises(ModelInputError, match="no reference energy"):
        evaluate(small_model, [Atoms(methane.test[0].numbers, methane.test[0].positions)])
