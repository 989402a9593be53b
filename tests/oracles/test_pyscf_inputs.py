"""Each bad input or setting gives its own clear error (what, the value, the fix)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule

from alforge.errors import OracleInputError, OracleSetupError
from alforge.oracles import PySCFOracle


def test_nan_coordinates_are_refused_and_quarantined(hf_oracle: PySCFOracle, water: Atoms) -> None:
    water.positions[1, 2] = np.nan
    with pytest.raises(OracleInputError, match=r"atom 1 has non-finite coordinates .*nan"):
        hf_oracle.validate(water)
    result = hf_oracle.compute(water)
    assert result.status == "quarantined"
    assert "non-finite coordinates" in result.error
    assert result.energy_eV is None
    assert result.forces_eV_per_A is None
    assert result.attempts == 0


def test_infinite_coordinates_are_refused(hf_oracle: PySCFOracle, water: Atoms) -> None:
    water.positions[0, 0] = np.inf
    with pytest.raises(OracleInputError, match="atom 0 has non-finite"):
        hf_oracle.validate(water)


@pytest.mark.parametrize("distance_A", [0.0, 0.02, 0.3])
def test_too_close_atoms_are_refused(hf_oracle: PySCFOracle, distance_A: float) -> None:
    atoms = Atoms("OHH", positions=[(0, 0, 0), (0.0, 0.76, 0.59), (0.0, 0.76, 0.59 + distance_A)])
    expected = rf"atoms 1 and 2 are {distance_A:.3g} Å apart \(minimum 0.5 Å\); check the structure's units"
    with pytest.raises(OracleInputError, match=expected):
        hf_oracle.validate(atoms)
    result = hf_oracle.compute(atoms)
    assert not result.ok
    assert "apart" in result.error


def test_structure_in_wrong_units_is_refused(hf_oracle: PySCFOracle) -> None:
    atoms = molecule("H2O")
    atoms.positions *= 1e4
    with pytest.raises(OracleInputError, match=r"spans .* Å .*check that positions are in Å"):
        hf_oracle.validate(atoms)


def test_periodic_structure_is_refused_by_a_molecular_code(hf_oracle: PySCFOracle) -> None:
    with pytest.raises(OracleInputError, match=r"periodic .*set atoms.pbc = False"):
        hf_oracle.validate(bulk("Si"))


def test_odd_electron_count_with_spin_zero(hf_oracle: PySCFOracle) -> None:
    oh = molecule("OH")
    with pytest.raises(OracleSetupError, match=r"HO with charge 0 has 9 electrons, which cannot have spin \(2S\) 0"):
        hf_oracle.check(oh.numbers)
    with pytest.raises(OracleSetupError, match="use spin=1"):
        hf_oracle.compute(oh)  # setup errors are raised, not quarantined


def test_spin_larger_than_electron_count() -> None:
    with pytest.raises(OracleSetupError, match="2 electrons, which cannot have spin"):
        PySCFOracle(spin=4).check([1, 1])


def test_charge_leaving_no_electrons() -> None:
    with pytest.raises(OracleSetupError, match="has 0 electrons; lower the charge"):
        PySCFOracle(charge=2).check([1, 1])


def test_unknown_element(hf_oracle: PySCFOracle) -> None:
    with pytest.raises(OracleSetupError, match="atom 1 has atomic number 0, which is no element"):
        hf_oracle.check([1, 0, 1])


def test_element_without_basis_functions() -> None:
    with pytest.raises(OracleSetupError, match=r"element U \(Z=92\) has no basis functions in sto-3g"):
        PySCFOracle(basis="sto-3g").check([92, 1])
    with pytest.raises(OracleSetupError, match=r"element Au .* in 6-31g"):
        PySCFOracle(basis="6-31g").compute(Atoms("AuH", positions=[(0, 0, 0), (0, 0, 1.5)]))


def test_unknown_method() -> None:
    with pytest.raises(OracleSetupError, match=r"unknown method 'NOTAFUNCTIONAL'.* 'PBE', 'B3LYP'"):
        PySCFOracle(method="NOTAFUNCTIONAL")


def test_unknown_basis() -> None:
    with pytest.raises(OracleSetupError, match="unknown basis 'no-such-basis'"):
        PySCFOracle(basis="no-such-basis")


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threads": 0}, "threads must be an integer >= 1, got 0"),
        ({"max_cycle": 2.5}, "max_cycle must be an integer"),
        ({"conv_tol": -1e-9}, r"conv_tol must be in \(0, 0.001\]"),
        ({"wall_time_s": 0}, "wall_time_s must be in"),
        ({"spin": -1}, "spin must be an integer >= 0"),
        ({"charge": 0.5}, "charge must be an integer"),
        ({"density_fit": "yes"}, "density_fit must be True or False"),
        ({"grid_level": 12}, "grid_level must be between 0 and 9"),
        ({"dispersion": "d9"}, "unknown dispersion correction 'd9'"),
    ],
)
def test_invalid_settings(settings: dict[str, object], message: str) -> None:
    with pytest.raises(OracleSetupError, match=message):
        PySCFOracle(**settings)  # type: ignore[arg-type]


@pytest.mark.skipif(importlib.util.find_spec("pyscf.dispersion") is not None, reason="pyscf-dispersion installed")
def test_dispersion_without_its_package_says_how_to_install() -> None:
    with pytest.raises(OracleSetupError, match="pip install pyscf-dispersion"):
        PySCFOracle(method="PBE", dispersion="d3bj")


def test_empty_structure_is_quarantined(hf_oracle: PySCFOracle) -> None:
    result = hf_oracle.compute(Atoms())
    assert result.status == "quarantined"
    assert result.error == "structure has no atoms; drop it from the input"
