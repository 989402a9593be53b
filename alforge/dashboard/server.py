"""Serving the dashboard: :func:`serve` for ``alforge dashboard``, :func:`running_server` for tests.

Example
-------
>>> with running_server(create_app("sqlite:///:memory:")) as url:  # doctest: +SKIP
...     httpx.get(f"{url}/api/campaigns").json()
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from alforge.dashboard.app import create_app
from alforge.settings import get_settings

__all__ = ["running_server", "serve"]

log = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(host: str = "127.0.0.1", port: int = 8765, db_url: str | None = None) -> None:
    """Run the dashboard until interrupted (what ``alforge dashboard`` does).

    Parameters
    ----------
    host
        Interface to bind; the default keeps the dashboard on this machine. Reads need no token,
        so bind another interface only on a network you trust.
    port
        TCP port.
    db_url
        Campaign database (default from the settings).
    """
    app = create_app(db_url)
    if not _is_loopback(host):
        log.warning(
            "dashboard bound to %s: anyone who can reach it can read campaign data%s",
            host,
            "" if get_settings().dashboard_token else " (writes are disabled: no ALFORGE_DASHBOARD_TOKEN)",
        )
    print(f"alforge dashboard on http://{host}:{port}  (database {app.state.db.safe_url})", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)


@contextmanager
def running_server(app: FastAPI, host: str = "127.0.0.1", port: int = 0, timeout_s: float = 20.0) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread; yield its base URL (a free port by default)."""
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", server_header=False))
    thread = threading.Thread(target=server.run, name="dashboard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            msg = f"dashboard server on {host}:{port} did not start within {timeout_s} s; is the port free?"
            raise RuntimeError(msg)
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
