"""A PySCF oracle that suffers real faults on a chosen share of calculations (tests, benchmarks).

Every ``every``-th call gets the next fault of ``kinds``, produced for real by the PySCF oracle:

- ``nonconvergence``: ``max_cycle=1`` on every rung of the SCF ladder, so the SCF truly fails;
- ``killed``: the worker process is sent SIGKILL mid-calculation;
- ``timeout``: a wall-time limit of 0.05 s on a calculation that takes longer on any machine
  (the cc-pVTZ basis from a MINAO guess: 0.44 s for water here, where STO-3G from a previous
  guess takes 0.035 s and so could beat the limit), so the worker is killed for running too long;
- ``exception``: a basis name PySCF does not know, so PySCF itself raises inside the worker.

Only the choice of *which* calculation fails is injected; the failures are the real thing. The
level of theory is the wrapped oracle's, so results count as that level's labels.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from ase import Atoms

from alforge.oracles.base import Oracle, OracleResult
from alforge.oracles.level_of_theory import LevelOfTheory
from alforge.oracles.pyscf_oracle import PySCFOracle

__all__ = ["FAULT_KINDS", "FaultyOracle"]

FAULT_KINDS = ("nonconvergence", "killed", "timeout", "exception")


class FaultyOracle(Oracle):
    """Wraps :class:`PySCFOracle`; see the module docstring."""

    name: ClassVar[str] = "faulty-pyscf"

    def __init__(
        self, *, every: int = 3, kinds: Sequence[str] = FAULT_KINDS, offset: int = 0, **pyscf_settings: Any
    ) -> None:
        unknown = sorted(set(kinds) - set(FAULT_KINDS))
        if unknown:
            msg = f"unknown fault kinds {unknown}; use some of {list(FAULT_KINDS)}"
            raise ValueError(msg)
        self.base = PySCFOracle(**pyscf_settings)
        self.every = every
        self.kinds = tuple(kinds)
        self.calls = offset
        self.injected: list[str] = []
        self._lock = threading.Lock()

    @property
    def level_of_theory(self) -> LevelOfTheory:
        return self.base.level_of_theory

    def check(self, numbers: Sequence[int] | np.ndarray) -> None:
        self.base.check(numbers)

    def validate(self, atoms: Atoms) -> None:
        self.base.validate(atoms)

    def _variant(self, kind: str) -> PySCFOracle:
        oracle = copy.copy(self.base)
        if kind == "nonconvergence":
            oracle.max_cycle = 1
            oracle.reuse_guess = False
        elif kind == "killed":
            oracle._test_fault = "sigkill"
        elif kind == "timeout":
            oracle.wall_time_s = 0.05
            oracle.basis = "cc-pvtz"
            oracle.reuse_guess = False
        elif kind == "exception":
            oracle.basis = "no-such-basis"
        return oracle

    def compute(self, atoms: Atoms) -> OracleResult:
        with self._lock:
            self.calls += 1
            call = self.calls
        if call % self.every:
            return self.base.compute(atoms)
        kind = self.kinds[(call // self.every - 1) % len(self.kinds)]
        with self._lock:
            self.injected.append(kind)
        result = self._variant(kind).compute(atoms)
        result.details = {**(result.details or {}), "injected_fault": kind}
        return result
