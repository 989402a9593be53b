"""PySCFOracle gives what a direct PySCF calculation gives, in eV and eV/Å (ASE's constants)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import molecule
from conftest import rattled
from pyscf import dft, gto, scf

from alforge.oracles import PySCFOracle

ENERGY_TOL_EH = 1e-8
FORCE_TOL_EV_PER_A = 1e-4


def direct_pyscf(atoms: Atoms, method: str, basis: str, spin: int = 0) -> tuple[float, np.ndarray]:
    """Energy (Eh) and gradient (Eh/Bohr) from PySCF called the textbook way (positions in Å)."""
    mol = gto.M(
        atom=[(symbol, tuple(xyz)) for symbol, xyz in zip(atoms.get_chemical_symbols(), atoms.positions, strict=True)],
        basis=basis,
        spin=spin,
        unit="Angstrom",
        verbose=0,
    )
    if method == "HF":
        mf = scf.UHF(mol) if spin else scf.RHF(mol)
    else:
        mf = dft.UKS(mol) if spin else dft.RKS(mol)
        mf.xc = method
    mf.conv_tol = 1e-11
    energy = mf.kernel()
    assert mf.converged
    gradient = mf.nuc_grad_method()
    if method != "HF":
        gradient.grid_response = True
    return float(energy), np.asarray(gradient.kernel())


CASES = [
    pytest.param(molecule("H2"), "HF", "sto-3g", 0, id="H2-RHF"),
    pytest.param(rattled("H2O"), "HF", "sto-3g", 0, id="H2O-RHF"),
    pytest.param(rattled("OH"), "HF", "sto-3g", 1, id="OH-UHF"),
    pytest.param(rattled("H2O"), "PBE", "sto-3g", 0, id="H2O-RKS-PBE"),
    pytest.param(rattled("CH3"), "PBE", "sto-3g", 1, id="CH3-UKS-PBE"),
]


@pytest.mark.parametrize(("atoms", "method", "basis", "spin"), CASES)
def test_energy_and_forces_equal_direct_pyscf(atoms: Atoms, method: str, basis: str, spin: int) -> None:
    oracle = PySCFOracle(method=method, basis=basis, spin=spin, conv_tol=1e-11, reuse_guess=False)
    result = oracle.compute(atoms)
    assert result.ok, result.error
    energy_Eh, gradient = direct_pyscf(atoms, method, basis, spin)
    assert result.energy_eV / units.Hartree == pytest.approx(energy_Eh, abs=ENERGY_TOL_EH)
    expected_forces = -gradient * units.Hartree / units.Bohr
    assert result.forces_eV_per_A.shape == (len(atoms), 3)
    np.testing.assert_allclose(result.forces_eV_per_A, expected_forces, atol=FORCE_TOL_EV_PER_A)
    assert result.details["converged_step"] == "diis"
    assert result.attempts == 1


def test_units_are_ase_hartree_and_bohr(hf_oracle: PySCFOracle, water: Atoms) -> None:
    """eV = Eh * ase.units.Hartree and eV/Å = Eh/Bohr * Hartree / ase.units.Bohr, sign flipped."""
    result = hf_oracle.compute(water)
    ladder_energy_Eh = result.details["ladder"][-1]["energy_Eh"]
    assert result.energy_eV == pytest.approx(ladder_energy_Eh * units.Hartree, rel=1e-14)
    assert units.Hartree == pytest.approx(27.211386, abs=1e-6)
    assert units.Bohr == pytest.approx(0.52917721, abs=1e-8)
    _, gradient = direct_pyscf(water, "HF", "sto-3g")
    np.testing.assert_allclose(
        result.forces_eV_per_A, -gradient * (units.Hartree / units.Bohr), atol=FORCE_TOL_EV_PER_A
    )


def test_net_force_of_a_molecule_is_zero(hf_oracle: PySCFOracle, water: Atoms) -> None:
    result = hf_oracle.compute(water)
    np.testing.assert_allclose(result.forces_eV_per_A.sum(axis=0), 0.0, atol=1e-8)
    assert result.details["net_force_eV_per_A"] < 1e-8


def test_energy_is_invariant_under_rigid_motion(hf_oracle: PySCFOracle, water: Atoms) -> None:
    moved = water.copy()
    moved.rotate(37.0, (1.0, 2.0, 0.5), center="COM")
    moved.translate((1.5, -2.0, 0.7))
    first, second = hf_oracle.compute(water), hf_oracle.compute(moved)
    assert second.energy_eV == pytest.approx(first.energy_eV, abs=1e-8 * units.Hartree)
    # forces rotate with the molecule: their lengths are unchanged
    np.testing.assert_allclose(
        np.linalg.norm(second.forces_eV_per_A, axis=1), np.linalg.norm(first.forces_eV_per_A, axis=1), atol=1e-5
    )


def test_level_of_theory_records_pyscf_version(hf_oracle: PySCFOracle) -> None:
    import pyscf

    level = hf_oracle.level_of_theory
    assert (level.code, level.method, level.basis, level.charge, level.spin) == ("pyscf", "HF", "sto-3g", 0, 0)
    assert level.code_version == pyscf.__version__
    assert level.settings["reference"] == "RHF"
