"""Permutational symmetries of a molecule from its covalent-bond graph.

The potential energy is unchanged when identical nuclei are swapped. Like sGDML, the GP
kernel is symmetrised only over the swaps that keep the molecule's *bond graph* intact
(graph automorphisms that map every atom onto one of the same element), e.g. the 3! rotations
of a methyl group's hydrogens, not every permutation of all hydrogens.

Atoms ``a`` and ``b`` are bonded when ``|r_a - r_b| < scale · (ρ_a + ρ_b)`` with ``ρ`` the
covalent radii of :data:`ase.data.covalent_radii` (Å).

Example
-------
>>> from ase.build import molecule
>>> water = molecule("H2O")
>>> find_symmetries(water.numbers, water.positions).tolist()
[[0, 1, 2], [0, 2, 1]]
"""

from __future__ import annotations

import numpy as np
from ase.data import covalent_radii

from alforge.errors import ModelError, ModelInputError

__all__ = ["bond_graph", "find_symmetries", "resolve_permutations"]


def bond_graph(numbers: np.ndarray, positions_A: np.ndarray, scale: float = 1.2) -> np.ndarray:
    """Covalent-bond adjacency matrix.

    Parameters
    ----------
    numbers
        Atomic numbers, shape ``(N,)``.
    positions_A
        Positions in Å, shape ``(N, 3)``.
    scale
        Bonds are shorter than ``scale`` times the sum of the two covalent radii.

    Returns
    -------
    numpy.ndarray
        Symmetric boolean matrix of shape ``(N, N)`` with a false diagonal.
    """
    numbers = np.asarray(numbers)
    positions = np.asarray(positions_A, dtype=float)
    distances = np.linalg.norm(positions[:, None, :] - positions[None, :, :], axis=-1)
    radii = covalent_radii[numbers]
    bonded = distances < scale * (radii[:, None] + radii[None, :])
    np.fill_diagonal(bonded, val=False)
    return bonded


def _refined_colours(numbers: np.ndarray, adjacency: np.ndarray) -> np.ndarray:
    """Colour refinement (1-WL): atoms of different colours can never be swapped."""
    colours = np.unique(numbers, return_inverse=True)[1]
    while True:
        signatures = [
            (int(colours[a]), *sorted(int(c) for c in colours[adjacency[a]])) for a in range(len(numbers))
        ]
        keys = {key: i for i, key in enumerate(sorted(set(signatures)))}
        refined = np.array([keys[s] for s in signatures])
        if len(keys) == len(np.unique(colours)):
            return refined
        colours = refined


def find_symmetries(
    numbers: np.ndarray,
    positions_A: np.ndarray,
    *,
    scale: float = 1.2,
    max_symmetries: int = 1000,
) -> np.ndarray:
    """All element-preserving automorphisms of the covalent-bond graph.

    Parameters
    ----------
    numbers
        Atomic numbers, shape ``(N,)``.
    positions_A
        Positions of a reference structure in Å, shape ``(N, 3)``.
    scale
        Bond criterion, see :func:`bond_graph`.
    max_symmetries
        Refuse groups larger than this (the kernel's cost grows linearly with it).

    Returns
    -------
    numpy.ndarray
        Integer array of shape ``(S, N)``; row ``s`` is a permutation ``π`` such that the
        structure ``R[π]`` is equivalent to ``R``. The identity is row 0; the rows form a group.

    Raises
    ------
    ModelInputError
        When the group has more than ``max_symmetries`` elements.
    """
    numbers = np.asarray(numbers)
    adjacency = bond_graph(numbers, positions_A, scale)
    colours = _refined_colours(numbers, adjacency)
    n_atoms = len(numbers)
    found: list[list[int]] = []
    image = [-1] * n_atoms
    used = [False] * n_atoms

    def extend(atom: int) -> None:
        if atom == n_atoms:
            found.append(list(image))
            if len(found) > max_symmetries:
                msg = (
                    f"the bond graph has more than {max_symmetries} symmetries (max_symmetries); "
                    "pass symmetries='none' or raise max_symmetries"
                )
                raise ModelInputError(msg)
            return
        for candidate in range(n_atoms):
            if used[candidate] or colours[candidate] != colours[atom]:
                continue
            if all(adjacency[atom, a] == adjacency[candidate, image[a]] for a in range(atom)):
                image[atom] = candidate
                used[candidate] = True
                extend(atom + 1)
                used[candidate] = False
        image[atom] = -1

    extend(0)
    perms = np.array(found, dtype=np.int64)
    identity = np.arange(n_atoms)
    order = np.argsort([0 if np.array_equal(p, identity) else 1 for p in perms], kind="stable")
    return perms[order]


def resolve_permutations(
    option: str | np.ndarray, numbers: np.ndarray, positions_A: np.ndarray, bond_scale: float, max_symmetries: int
) -> np.ndarray:
    """Atom permutations ``(S, N)`` for a GP's ``symmetries`` option.

    ``"none"``: the identity; ``"auto"``: :func:`find_symmetries` of the structure ``positions_A``
    ``(N, 3)``; an array: checked to permute like atoms only.

    Raises
    ------
    ModelError
        An array of the wrong shape or one that maps an atom onto another element.
    """
    if isinstance(option, str):
        if option == "none":
            return np.arange(len(numbers))[None, :]
        return find_symmetries(numbers, positions_A, scale=bond_scale, max_symmetries=max_symmetries)
    perms = np.asarray(option, dtype=np.int64)
    if perms.ndim != 2 or perms.shape[1] != len(numbers):
        msg = f"symmetries have shape {perms.shape}, expected (S, {len(numbers)}); give atom permutations"
        raise ModelError(msg)
    for perm in perms:
        if sorted(perm.tolist()) != list(range(len(numbers))) or not np.array_equal(numbers[perm], numbers):
            msg = f"symmetry {perm.tolist()} is not a permutation of like atoms; fix the symmetries array"
            raise ModelError(msg)
    return perms
