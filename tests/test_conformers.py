"""Conformer seeds: rotatable bonds found, turned rigidly, spread over the torsion, low in energy."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from alforge.campaign.conformers import conformers, rotatable_bonds, seed_structures, turn_bond

HOCC = (3, 2, 1, 0)  # ASE's ethanol: C 0 (methyl), C 1, O 2, H 3 on the oxygen


def bonded_and_angle_distances(atoms: Atoms, reference: Atoms) -> np.ndarray:
    """Distances of the pairs one or two bonds apart in ``reference`` (what a torsion must not change)."""
    d = reference.get_all_distances()
    bonded = d < 1.6  # every bond of these molecules is shorter, every other pair longer
    np.fill_diagonal(bonded, False)
    two = (bonded.astype(int) @ bonded.astype(int)) > 0
    mask = np.triu(bonded | two, 1)
    return atoms.get_all_distances()[mask]


def circular_gap_deg(a: np.ndarray, b: float) -> np.ndarray:
    return np.abs((a - b + 180.0) % 360.0 - 180.0)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("CH3CH2OH", {(0, 1), (1, 2)}), ("CH3CH2NH2", {(0, 1), (1, 2)}), ("H2O", set()), ("C6H6", set()), ("CH4", set())],
)
def test_rotatable_bonds_are_acyclic_bonds_between_two_non_terminal_atoms(name: str, expected: set) -> None:
    assert {tuple(sorted((i, j))) for i, j, _ in rotatable_bonds(molecule(name))} == expected


def test_turning_a_bond_changes_its_torsion_by_the_angle_and_nothing_else() -> None:
    ethanol = molecule("CH3CH2OH")
    (i, j, moving), = [(i, j, m) for i, j, m in rotatable_bonds(ethanol) if {i, j} == {1, 2}]
    assert moving.sum() == 2  # O and its H: the smaller fragment moves
    turned = ethanol.copy()
    turned.positions = turn_bond(ethanol.positions, i, j, moving, np.deg2rad(70.0))
    change = turned.get_dihedral(*HOCC) - ethanol.get_dihedral(*HOCC)
    assert min(abs(change - 70.0) % 360.0, 360.0 - abs(change - 70.0) % 360.0) == pytest.approx(0.0, abs=1e-6)
    np.testing.assert_allclose(bonded_and_angle_distances(turned, ethanol),
                               bonded_and_angle_distances(ethanol, ethanol), atol=1e-10)
    np.testing.assert_array_equal(turned.positions[~moving], ethanol.positions[~moving])


def test_conformers_spread_over_the_torsion_without_clashes_and_are_reproducible() -> None:
    ethanol = molecule("CH3CH2OH")
    many = conformers(ethanol, 60, np.random.default_rng(3))
    torsions = np.array([c.get_dihedral(*HOCC) for c in many])
    for minimum in (60.0, 180.0, 300.0):  # gauche±, anti: each has a conformer within 20°
        assert circular_gap_deg(torsions, minimum).min() < 20.0
    for c in many:
        np.testing.assert_allclose(bonded_and_angle_distances(c, ethanol),
                                   bonded_and_angle_distances(ethanol, ethanol), atol=1e-10)
        d = c.get_all_distances()[np.triu_indices(len(c), 1)]
        assert d.min() > 0.9
    again = conformers(ethanol, 60, np.random.default_rng(3))
    np.testing.assert_array_equal(np.array([c.positions for c in many]), np.array([c.positions for c in again]))


def test_seed_structures_are_the_starts_then_conformers_or_copies() -> None:
    ethanol, water = molecule("CH3CH2OH"), molecule("H2O")
    frames, starts = seed_structures([ethanol], 4, seed=5)
    assert starts == [0, 1, 2, 3]
    np.testing.assert_array_equal(frames[0].positions, ethanol.positions)
    assert len({round(f.get_dihedral(*HOCC), 3) for f in frames}) == 4
    again, _ = seed_structures([ethanol], 4, seed=5)  # the walker starts are the seeds, after a resume too
    np.testing.assert_array_equal(np.array([f.positions for f in frames]), np.array([f.positions for f in again]))
    off, off_starts = seed_structures([ethanol], 4, seed=5, turn=False)
    assert off_starts == [0]
    assert all(np.array_equal(f.positions, ethanol.positions) for f in off)
    copies, water_starts = seed_structures([water], 3, seed=5)
    assert water_starts == [0]
    assert all(np.array_equal(f.positions, water.positions) for f in copies)


def test_conformers_are_thermally_accessible_at_the_reference_level() -> None:
    """Real PySCF HF/STO-3G: a turned ethanol lies a fraction of an eV above the start, as torsion barriers do.

    (Seeds rattled by 0.05 Å without turning lay 0.66–1.28 eV above the minimum, measured 2026-12-05.)
    """
    from alforge.oracles import PySCFOracle

    oracle = PySCFOracle(method="HF", basis="sto-3g")
    ethanol = molecule("CH3CH2OH")
    reference = oracle.compute(ethanol).energy_eV
    rises = [oracle.compute(c).energy_eV - reference for c in conformers(ethanol, 3, np.random.default_rng(0))]
    assert all(-0.3 < rise < 0.3 for rise in rises), rises


def test_a_periodic_structure_gets_no_conformer() -> None:
    """A turn in Cartesian space would not honour the cell: periodic seeds stay rattled copies."""
    boxed = molecule("CH3CH2OH")
    boxed.cell, boxed.pbc = [12.0, 12.0, 12.0], True
    assert conformers(boxed, 3, np.random.default_rng(0)) == []
    assert seed_structures([boxed], 4, seed=0)[1] == [0]
