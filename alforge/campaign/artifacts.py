"""Model artifacts: build a model from the spec, save it content-addressed, load it back (cached).

A fitted model is written atomically under ``<models_dir>/<campaign>/generation-NNN-<sha>.model``
and its sha256 stored with the model record; :func:`load_model_record` refuses a file whose
checksum does not match. Models are cached per process by checksum (ids repeat across databases).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

from alforge.campaign.context import CampaignContext
from alforge.db import Database, ModelRecord
from alforge.errors import AlforgeError, ModelError

__all__ = ["build_model", "cache_model", "file_sha256", "load_model_record", "save_model"]

_MODELS: dict[str, Any] = {}  # fitted models by artifact checksum
_MODELS_LOCK = threading.Lock()


def save_model(model: Any, ctx: CampaignContext, index: int) -> tuple[Path, str]:
    """Write the model atomically under a content-addressed name; return (path, sha256)."""
    import os

    from alforge.settings import get_settings

    folder = get_settings().models_dir / ctx.name
    folder.mkdir(parents=True, exist_ok=True)
    scratch = folder / f".generation-{index:03d}-{os.getpid()}-{threading.get_ident()}.tmp"
    model.save(scratch)
    checksum = file_sha256(scratch)
    path = folder / f"generation-{index:03d}-{checksum[:12]}.model"
    scratch.replace(path)
    return path, checksum


def file_sha256(path: Path) -> str:
    """The sha256 hex digest of a file."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_model(ctx: CampaignContext, hyperparameters: dict[str, Any] | None = None) -> Any:
    """A fresh, unfitted model as the spec describes (``hyperparameters``: fixed instead of searched)."""
    c = ctx.spec.compute
    spec = ctx.spec.model.with_hyperparameters(hyperparameters)
    return spec.build(device=c.device, dtype=c.dtype, seed=ctx.spec.seed)


def load_model_record(db: Database, model_id: int) -> Any:
    """The fitted model of a model record (cached in this process; checksum verified on load)."""
    from alforge.models import load_model

    with db.session(readonly=True) as session:
        record = session.get(ModelRecord, model_id)
        if record is None:
            msg = f"model {model_id} does not exist"
            raise AlforgeError(msg)
        path, checksum = Path(record.artifact_path), record.checksum
    with _MODELS_LOCK:
        if checksum in _MODELS:
            return _MODELS[checksum]
    if not path.exists() or file_sha256(path) != checksum:
        msg = f"model file {path} is missing or does not match its checksum; rerun the campaign to refit it"
        raise ModelError(msg)
    model = load_model(path)
    with _MODELS_LOCK:
        _MODELS[checksum] = model
    return model


def cache_model(sha256: str, model: Any) -> None:
    """Keep a just-fitted model in this process's cache under its artifact checksum."""
    with _MODELS_LOCK:
        _MODELS[sha256] = model
