"""alforge: active learning of Gaussian-process interatomic potentials.

The public Python API (see ``alforge.api``) is imported lazily so that ``import alforge`` is
cheap and pulls in neither Prefect nor PyTorch.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "CampaignSpec": "alforge.config",
    "Campaign": "alforge.api",
    "launch": "alforge.api",
    "load_model": "alforge.models",
}

__all__ = ["Campaign", "CampaignSpec", "__version__", "launch", "load_model"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'alforge' has no attribute {name!r}"
    raise AttributeError(msg)
