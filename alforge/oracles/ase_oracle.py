"""Any ASE calculator as an oracle (EMT, Lennard-Jones, Morse, or your own class).

Cheap calculators run in the calling thread, each call with a new calculator instance so that
concurrent calls do not share state. Give ``wall_time_s`` to run each call in a worker process
that is killed when it takes longer (the calculator must then be a name, an importable path or a
picklable class). Exceptions raised by the calculator quarantine the structure.

``charge`` and ``spin`` are recorded in the level of theory; a calculator that needs them takes
them through its own keyword arguments.

Example
-------
>>> from ase.build import molecule
>>> oracle = ASEOracle("EMT")
>>> oracle.level_of_theory.code
'ase:EMT'
>>> oracle.compute(molecule("H2O")).ok
True
"""

from __future__ import annotations

import pickle
import time
from collections.abc import Sequence
from importlib import metadata
from typing import Any, ClassVar

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from alforge.errors import OracleInputError, OracleSetupError
from alforge.oracles.ase_calculation import ASETask, CalculatorFactory, evaluate, resolve_calculator
from alforge.oracles.base import Oracle, OracleResult
from alforge.oracles.checks import check_atomic_numbers, net_force_eV_per_A, problem_with_labels
from alforge.oracles.level_of_theory import LevelOfTheory
from alforge.oracles.worker_main import one_line
from alforge.oracles.worker_pool import WorkerKind, shared_pool

__all__ = ["ASEOracle"]

_CALCULATION = "alforge.oracles.ase_calculation:run"


