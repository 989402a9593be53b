"""Finding oracles by name and rebuilding them from a stored level of theory."""

from __future__ import annotations

from importlib import metadata

import pytest

from alforge.errors import OracleSetupError
from alforge.oracles import (
    ASEOracle,
    LevelOfTheory,
    PySCFOracle,
    available_oracles,
    get_oracle,
    oracle_from_level,
)


def test_builtin_oracles_are_available() -> None:
    assert {"pyscf", "ase"} <= set(available_oracles())


def test_entry_points_declare_the_builtins() -> None:
    declared = {ep.name: ep.value for ep in metadata.entry_points(group="alforge.oracles")}
    assert declared["pyscf"] == "alforge.oracles.pyscf_oracle:PySCFOracle"
    assert declared["ase"] == "alforge.oracles.ase_oracle:ASEOracle"


def test_get_oracle_by_name_with_settings() -> None:
    oracle = get_oracle("PySCF", method="PBE", basis="def2-svp", spin=1)
    assert isinstance(oracle, PySCFOracle)
    assert oracle.level_of_theory.describe() == "pyscf PBE/def2-svp (charge 0, spin 1)"
    emt = get_oracle("ase:EMT")
    assert isinstance(emt, ASEOracle)
    assert emt.level_of_theory.code == "ase:EMT"


def test_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(OracleSetupError, match=r"unknown oracle 'gaussian'; known oracles: .*ase.*pyscf"):
        get_oracle("gaussian")


def test_unknown_setting_lists_the_accepted_ones() -> None:
    with pytest.raises(OracleSetupError, match=r"oracle 'pyscf' has no setting 'functional'; its settings are: method"):
        get_oracle("pyscf", functional="PBE")


@pytest.mark.parametrize(
    "oracle",
    [
        PySCFOracle(method="HF", basis="sto-3g", spin=2, wall_time_s=10, threads=2),
        PySCFOracle(method="B3LYP", basis="def2-svp", density_fit=True, grid_level=4, conv_tol=1e-8),
        ASEOracle("LennardJones", sigma=2.5, epsilon=0.1, rc=6.0),
    ],
    ids=["pyscf-hf", "pyscf-dft", "ase-lj"],
)
def test_oracle_is_rebuilt_from_its_stored_level(oracle: PySCFOracle | ASEOracle) -> None:
    stored = LevelOfTheory.from_dict(oracle.level_of_theory.to_dict())
    rebuilt = oracle_from_level(stored)
    assert type(rebuilt) is type(oracle)
    assert rebuilt.level_of_theory == oracle.level_of_theory


def test_rebuilding_a_level_this_version_cannot_reproduce_fails_clearly() -> None:
    level = PySCFOracle().level_of_theory
    tampered = LevelOfTheory.from_dict({**level.to_dict(), "settings": {**level.settings, "reference": "ROHF"}})
    with pytest.raises(OracleSetupError, match="gave a different level of theory"):
        oracle_from_level(tampered)
    with pytest.raises(OracleSetupError, match="unknown oracle 'orca'"):
        oracle_from_level(LevelOfTheory(code="orca", method="HF"))
