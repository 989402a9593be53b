"""Analytic reference systems for local models: random structures labelled by library potentials.

The oracles are ordinary library calculators behind :class:`~alforge.oracles.ASEOracle`:
Lennard-Jones from ASE (:func:`lennard_jones_oracle`) and the Stillinger–Weber silicon
potential of matscipy (:func:`stillinger_weber_oracle`, Phys. Rev. B 31, 5262 (1985); matscipy
comes with the ``test`` and ``bench`` extras). :func:`random_structures` draws hard-core random
configurations of varying size — periodic boxes or open clusters — and labels them.

Example
-------
>>> oracle = lennard_jones_oracle()                                   # doctest: +SKIP
>>> frames = random_structures(oracle, 10, n_atoms=[8, 12], density_per_A3=0.0127,
...                            min_distance_A=3.0, symbol="Ar", periodic=True, seed=0)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from alforge.data import labelled
from alforge.errors import OracleSetupError
from alforge.oracles import ASEOracle, Oracle

__all__ = [
    "ARGON_EPSILON_EV",
    "ARGON_SIGMA_A",
    "labelled_by",
    "lennard_jones_oracle",
    "random_structures",
    "stillinger_weber_calculator",
    "stillinger_weber_oracle",
]

ARGON_SIGMA_A = 3.405
ARGON_EPSILON_EV = 0.0104


def lennard_jones_oracle(
    sigma_A: float = ARGON_SIGMA_A, epsilon_eV: float = ARGON_EPSILON_EV, cutoff_A: float | None = None
) -> ASEOracle:
    """ASE's ``LennardJones`` (argon by default), smoothly switched off between 0.66 and 1 × the cutoff.

    ``cutoff_A`` defaults to 2.5 σ, the cutoff of Scherer et al. (JCTC 2020).
    """
    cutoff = 2.5 * sigma_A if cutoff_A is None else cutoff_A
    return ASEOracle("LennardJones", sigma=sigma_A, epsilon=epsilon_eV, rc=cutoff, smooth=True)


def stillinger_weber_calculator(**_: Any) -> Calculator:
    """matscipy's Stillinger–Weber calculator with the original silicon parameters (cutoff 3.77 Å)."""
    try:
        from matscipy.calculators.manybody import Manybody
        from matscipy.calculators.manybody.explicit_forms.stillinger_weber import (
            Stillinger_Weber_PRB_31_5262_Si,
            StillingerWeber,
        )
    except ImportError as exc:
        msg = "the Stillinger–Weber oracle needs matscipy; pip install 'alforge[test]' (or matscipy)"
        raise OracleSetupError(msg) from exc
    return Manybody(**StillingerWeber(Stillinger_Weber_PRB_31_5262_Si))


def stillinger_weber_oracle() -> ASEOracle:
    """:func:`stillinger_weber_calculator` as an oracle."""
    return ASEOracle(stillinger_weber_calculator)


def random_structures(
    oracle: Oracle,
    n_structures: int,
    *,
    n_atoms: Sequence[int],
    density_per_A3: float,
    min_distance_A: float,
    symbol: str,
    periodic: bool,
    seed: int,
) -> list[Atoms]:
    """Labelled hard-core random configurations with atom counts drawn from ``n_atoms``.

    Parameters
    ----------
    oracle
        Reference (its energy in eV and forces in eV/Å label each frame; its level-of-theory
        hash goes to ``atoms.info["level_of_theory_hash"]``).
    n_structures
        How many to draw.
    n_atoms
        Allowed atom counts (drawn uniformly).
    density_per_A3
        Number density; sets the cubic box (periodic) or the sampling box of a cluster.
    min_distance_A
        No two atoms (or periodic images) closer than this.
    symbol
        Element.
    periodic
        Periodic cubic box (``True``) or an open cluster.
    seed
        Random seed.

    Returns
    -------
    list of ase.Atoms
        ``n_structures`` labelled frames.
    """
    rng = np.random.default_rng(seed)
    frames = []
    while len(frames) < n_structures:
        n = int(rng.choice(np.asarray(n_atoms)))
        side = (n / density_per_A3) ** (1 / 3)
        positions: list[np.ndarray] = []
        tries = 0
        while len(positions) < n and tries < 20000:
            tries += 1
            trial = rng.uniform(0, side, size=3)
            if positions:
                delta = np.asarray(positions) - trial
                if periodic:
                    delta -= side * np.round(delta / side)
                if np.linalg.norm(delta, axis=1).min() < min_distance_A:
                    continue
            positions.append(trial)
        if len(positions) < n:
            continue
        atoms = Atoms(symbol * n, positions=np.asarray(positions), cell=[side] * 3, pbc=periodic)
        if not periodic:
            atoms.set_cell(None)
            atoms.center()
        frames.append(labelled_by(oracle, atoms))
    return frames


def labelled_by(oracle: Oracle, atoms: Atoms) -> Atoms:
    """``atoms`` with the oracle's energy and forces and its level-of-theory hash in ``info``.

    Raises
    ------
    alforge.errors.OracleRunError
        If the calculation failed (the analytic references never should).
    """
    result = oracle.compute(atoms)
    result.raise_for_status()
    frame = labelled(atoms, float(result.energy_eV or 0.0), np.asarray(result.forces_eV_per_A))
    frame.info["level_of_theory_hash"] = result.level.hash
    return frame
