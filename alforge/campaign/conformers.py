"""Conformers of a start structure: every rotatable single bond turned by a random angle.

A molecule at room temperature or above visits every minimum of its soft torsions: ethanol's
H–O–C–C torsion crosses a barrier of about one kT at 500 K. MD on an early model does not
(measured on ethanol, HF/STO-3G, 500 K: rattled seeds and walkers started at the one start
structure; no walker frame had an H–O–C–C torsion below 120° before generation 6, and the
models' test error away from the labels' torsions was 0.46–0.88 eV/Å against 0.05–0.12 near
them). So the seed structures (generation 0) are conformers of the start structure, and the
walkers start from them too: the first labels and the first MD already span the torsions.

A bond ``i–j`` is *rotatable* when it lies in no ring and both atoms have another neighbour
(bonded: closer than 1.2× the sum of their covalent radii, ASE's ``natural_cutoffs``). Turning it
rotates the smaller of the two fragments it separates about the bond axis; bond lengths and
angles are unchanged. A turn that brings two atoms more than two bonds apart closer than 1.5×
the sum of their covalent radii is drawn again (at most 20 times, then that bond is left as it
was). A molecule with no rotatable bond (water), or a periodic structure, gets no conformer: its
seeds are rattled copies of the start structure, as before.

No database, no Prefect: ``conformers(start, n, rng)`` is a plain function (``tests/test_conformers.py``).

Example
-------
>>> from ase.build import molecule
>>> [tuple(sorted((int(i), int(j)))) for i, j, _ in rotatable_bonds(molecule("CH3CH2OH"))]
[(0, 1), (1, 2)]
>>> rotatable_bonds(molecule("H2O"))
[]
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.neighborlist import natural_cutoffs

__all__ = ["BOND_FACTOR", "CLASH_FACTOR", "conformers", "rotatable_bonds", "seed_structures", "turn_bond"]

BOND_FACTOR = 1.2  # bonded: closer than this × the sum of the covalent radii (ethanol's C–O is 1.01×)
CLASH_FACTOR = 1.5  # non-bonded atoms stay farther apart than this × the sum of their natural cutoffs
TRIES = 20


def _bonds(atoms: Atoms) -> list[set[int]]:
    """Neighbours of every atom: closer than ``BOND_FACTOR`` × the sum of their covalent radii."""
    radii = BOND_FACTOR * np.asarray(natural_cutoffs(atoms))
    distances = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    near = distances < radii[:, None] + radii[None]
    np.fill_diagonal(near, False)
    return [set(np.flatnonzero(row).tolist()) for row in near]


def _side(neighbours: list[set[int]], i: int, j: int) -> set[int] | None:
    """Atoms reached from ``j`` without crossing bond ``i–j``; ``None`` if that reaches ``i`` (a ring)."""
    seen, todo = {j}, [j]
    while todo:
        a = todo.pop()
        for b in neighbours[a]:
            if a == j and b == i:
                continue
            if b == i:
                return None
            if b not in seen:
                seen.add(b)
                todo.append(b)
    return seen


def rotatable_bonds(atoms: Atoms) -> list[tuple[int, int, np.ndarray]]:
    """``(i, j, moving)`` for every rotatable bond: turning about ``i → j`` moves the atoms ``moving`` (a mask).

    ``moving`` is the smaller fragment (``j``'s side, or ``i``'s with the bond reversed).
    """
    return _rotatable(_bonds(atoms))


def _rotatable(neighbours: list[set[int]]) -> list[tuple[int, int, np.ndarray]]:
    size = len(neighbours)
    out: list[tuple[int, int, np.ndarray]] = []
    for i in range(size):
        for j in sorted(neighbours[i]):
            if j <= i or len(neighbours[i]) < 2 or len(neighbours[j]) < 2:
                continue
            side = _side(neighbours, i, j)
            if side is None:
                continue
            a, b = (i, j) if len(side) <= size - len(side) else (j, i)
            moving = np.zeros(size, dtype=bool)
            moving[list(side) if a == i else [k for k in range(size) if k not in side]] = True
            out.append((a, b, moving))
    return out


def turn_bond(positions: np.ndarray, i: int, j: int, moving: np.ndarray, angle_rad: float) -> np.ndarray:
    """``positions`` with the atoms ``moving`` turned by ``angle_rad`` about the axis ``i → j`` (Rodrigues)."""
    axis = positions[j] - positions[i]
    axis = axis / np.linalg.norm(axis)
    r = positions[moving] - positions[j]
    cos, sin = np.cos(angle_rad), np.sin(angle_rad)
    turned = r * cos + np.cross(axis, r) * sin + np.outer(r @ axis, axis) * (1.0 - cos)
    out = positions.copy()
    out[moving] = turned + positions[j]
    return out


def _clashes(positions: np.ndarray, exempt: np.ndarray, limits: np.ndarray) -> bool:
    """True if two atoms not ``exempt`` (bonded, or two bonds apart) are closer than their limit."""
    distances = np.linalg.norm(positions[:, None] - positions[None], axis=-1)
    close = (distances < limits) & ~exempt
    np.fill_diagonal(close, False)
    return bool(close.any())


def conformers(start: Atoms, n: int, rng: np.random.Generator) -> list[Atoms]:
    """``n`` copies of ``start``, each rotatable bond turned by an angle uniform in [0, 2π).

    ``[]`` if it has no rotatable bond or is periodic (a turn would not honour the cell). Pairs
    bonded in ``start``, and pairs two bonds apart (whose distance a turn cannot change), are
    exempt from the clash check.
    """
    if start.pbc.any() or n <= 0:
        return []
    neighbours = _bonds(start)
    bonds = _rotatable(neighbours)
    if not bonds:
        return []
    size = len(start)
    adjacency = np.zeros((size, size), dtype=bool)
    for a, near in enumerate(neighbours):
        adjacency[a, list(near)] = True
    exempt = adjacency | ((adjacency.astype(int) @ adjacency.astype(int)) > 0)
    radii = np.asarray(natural_cutoffs(start))
    limits = CLASH_FACTOR * (radii[:, None] + radii[None])
    out: list[Atoms] = []
    for _ in range(n):
        positions = start.positions.copy()
        for i, j, moving in bonds:
            for _ in range(TRIES):
                turned = turn_bond(positions, i, j, moving, float(rng.uniform(0.0, 2.0 * np.pi)))
                if not _clashes(turned, exempt, limits):
                    positions = turned
                    break
        out.append(Atoms(start.numbers, positions, cell=start.cell, pbc=start.pbc))
    return out


def seed_structures(starts: list[Atoms], n: int, seed: int, *, turn: bool = True) -> tuple[list[Atoms], list[int]]:
    """The seed structures before their rattle, and which of them are walker starts.

    Seed ``i`` is start structure ``i`` for ``i`` below the number of starts, else a conformer of
    start ``i mod len(starts)`` (``turn``; drawn from the stream ``[seed, 1, i]``, so that seeds
    and walker starts agree on any machine and after a resume) or a plain copy of it. The walker
    starts are the start structures and the conformers; plain copies are not.

    >>> from ase.build import molecule
    >>> frames, starts = seed_structures([molecule("CH3CH2OH")], 4, seed=0)
    >>> len(frames), starts
    (4, [0, 1, 2, 3])
    >>> seed_structures([molecule("H2O")], 4, seed=0)[1]
    [0]
    """
    frames: list[Atoms] = []
    walker_starts: list[int] = []
    for i in range(max(n, len(starts))):
        start = starts[i % len(starts)]
        turned = conformers(start, 1, np.random.default_rng([seed, 1, i])) if turn and i >= len(starts) else []
        if i < len(starts) or turned:
            walker_starts.append(i)
        frames.append(turned[0] if turned else start.copy())
    return frames, walker_starts