def _json_ready(name: str, value: Any) -> Any:
    """``value`` as plain JSON types (numpy arrays become lists), or OracleSetupError."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_json_ready(name, item) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {key: _json_ready(name, item) for key, item in value.items()}
    msg = (
        f"calculator setting {name}={value!r} cannot be recorded in the level of theory; "
        "pass numbers, strings, lists or dicts"
    )
    raise OracleSetupError(msg)


def _dotted_path(factory: CalculatorFactory) -> str:
    module = getattr(factory, "__module__", None)
    qualname = getattr(factory, "__qualname__", None)
    if module and qualname and "<" not in qualname:
        return f"{module}:{qualname}"
    return repr(factory)


def _code_version(factory: CalculatorFactory) -> str:
    import ase

    top = (getattr(factory, "__module__", "") or "").split(".")[0]
    if top in ("", "ase"):
        return f"ase {ase.__version__}"
    try:
        return f"{top} {metadata.version(top)}; ase {ase.__version__}"
    except metadata.PackageNotFoundError:
        return f"ase {ase.__version__}"


class ASEOracle(Oracle):
    """Energies (eV) and forces (eV/Å) from any ASE calculator.

    Parameters
    ----------
    calculator
        An ASE calculator name (``"EMT"``, ``"lj"``/``"LennardJones"``, ``"morse"``, ...), a path
        ``"package.module:Class"``, or a calculator class / factory function. Not an instance:
        one instance cannot be shared between threads.
    charge, spin
        Recorded in the level of theory (e and 2S).
    wall_time_s
        ``None`` (default): run in the calling thread. A number: run each calculation in a
        worker process killed after this many seconds.
    min_distance_A
        Structures with two atoms closer than this (Å) are refused.
    **calculator_kwargs
        Passed to the calculator; recorded in the level of theory, so they must be plain
        numbers, strings, lists or dicts.

    Raises
    ------
    OracleSetupError
        Unknown calculator, settings the calculator rejects, or a calculator instance.
    """

    name: ClassVar[str] = "ase"

    def __init__(
        self,
        calculator: str | CalculatorFactory,
        charge: int = 0,
        spin: int = 0,
        *,
        wall_time_s: float | None = None,
        min_distance_A: float = 0.5,
        **calculator_kwargs: Any,
    ) -> None:
        if isinstance(calculator, Calculator):
            msg = (
                f"got a calculator instance ({type(calculator).__name__}); pass its class or a "
                "factory instead, e.g. ASEOracle(EMT) or ASEOracle('EMT'), so each call gets its own"
            )
            raise OracleSetupError(msg)
        if isinstance(calculator, str):
            factory = resolve_calculator(calculator)
            spec: str | CalculatorFactory = calculator.strip()
        elif callable(calculator):
            factory = calculator
            spec = calculator
        else:
            msg = f"calculator must be a name, 'package.module:Class' or a class, got {calculator!r}"
            raise OracleSetupError(msg)
        for label, value in (("charge", charge), ("spin", spin)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                msg = f"{label} must be an integer, got {value!r}; pass e.g. {label}=0"
                raise OracleSetupError(msg)
        if wall_time_s is not None and (
            isinstance(wall_time_s, bool) or not isinstance(wall_time_s, int | float) or wall_time_s <= 0
        ):
            msg = f"wall_time_s must be a positive number of seconds or None, got {wall_time_s!r}"
            raise OracleSetupError(msg)
        if isinstance(min_distance_A, bool) or not isinstance(min_distance_A, int | float):
            msg = f"min_distance_A must be a number of Å, got {min_distance_A!r}; pass e.g. 0.5"
            raise OracleSetupError(msg)
        self._factory = factory
        self._spec = spec
        self.calculator_kwargs = dict(calculator_kwargs)
        self.wall_time_s = None if wall_time_s is None else float(wall_time_s)
        self.min_distance_A = float(min_distance_A)
        self.charge = int(charge)
        self.spin = int(spin)
        try:
            probe = factory(**self.calculator_kwargs)
        except Exception as exc:
            msg = (
                f"cannot create calculator {calculator!r} with {self.calculator_kwargs} "
                f"({one_line(exc)}); check its keyword arguments"
            )
            raise OracleSetupError(msg) from exc
        self.calculator_name = type(probe).__name__
        if self.wall_time_s is not None and not isinstance(spec, str):
            try:
                pickle.dumps(spec)
            except Exception as exc:
                msg = (
                    f"calculator factory {spec!r} cannot be sent to a worker process ({one_line(exc)}); "
                    "use a module-level class or function, or wall_time_s=None"
                )
                raise OracleSetupError(msg) from exc
        settings = {
            "calculator": spec if isinstance(spec, str) else _dotted_path(spec),
            "kwargs": {key: _json_ready(key, value) for key, value in self.calculator_kwargs.items()},
        }
        self._level = LevelOfTheory(
            code=f"{self.name}:{self.calculator_name}",
            method=self.calculator_name,
            basis=None,
            charge=self.charge,
            spin=self.spin,
            settings=settings,
            code_version=_code_version(factory),
        )
        self._kind = WorkerKind(preload=("ase", "alforge.oracles.ase_calculation"), threads=1)

    def abort(self) -> None:
        """Kill the worker processes running this oracle's calculations (with ``wall_time_s``)."""
        shared_pool().kill_running(owner=self)

    @property
    def level_of_theory(self) -> LevelOfTheory:
        """``code="ase:<Class>"``, the calculator's keyword arguments in ``settings``."""
        return self._level

    @classmethod
    def from_level(cls, level: LevelOfTheory) -> ASEOracle:
        """Rebuild from a stored level of theory (needs ``settings["calculator"]`` importable)."""
        calculator = level.settings.get("calculator")
        if not isinstance(calculator, str):
            msg = f"level {level.describe()} names no calculator in its settings; ASEOracle did not make it"
            raise OracleSetupError(msg)
        return cls(calculator, level.charge, level.spin, **level.settings.get("kwargs", {}))

    def check(self, numbers: Sequence[int] | np.ndarray) -> None:
        """Raise :class:`OracleSetupError` for atomic numbers that are no element.

        Whether the calculator supports an element is only known when it runs; an unsupported
        element quarantines the structure.
        """
        check_atomic_numbers(numbers)

    def compute(self, atoms: Atoms) -> OracleResult:
        """Energy (eV) and forces (eV/Å) of one structure; quarantined if the calculator fails.

        Raises
        ------
        OracleSetupError
            If :meth:`check` fails, or no worker process can be started (with ``wall_time_s``).
        """
        start = time.perf_counter()
        self.check(atoms.numbers)
        try:
            self.validate(atoms)
        except OracleInputError as exc:
            return self._quarantine(str(exc), start, attempts=0, details={"phase": "input"})
        details: dict[str, Any] = {"calculator": self.calculator_name}
        if self.wall_time_s is None:
            try:
                energy_eV, forces = evaluate(self._factory, self.calculator_kwargs, atoms)
            except Exception as exc:
                error = f"{self.calculator_name} failed: {one_line(exc)}"
                return self._quarantine(error, start, attempts=1, details=details)
        else:
            bare = atoms.copy()
            bare.calc = None
            task = ASETask(calculator=self._spec, atoms=bare, kwargs=self.calculator_kwargs)
            outcome = shared_pool().run(self._kind, _CALCULATION, task, self.wall_time_s, owner=self)
            details["worker_pid"] = outcome.pid
            if outcome.kind != "ok":
                prefix = f"{self.calculator_name} failed: " if outcome.kind == "error" else ""
                return self._quarantine(prefix + outcome.message, start, attempts=1, details=details)
            energy_eV, forces = outcome.value
        problem = problem_with_labels(energy_eV, forces, atoms)
        if problem is None and not np.any(atoms.pbc):
            details["net_force_eV_per_A"] = net_force_eV_per_A(forces)
        if problem is not None:
            return self._quarantine(problem, start, attempts=1, details=details)
        return OracleResult(
            status="ok",
            energy_eV=energy_eV,
            forces_eV_per_A=forces,
            error=None,
            wall_time_s=time.perf_counter() - start,
            attempts=1,
            level=self._level,
            details=details,
        )

    def _quarantine(self, error: str, start: float, *, attempts: int, details: dict[str, Any]) -> OracleResult:
        return OracleResult.quarantined(
            error, level=self._level, wall_time_s=time.perf_counter() - start, attempts=attempts, details=details
        )

    def __repr__(self) -> str:
        return f"ASEOracle({self.calculator_name}, {self.calculator_kwargs})"
