"""Links from the dashboard to the Prefect UI (flow runs of each generation).

Example
-------
>>> prefect_ui_base({"PREFECT_API_URL": "http://prefect:4200/api"})
'http://prefect:4200'
>>> flow_run_url("5f0c", "http://prefect:4200")
'http://prefect:4200/runs/flow-run/5f0c'
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

__all__ = ["DEFAULT_PREFECT_UI_URL", "flow_run_url", "prefect_ui_base"]

DEFAULT_PREFECT_UI_URL = "http://127.0.0.1:4200"


def _http_url(value: str) -> str | None:
    """``value`` without trailing slashes if it is an absolute http(s) URL, else ``None``."""
    value = value.strip().rstrip("/")
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def prefect_ui_base(environ: Mapping[str, str] | None = None) -> str:
    """Base URL of the Prefect UI.

    ``PREFECT_UI_URL`` if set; else ``PREFECT_API_URL`` without its trailing ``/api``; else
    :data:`DEFAULT_PREFECT_UI_URL`. Values that are not absolute http(s) URLs are ignored, so a
    link can never carry another scheme (``javascript:``).
    """
    env = os.environ if environ is None else environ
    ui = _http_url(env.get("PREFECT_UI_URL", ""))
    if ui is not None:
        return ui
    api = _http_url(env.get("PREFECT_API_URL", ""))
    if api is not None:
        return api.removesuffix("/api")
    return DEFAULT_PREFECT_UI_URL


def flow_run_url(flow_run_id: str | None, base: str) -> str | None:
    """``<base>/runs/flow-run/<id>``, or ``None`` for a generation without a flow run."""
    if not flow_run_id:
        return None
    return f"{base}/runs/flow-run/{quote(flow_run_id, safe='')}"
