"""Finding oracles by name: the built-ins and any package's ``alforge.oracles`` entry points.

A package adds an oracle by declaring, in its ``pyproject.toml``::

    [project.entry-points."alforge.oracles"]
    mycode = "mypackage.oracle:MyOracle"

where ``MyOracle`` subclasses :class:`~alforge.oracles.base.Oracle`.

Example
-------
>>> oracle = get_oracle("pyscf", method="HF", basis="sto-3g")
>>> oracle_from_level(oracle.level_of_theory).level_of_theory.hash == oracle.level_of_theory.hash
True
>>> get_oracle("ase:EMT").level_of_theory.code
'ase:EMT'
"""

from __future__ import annotations

import importlib
import inspect
from importlib import metadata
from typing import Any

from alforge.errors import OracleSetupError
from alforge.oracles.base import Oracle
from alforge.oracles.level_of_theory import LevelOfTheory

__all__ = [
    "ENTRY_POINT_GROUP",
    "available_oracles",
    "get_oracle",
    "oracle_class",
    "oracle_from_level",
    "register_oracle",
]

ENTRY_POINT_GROUP = "alforge.oracles"

_BUILTIN = {
    "pyscf": "alforge.oracles.pyscf_oracle:PySCFOracle",
    "ase": "alforge.oracles.ase_oracle:ASEOracle",
}


_REGISTERED: dict[str, str] = {}


def register_oracle(name: str, target: str) -> None:
    """Register an oracle class at run time, as ``"module:Class"`` (no packaging needed).

    Entry points in the ``alforge.oracles`` group are the way for installed packages; this is for
    notebooks and tests. Built-in names cannot be replaced.
    """
    key = name.strip().lower()
    if key in _BUILTIN:
        msg = f"oracle name {name!r} is built in; register yours under another name"
        raise OracleSetupError(msg)
    _REGISTERED[key] = target


def _targets() -> dict[str, str]:
    """Oracle name -> ``"module:Class"``; built-ins win over registered ones and entry points."""
    targets = {ep.name.lower(): ep.value for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    targets.update(_REGISTERED)
    targets.update(_BUILTIN)
    return targets


def available_oracles() -> list[str]:
    """Names :func:`get_oracle` accepts, sorted."""
    return sorted(_targets())


def oracle_class(name: str) -> type[Oracle]:
    """The :class:`Oracle` subclass registered as ``name`` (case-insensitive).

    Raises
    ------
    OracleSetupError
        If no oracle has that name, or its entry point does not load an Oracle subclass.
    """
    targets = _targets()
    key = name.strip().lower()
    if key not in targets:
        msg = f"unknown oracle {name!r}; known oracles: {', '.join(sorted(targets))}"
        raise OracleSetupError(msg)
    module_name, _, attribute = targets[key].partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        msg = f"oracle {name!r} cannot be loaded from {targets[key]!r} ({exc}); reinstall its package"
        raise OracleSetupError(msg) from exc
    if not (inspect.isclass(cls) and issubclass(cls, Oracle)):
        msg = f"oracle {name!r} points to {targets[key]!r}, which is not an alforge Oracle subclass"
        raise OracleSetupError(msg)
    return cls


def _check_settings(name: str, cls: type[Oracle], settings: dict[str, Any]) -> None:
    parameters = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    unknown = sorted(set(settings) - set(parameters))
    if unknown:
        msg = (
            f"oracle {name!r} has no setting {', '.join(map(repr, unknown))}; its settings are: {', '.join(parameters)}"
        )
        raise OracleSetupError(msg)


def get_oracle(name: str, **settings: Any) -> Oracle:
    """Build the oracle registered as ``name`` with keyword ``settings``.

    ``"name:argument"`` passes ``argument`` as the first positional argument, so
    ``get_oracle("ase:EMT")`` is ``ASEOracle("EMT")``.

    Parameters
    ----------
    name
        ``"pyscf"``, ``"ase"``, ``"ase:<Calculator>"`` or an entry-point name.
    **settings
        Keyword arguments of the oracle's constructor (e.g. ``method``, ``basis``).

    Raises
    ------
    OracleSetupError
        Unknown name, unknown settings, or settings the oracle rejects.
    """
    base, _, argument = name.partition(":")
    cls = oracle_class(base)
    _check_settings(base, cls, settings)
    if argument:
        return cls(argument, **settings)  # type: ignore[call-arg]
    return cls(**settings)


def oracle_from_level(level: LevelOfTheory) -> Oracle:
    """Rebuild the oracle that computes at a stored level of theory.

    Raises
    ------
    OracleSetupError
        If the oracle is unknown, cannot be rebuilt from a level, or the rebuilt oracle's level
        hash differs from ``level.hash`` (settings this version does not reproduce).
    """
    cls = oracle_class(level.code.partition(":")[0])
    oracle = cls.from_level(level)
    rebuilt = oracle.level_of_theory
    if rebuilt.hash != level.hash:
        msg = (
            f"rebuilding {level.describe()} gave a different level of theory (hash {rebuilt.hash}, "
            f"stored {level.hash}; settings {rebuilt.settings} vs {level.settings}); "
            "the stored level was made by another version of the oracle"
        )
        raise OracleSetupError(msg)
    return oracle
