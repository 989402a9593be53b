"""Permutational symmetries from the bond graph."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule

from alforge.errors import ModelInputError
from alforge.models.gdml.symmetries import bond_graph, find_symmetries


@pytest.mark.parametrize(
    ("name", "size"),
    [("H2O", 2), ("NH3", 6), ("CH4", 24), ("CH3CH2OH", 12), ("C6H6", 12), ("C2H6", 72)],
)
def test_group_sizes(name, size):
    atoms = molecule(name)
    perms = find_symmetries(atoms.numbers, atoms.positions)
    assert perms.shape == (size, len(atoms))
    np.testing.assert_array_equal(perms[0], np.arange(len(atoms)))


def test_permutations_form_a_group_of_bond_preserving_element_maps():
    atoms = molecule("CH3CH2OH")
    perms = find_symmetries(atoms.numbers, atoms.positions)
    bonds = bond_graph(atoms.numbers, atoms.positions)
    as_set = {tuple(p) for p in perms}
    for p in perms:
        np.testing.assert_array_equal(atoms.numbers[p], atoms.numbers)
        np.testing.assert_array_equal(bonds[np.ix_(p, p)], bonds)
        for q in perms:
            assert tuple(p[q]) in as_set


def test_ethanol_swaps_only_methyl_and_methylene_hydrogens():
    atoms = molecule("CH3CH2OH")
    perms = find_symmetries(atoms.numbers, atoms.positions)
    moved = {int(a) for p in perms for a in np.flatnonzero(p != np.arange(len(atoms)))}
    hydroxyl_h = 3  # bonded to O (atom 2) in ASE's geometry
    assert hydroxyl_h not in moved
    assert all(atoms.numbers[a] == 1 for a in moved)


def test_too_many_symmetries_is_refused():
    atoms = molecule("C2H6")
    with pytest.raises(ModelInputError, match="more than 10 symmetries"):
        find_symmetries(atoms.numbers, atoms.positions, max_symmetries=10)
