"""Shared data for the model tests: methane labelled with real PySCF HF/STO-3G (cached per session)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.units import Bohr, Hartree

from alforge.data import labelled

torch.set_num_threads(1)


def pyscf_label(atoms: Atoms, basis: str = "sto-3g") -> Atoms:
    """``atoms`` labelled with RHF energy (eV) and forces (eV/Å) from PySCF."""
    from pyscf import gto, lib, scf

    lib.num_threads(1)
    mol = gto.M(
        atom=list(zip(atoms.get_chemical_symbols(), atoms.positions.tolist(), strict=True)),
        basis=basis,
        unit="Angstrom",
        verbose=0,
    )
    mf = scf.RHF(mol)
    mf.conv_tol = 1e-10
    energy = mf.kernel()
    if not mf.converged:
        pytest.fail("RHF did not converge on a test structure")
    gradient = mf.nuc_grad_method().kernel()
    return labelled(atoms, energy * Hartree, -gradient * Hartree / Bohr)


@dataclass(frozen=True)
class Dataset:
    """Labelled frames of one molecule split into training and held-out sets."""

    train: list[Atoms]
    test: list[Atoms]


def displaced(name: str, n: int, amplitude_A: float, seed: int) -> list[Atoms]:
    """``n`` copies of ASE's ``molecule(name)`` with Gaussian displacements of ``amplitude_A``."""
    rng = np.random.default_rng(seed)
    reference = molecule(name)
    frames = []
    for _ in range(n):
        atoms = Atoms(reference.numbers, reference.positions + rng.normal(scale=amplitude_A, size=(len(reference), 3)))
        frames.append(atoms)
    return frames


@pytest.fixture(scope="session")
def methane() -> Dataset:
    """30 training and 15 held-out CH4 structures (0.08 Å displacements), RHF/STO-3G labels."""
    frames = [pyscf_label(a) for a in displaced("CH4", 45, 0.08, seed=1)]
    return Dataset(train=frames[:30], test=frames[30:])


@pytest.fixture(scope="session")
def water() -> list[Atoms]:
    """Six H2O structures with RHF/STO-3G labels (a different molecule)."""
    return [pyscf_label(a) for a in displaced("H2O", 6, 0.05, seed=2)]
