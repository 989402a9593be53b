"""Geometry checks, the level of theory's contents, the guess cache and the OracleResult contract."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from alforge.errors import OracleInputError, OracleRunError
from alforge.oracles import OracleResult, PySCFOracle
from alforge.oracles.checks import check_geometry, problem_with_labels
from alforge.oracles.guess_cache import GuessCache


def test_periodic_images_count_as_neighbours() -> None:
    atoms = Atoms("H2", positions=[(0.1, 0, 0), (4.85, 0, 0)], cell=[5.0, 5.0, 5.0], pbc=True)
    with pytest.raises(OracleInputError, match=r"atoms 0 and 1 are 0\.25 Å apart"):
        check_geometry(atoms, min_distance_A=0.5)
    atoms.pbc = False  # 4.75 Å apart without periodic images
    check_geometry(atoms, min_distance_A=0.5)


def test_reasonable_structures_pass() -> None:
    check_geometry(bulk("Cu", cubic=True), min_distance_A=0.5)
    check_geometry(Atoms("H"), min_distance_A=0.5)


def test_empty_structure_is_refused() -> None:
    with pytest.raises(OracleInputError, match="structure has no atoms"):
        check_geometry(Atoms(), min_distance_A=0.5)


def test_problem_with_labels() -> None:
    atoms = Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.74)])
    assert problem_with_labels(-1.0, np.array([[0, 0, 1.0], [0, 0, -1.0]]), atoms) is None
    assert "expected (2, 3)" in problem_with_labels(-1.0, np.zeros((3, 3)), atoms)
    assert "NaN" in problem_with_labels(-1.0, np.full((2, 3), np.nan), atoms)
    assert "net force 2 eV/Å" in problem_with_labels(-1.0, np.array([[0, 0, 1.0], [0, 0, 1.0]]), atoms)


def test_level_of_theory_holds_every_number_changing_setting_and_nothing_else() -> None:
    base = PySCFOracle(method="PBE", basis="def2-svp")
    settings = base.level_of_theory.settings
    assert set(settings) == {"reference", "density_fit", "dispersion", "grid_level", "grid_response", "conv_tol"}
    json.dumps(base.level_of_theory.to_dict())
    same = PySCFOracle(
        method="pbe", basis="DEF2-SVP", threads=2, wall_time_s=5, reuse_guess=False, min_distance_A=0.3, max_cycle=7
    )
    assert same.level_of_theory.hash == base.level_of_theory.hash
    for changed in (
        {"density_fit": True},
        {"grid_level": 4},
        {"grid_response": False},
        {"conv_tol": 1e-7},
        {"spin": 2},
        {"charge": 2},
    ):
        other = PySCFOracle(method="PBE", basis="def2-svp", **changed)  # type: ignore[arg-type]
        assert other.level_of_theory.hash != base.level_of_theory.hash, changed
    hf = PySCFOracle(method="HF", grid_level=5).level_of_theory
    assert hf.settings["grid_level"] is None  # no grid in Hartree-Fock
    assert hf.hash == PySCFOracle(method="HF", grid_level=3).level_of_theory.hash


def test_guess_cache_offers_the_nearest_same_composition_structure() -> None:
    cache = GuessCache(max_entries=2, max_rmsd_A=0.1)
    positions = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.74]])
    cache.store([1, 1], positions, (np.full((2, 1), 1.0),))
    shift = np.array([0.0, 0.0, 0.01])
    cache.store([1, 1], positions + 5 * shift, (np.full((2, 1), 2.0),))
    guess, rmsd = cache.nearest([1, 1], positions + 4 * shift)
    assert guess[0][0, 0] == 2.0
    assert rmsd == pytest.approx(0.01)
    assert cache.nearest([1, 3], positions) is None  # other atoms
    assert cache.nearest([1, 1], positions + 0.5) is None  # too far
    cache.store([1, 1], positions + 1.0, (np.zeros((2, 1)),))
    assert len(cache) == 2  # the oldest was dropped


def test_result_raise_for_status() -> None:
    level = PySCFOracle().level_of_theory
    bad = OracleResult.quarantined("wall time 5 s exceeded", level=level, wall_time_s=5.0)
    assert not bad.ok
    with pytest.raises(OracleRunError, match="wall time 5 s exceeded"):
        bad.raise_for_status()
