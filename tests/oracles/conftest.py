"""Shared fixtures of the oracle tests: tiny molecules and cheap oracles (seeds pinned)."""

from __future__ import annotations

import numpy as np
import pytest
from ase import Atoms
from ase.build import molecule

from alforge.oracles import PySCFOracle

SEED = 20240611


def rattled(name: str, stdev_A: float = 0.03, seed: int = SEED) -> Atoms:
    """ASE's reference geometry of ``name`` with Gaussian noise (stdev in Å) from a fixed seed."""
    atoms = molecule(name)
    rng = np.random.default_rng(seed)
    atoms.positions += rng.normal(scale=stdev_A, size=atoms.positions.shape)
    return atoms


@pytest.fixture
def water() -> Atoms:
    """H2O slightly off its equilibrium geometry (non-zero forces)."""
    return rattled("H2O")


@pytest.fixture(scope="session")
def hf_oracle() -> PySCFOracle:
    """RHF/STO-3G with a tight SCF threshold, shared by the tests (its worker stays warm)."""
    return PySCFOracle(method="HF", basis="sto-3g", conv_tol=1e-11, wall_time_s=60)
