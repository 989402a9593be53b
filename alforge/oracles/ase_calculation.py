"""Resolving an ASE calculator by name and evaluating it on one structure.

Used by :class:`~alforge.oracles.ase_oracle.ASEOracle` in its own process and, when a wall-time
limit is set, inside a worker process (:mod:`alforge.oracles.worker_pool`).

Example
-------
>>> from ase.build import molecule
>>> factory = resolve_calculator("EMT")
>>> energy_eV, forces = evaluate(factory, {}, molecule("H2"))
>>> forces.shape
(2, 3)
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from alforge.errors import OracleSetupError

__all__ = ["ALIASES", "ASETask", "CalculatorFactory", "evaluate", "resolve_calculator", "run"]

CalculatorFactory = Callable[..., Calculator]
"""A calculator class, or any callable returning a new calculator from keyword arguments."""

ALIASES = {"lennardjones": "lj", "morsepotential": "morse", "lennard-jones": "lj"}
"""Class names accepted besides ASE's short calculator names (``emt``, ``lj``, ``morse``, ...)."""


def resolve_calculator(spec: str) -> CalculatorFactory:
    """The calculator class for an ASE name (``"EMT"``, ``"lj"``) or a path ``"pkg.module:Class"``.

    Raises
    ------
    OracleSetupError
        If the name is unknown or the path cannot be imported.
    """
    from ase.calculators.calculator import get_calculator_class, names

    text = spec.strip()
    if ":" in text:
        module_name, _, attribute = text.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError) as exc:
            msg = f"cannot import calculator {spec!r} ({exc}); give an importable 'package.module:Class'"
            raise OracleSetupError(msg) from exc
        if not callable(factory):
            msg = f"{spec!r} is not callable; give a calculator class or factory function"
            raise OracleSetupError(msg)
        return factory
    key = ALIASES.get(text.lower(), text.lower())
    if key not in names:
        msg = (
            f"unknown ASE calculator {spec!r}; use one of ASE's names (e.g. EMT, lj, morse) "
            "or a path 'package.module:Class'"
        )
        raise OracleSetupError(msg)
    try:
        return get_calculator_class(key)
    except ImportError as exc:
        msg = f"ASE calculator {spec!r} cannot be imported ({exc}); install what it needs"
        raise OracleSetupError(msg) from exc


def evaluate(factory: CalculatorFactory, kwargs: dict[str, Any], atoms: Atoms) -> tuple[float, np.ndarray]:
    """Energy (eV) and forces (eV/Å, shape ``(n_atoms, 3)``) of ``atoms`` with a new calculator.

    A new calculator per call keeps concurrent calls independent (ASE calculators hold state); a
    file-based calculator given no ``directory`` works in a fresh temporary folder, so that
    concurrent calls do not overwrite each other's input and output files.
    """
    from ase.calculators.calculator import FileIOCalculator

    work = atoms.copy()
    work.calc = factory(**kwargs)
    if isinstance(work.calc, FileIOCalculator) and "directory" not in kwargs:
        with tempfile.TemporaryDirectory(prefix="alforge-ase-") as folder:
            work.calc.directory = folder
            return _energy_and_forces(work)
    return _energy_and_forces(work)


def _energy_and_forces(atoms: Atoms) -> tuple[float, np.ndarray]:
    return float(atoms.get_potential_energy()), np.array(atoms.get_forces(), dtype=float)


@dataclass(frozen=True)
class ASETask:
    """One evaluation sent to a worker process.

    Attributes
    ----------
    calculator
        Name or path for :func:`resolve_calculator`, or a picklable factory.
    kwargs
        Keyword arguments of the calculator.
    atoms
        The structure (positions in Å), without calculator.
    """

    calculator: str | CalculatorFactory
    atoms: Atoms
    kwargs: dict[str, Any] = field(default_factory=dict)


def run(task: ASETask) -> tuple[float, np.ndarray]:
    """Worker entry: :func:`evaluate` for a task."""
    factory = resolve_calculator(task.calculator) if isinstance(task.calculator, str) else task.calculator
    return evaluate(factory, task.kwargs, task.atoms)
