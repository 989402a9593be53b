"""The on-disk model file: one file, read without executing code.

A model file is a :func:`torch.save` archive of a dict
``{"format": "alforge-potential", "version": 1, "kind": KIND, "state": STATE}`` whose ``STATE``
holds only tensors, numbers, strings, lists and dicts, so :func:`read_model_file` can load it with
``weights_only=True`` (no pickled code runs).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from alforge.errors import ModelError

__all__ = ["FORMAT", "VERSION", "read_model_file", "write_model_file"]

FORMAT = "alforge-potential"
VERSION = 1


def write_model_file(path: str | Path, kind: str, state: dict[str, Any]) -> Path:
    """Write ``state`` of a model of ``kind`` to ``path`` (parent folders are created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": FORMAT, "version": VERSION, "kind": kind, "state": state}, path)
    return path


def read_model_file(path: str | Path) -> tuple[str, dict[str, Any]]:
    """Read a model file.

    Returns
    -------
    kind : str
        The model kind recorded in the file.
    state : dict
        The model's state.

    Raises
    ------
    ModelError
        The file is missing, corrupt, not an alforge model, or from a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such model file; check the path or fit a model first (alforge fit)"
        raise ModelError(msg)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a damaged archive
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        msg = f"{path}: cannot read as an alforge model ({reason[:120]}); the file is corrupt, refit the model"
        raise ModelError(msg) from exc
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        msg = f"{path}: not an alforge model file (no '{FORMAT}' header); pass a file written by alforge fit"
        raise ModelError(msg)
    version = content.get("version")
    if not isinstance(version, int) or version > VERSION:
        msg = f"{path}: model file version {version!r} is newer than this alforge reads ({VERSION}); upgrade alforge"
        raise ModelError(msg)
    kind, state = content.get("kind"), content.get("state")
    if not isinstance(kind, str) or not isinstance(state, dict):
        msg = f"{path}: the model file has no kind or state; the file is corrupt, refit the model"
        raise ModelError(msg)
    return kind, state
