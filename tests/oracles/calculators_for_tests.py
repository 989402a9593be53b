"""Misbehaving ASE calculators for the oracle tests (importable by worker processes)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from ase.calculators.calculator import Calculator, FileIOCalculator, all_changes


class _Fixed(Calculator):
    implemented_properties: ClassVar[list[str]] = ["energy", "forces"]

    def values(self, n_atoms: int) -> tuple[float, np.ndarray]:
        return 0.0, np.zeros((n_atoms, 3))

    def calculate(self, atoms: Any = None, properties: Any = None, system_changes: Any = all_changes) -> None:
        super().calculate(atoms, properties, system_changes)
        energy, forces = self.values(len(self.atoms))
        self.results = {"energy": energy, "forces": forces}


class SlowCalculator(_Fixed):
    """Sleeps ``delay_s`` seconds, then returns zeros (a calculation that hangs)."""

    def __init__(self, delay_s: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay_s = delay_s

    def values(self, n_atoms: int) -> tuple[float, np.ndarray]:
        time.sleep(self.delay_s)
        return super().values(n_atoms)


class FailingCalculator(_Fixed):
    """Raises RuntimeError, as a crashing external code would."""

    def values(self, n_atoms: int) -> tuple[float, np.ndarray]:
        msg = "external code crashed"
        raise RuntimeError(msg)


class NaNCalculator(_Fixed):
    """Returns a NaN energy."""

    def values(self, n_atoms: int) -> tuple[float, np.ndarray]:
        return float("nan"), np.zeros((n_atoms, 3))


class PushingCalculator(_Fixed):
    """Pushes every atom along +x by 1 eV/Å: a net force no isolated molecule can have."""

    def values(self, n_atoms: int) -> tuple[float, np.ndarray]:
        forces = np.zeros((n_atoms, 3))
        forces[:, 0] = 1.0
        return 0.0, forces


def make_emt(*, asap_cutoff: bool = False) -> Calculator:
    """A factory with a strict signature: unknown settings raise TypeError."""
    from ase.calculators.emt import EMT

    return EMT(asap_cutoff=asap_cutoff)


class FileEchoCalculator(FileIOCalculator):
    """A file-based calculator: writes positions, an external process copies them, reads them back.

    Energy = sum of all coordinates (eV), forces = 0; a structure reading another's output file
    (two calls sharing one directory) gets the wrong energy.
    """

    implemented_properties: ClassVar[list[str]] = ["energy", "forces"]
    _copy = "import time; time.sleep(0.05); open('out.txt', 'w').write(open('in.txt').read())"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(command=f'"{sys.executable}" -c "{self._copy}"', **kwargs)

    def write_input(self, atoms: Any, properties: Any = None, system_changes: Any = None) -> None:
        super().write_input(atoms, properties, system_changes)
        np.savetxt(Path(self.directory) / "in.txt", atoms.positions)

    def read_results(self) -> None:
        positions = np.loadtxt(Path(self.directory) / "out.txt").reshape(-1, 3)
        self.results = {"energy": float(positions.sum()), "forces": np.zeros_like(positions)}
