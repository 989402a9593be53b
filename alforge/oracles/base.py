"""The oracle contract: one structure in, energy + forces + provenance out, never an exception per structure.

An :class:`Oracle` separates three kinds of trouble:

- *setup* problems that no geometry can fix (unknown method, an element the basis lacks, an
  electron count that does not fit the spin) raise :class:`~alforge.errors.OracleSetupError`,
  from the constructor or from :meth:`Oracle.check`;
- *input* problems of one structure (NaN coordinates, atoms on top of each other) raise
  :class:`~alforge.errors.OracleInputError` from :meth:`Oracle.validate`;
- everything that goes wrong while one structure is computed (bad geometry, SCF not converged,
  crash, wall time exceeded) makes :meth:`Oracle.compute` return an :class:`OracleResult` with
  status ``"quarantined"`` and a one-line reason, so that a campaign keeps going.

Example
-------
>>> from ase.build import molecule
>>> from alforge.oracles import ASEOracle
>>> result = ASEOracle("EMT").compute(molecule("H2"))
>>> result.ok, result.forces_eV_per_A.shape
(True, (2, 3))
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np
from ase import Atoms

from alforge.errors import OracleRunError, OracleSetupError
from alforge.oracles.checks import check_geometry
from alforge.oracles.level_of_theory import LevelOfTheory

__all__ = ["Oracle", "OracleResult", "ProgressCallback"]

ProgressCallback = Callable[[int, int], None]
"""``progress(done, total)``, called after each finished structure."""


@dataclass
class OracleResult:
    """The outcome of one reference calculation.

    Attributes
    ----------
    status
        ``"ok"`` when energy and forces are trustworthy, ``"quarantined"`` otherwise.
    energy_eV
        Total energy in eV, or ``None`` when quarantined.
    forces_eV_per_A
        Forces in eV/Å, shape ``(n_atoms, 3)``, or ``None`` when quarantined.
    error
        One-line reason for quarantine (``None`` when ok), e.g. ``"wall time 5 s exceeded"``.
    wall_time_s
        Seconds spent on this structure, as seen by the caller.
    attempts
        Number of SCF-ladder steps (or calculator calls) tried; 0 if nothing was run.
    level
        The level of theory the numbers belong to.
    details
        JSON-ready extras: SCF cycles, the ladder step that converged, the initial guess, ...
    """

    status: Literal["ok", "quarantined"]
    energy_eV: float | None
    forces_eV_per_A: np.ndarray | None
    error: str | None
    wall_time_s: float
    attempts: int
    level: LevelOfTheory
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when the status is ``"ok"``."""
        return self.status == "ok"

    def raise_for_status(self) -> None:
        """Raise :class:`~alforge.errors.OracleRunError` with :attr:`error` if quarantined."""
        if not self.ok:
            raise OracleRunError(self.error or "calculation quarantined without a reason")

    @classmethod
    def quarantined(
        cls,
        error: str,
        *,
        level: LevelOfTheory,
        wall_time_s: float,
        attempts: int = 0,
        details: dict[str, Any] | None = None,
    ) -> OracleResult:
        """A result without numbers, carrying the one-line ``error``."""
        return cls(
            status="quarantined",
            energy_eV=None,
            forces_eV_per_A=None,
            error=error,
            wall_time_s=wall_time_s,
            attempts=attempts,
            level=level,
            details=dict(details or {}),
        )


