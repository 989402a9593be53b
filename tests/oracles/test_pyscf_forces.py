"""Forces are minus the derivative of the oracle's own energy (central finite differences)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from conftest import rattled

from alforge.oracles import PySCFOracle

STEP_A = 1e-3
FORCE_TOL_EV_PER_A = 1e-4


def finite_difference_force(oracle: PySCFOracle, atoms: Atoms, index: int, axis: int) -> float:
    """-(E(x + h) - E(x - h)) / 2h in eV/Å."""
    energies = []
    for sign in (1.0, -1.0):
        displaced = atoms.copy()
        displaced.positions[index, axis] += sign * STEP_A
        result = oracle.compute(displaced)
        assert result.ok, result.error
        energies.append(result.energy_eV)
    return -(energies[0] - energies[1]) / (2 * STEP_A)


def test_rhf_forces_match_finite_differences_on_every_coordinate(hf_oracle: PySCFOracle) -> None:
    atoms = rattled("H2O", stdev_A=0.05)
    analytic = hf_oracle.compute(atoms).forces_eV_per_A
    numeric = np.array([[finite_difference_force(hf_oracle, atoms, i, k) for k in range(3)] for i in range(len(atoms))])
    np.testing.assert_allclose(analytic, numeric, atol=FORCE_TOL_EV_PER_A)
    assert np.abs(analytic).max() > 0.1  # off equilibrium: the test compares non-trivial forces


@pytest.mark.parametrize(
    ("name", "method", "spin", "components"),
    [
        pytest.param("OH", "HF", 1, [(0, 2), (1, 0), (1, 2)], id="OH-UHF"),
        pytest.param("H2O", "PBE", 0, [(0, 2), (1, 1)], id="H2O-PBE-grid-response"),
    ],
)
def test_forces_match_finite_differences(name: str, method: str, spin: int, components: list[tuple[int, int]]) -> None:
    oracle = PySCFOracle(method=method, basis="sto-3g", spin=spin, conv_tol=1e-11)
    atoms = rattled(name, stdev_A=0.05)
    analytic = oracle.compute(atoms).forces_eV_per_A
    for index, axis in components:
        numeric = finite_difference_force(oracle, atoms, index, axis)
        assert analytic[index, axis] == pytest.approx(numeric, abs=FORCE_TOL_EV_PER_A)
