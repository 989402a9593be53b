"""Model kinds by name: build a potential from options, load one from a file.

A later model kind registers itself by adding an entry to :data:`KINDS` (``"name":
"module:Class"``); classes are imported lazily.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from alforge.errors import ModelError
from alforge.models.base import Potential
from alforge.models.model_file import read_model_file

__all__ = ["KINDS", "build_model", "load_model", "model_class"]

KINDS: dict[str, str] = {
    "gp": "alforge.models.gdml.gp_potential:GPPotential",
    "committee": "alforge.models.committee.committee_potential:CommitteePotential",
    "local": "alforge.models.local.local_gp_potential:LocalGPPotential",
}


def model_class(kind: str) -> type[Potential]:
    """The :class:`Potential` subclass registered as ``kind``.

    Raises
    ------
    ModelError
        ``kind`` is not registered (the message lists the known kinds).
    """
    if kind not in KINDS:
        msg = f"unknown model kind {kind!r}; use one of {', '.join(sorted(KINDS))}"
        raise ModelError(msg)
    module_name, class_name = KINDS[kind].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_model(kind: str, **options: Any) -> Potential:
    """A new, unfitted potential of ``kind`` (``"gp"``, ``"committee"`` or ``"local"``) with ``options``.

    Example
    -------
    >>> build_model("gp", kernel="rbf").kind
    'gp'
    """
    cls = model_class(kind)
    try:
        return cls(**options)
    except TypeError as exc:
        msg = f"invalid options for a {kind!r} model ({exc}); see help({cls.__name__})"
        raise ModelError(msg) from exc


def load_model(path: str | Path) -> Potential:
    """Read a potential written by :meth:`Potential.save`.

    Raises
    ------
    ModelError
        Missing, corrupt or unknown file, or an unknown model kind.
    """
    kind, state = read_model_file(path)
    try:
        cls = model_class(kind)
    except ModelError as exc:
        msg = f"{path}: holds a model of kind {kind!r} that this alforge does not know; upgrade alforge"
        raise ModelError(msg) from exc
    try:
        return cls.from_full_state(state)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        msg = f"{path}: the model state is incomplete ({exc!r}); the file is corrupt, refit the model"
        raise ModelError(msg) from exc