class Oracle(ABC):
    """A reference code that labels structures with energies (eV) and forces (eV/Å).

    Subclasses set :attr:`name`, implement :attr:`level_of_theory`, :meth:`check` and
    :meth:`compute`; :meth:`compute` must be safe to call from several threads at once.
    """

    name: ClassVar[str]
    """Registry name, e.g. ``"pyscf"``."""

    min_distance_A: float = 0.5
    """Smallest interatomic distance (Å) that :meth:`validate` accepts."""

    allow_periodic: ClassVar[bool] = True
    """Whether periodic structures are accepted (False for molecular codes)."""

    @property
    @abstractmethod
    def level_of_theory(self) -> LevelOfTheory:
        """Method, basis, charge, spin, number-changing settings and code version."""

    @abstractmethod
    def check(self, numbers: Sequence[int] | np.ndarray) -> None:
        """Raise :class:`~alforge.errors.OracleSetupError` if these atomic numbers cannot be computed.

        Parameters
        ----------
        numbers
            Atomic numbers, shape ``(n_atoms,)``.
        """

    def validate(self, atoms: Atoms) -> None:
        """Raise :class:`~alforge.errors.OracleInputError` for a geometry that must not be computed.

        Parameters
        ----------
        atoms
            The structure, positions in Å.
        """
        check_geometry(atoms, min_distance_A=self.min_distance_A, allow_periodic=self.allow_periodic)

    @abstractmethod
    def compute(self, atoms: Atoms) -> OracleResult:
        """Energy (eV) and forces (eV/Å) of one structure; quarantined instead of raising per structure.

        Raises
        ------
        OracleSetupError
            For problems no geometry can fix (see :meth:`check`).
        """

    def warm_up(self, workers: int = 1) -> None:  # noqa: B027 (optional hook)
        """Prepare ``workers`` parallel calculations ahead of time (no-op unless overridden)."""

    def abort(self) -> None:  # noqa: B027 (optional hook)
        """Kill this oracle's running calculations, which then come back quarantined.

        Called by :meth:`compute_many` when it is interrupted (Ctrl-C); a no-op for oracles that
        compute in the calling thread.
        """

    @classmethod
    def from_level(cls, level: LevelOfTheory) -> Oracle:
        """Rebuild an oracle from a stored level of theory (overridden by oracles that can)."""
        msg = f"oracle {cls.__name__} cannot be rebuilt from a level of theory ({level.describe()})"
        raise OracleSetupError(msg)

    def compute_many(
        self,
        frames: Sequence[Atoms],
        workers: int = 1,
        progress: ProgressCallback | None = None,
    ) -> list[OracleResult]:
        """Compute several structures, ``workers`` at a time; results in the order of ``frames``.

        Every composition is checked (:meth:`check`) before any calculation starts, so a setup
        error surfaces at once. ``progress(done, total)`` is called from the calling thread.

        Parameters
        ----------
        frames
            Structures, positions in Å.
        workers
            Calculations run at the same time (each in its own thread, and for process-based
            oracles its own child process).
        progress
            Optional callable ``progress(done, total)``.

        Returns
        -------
        list of OracleResult
            One result per frame, in the order of ``frames``.

        Raises
        ------
        OracleSetupError
            If a composition fails :meth:`check` or ``workers`` is not a positive integer.
            An exception in the calling thread (Ctrl-C, or raised by ``progress``) kills the
            running calculations (:meth:`abort`) and propagates.
        """
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            msg = f"workers must be a positive integer, got {workers!r}; pass e.g. workers=2"
            raise OracleSetupError(msg)
        frames = list(frames)
        total = len(frames)
        seen: set[tuple[int, ...]] = set()
        for atoms in frames:
            key = tuple(int(z) for z in atoms.numbers)
            if key not in seen:
                seen.add(key)
                self.check(atoms.numbers)
        if progress is not None:
            progress(0, total)
        if workers == 1 or total <= 1:
            results = []
            for atoms in frames:
                results.append(self.compute(atoms))
                if progress is not None:
                    progress(len(results), total)
            return results
        return self._compute_threaded(frames, workers, progress)

    def _compute_threaded(
        self, frames: list[Atoms], workers: int, progress: ProgressCallback | None
    ) -> list[OracleResult]:
        total = len(frames)
        results: list[OracleResult | None] = [None] * total
        with ThreadPoolExecutor(max_workers=min(workers, total), thread_name_prefix="oracle") as pool:
            pending: dict[Future[OracleResult], int] = {
                pool.submit(self.compute, atoms): i for i, atoms in enumerate(frames)
            }
            done_count = 0
            try:
                while pending:
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        index = pending.pop(future)
                        results[index] = future.result()
                        done_count += 1
                        if progress is not None:
                            progress(done_count, total)
            except BaseException:
                for future in pending:
                    future.cancel()
                # a thread may pick up its next structure while we abort: repeat until all stopped
                while any(not future.done() for future in pending):
                    self.abort()
                    wait(pending, timeout=0.1)
                raise
        return [result for result in results if result is not None]
