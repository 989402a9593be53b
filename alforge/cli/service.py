"""`alforge server`, `alforge serve` and `alforge dashboard`: the long-running services."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from alforge.cli.common import console, friendly
from alforge.errors import AlforgeError

__all__ = ["dashboard", "serve", "server"]


@friendly
def server(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 4200,
) -> None:
    """Start a local Prefect server (SQLite by default; PostgreSQL via PREFECT_API_DATABASE_CONNECTION_URL)."""
    from alforge.settings import redact_url

    env = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", **os.environ}
    database = env.get("PREFECT_API_DATABASE_CONNECTION_URL", "")
    scheme, _, rest = database.partition("://")
    if scheme in {"postgres", "postgresql", "postgresql+psycopg", "postgresql+psycopg2"}:
        database = env["PREFECT_API_DATABASE_CONNECTION_URL"] = f"postgresql+asyncpg://{rest}"  # Prefect's driver
    shown = "127.0.0.1" if host in {"0.0.0.0", "::"} else host
    where = redact_url(database) if database else "SQLite in PREFECT_HOME"
    console.print(f"Prefect server on http://{host}:{port}, database {where}; point clients at it with")
    console.print(f"  export PREFECT_API_URL=http://{shown}:{port}/api")
    sys.stdout.flush()
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)]
    try:  # the server replaces this process, so SIGTERM/SIGINT reach it directly (docker stop, Ctrl-C)
        os.execve(sys.executable, command, env)
    except OSError as exc:
        msg = f"cannot start `{' '.join(command[1:])}` ({exc.strerror}); check the Python at {sys.executable}"
        raise AlforgeError(msg) from None


@friendly
def serve(
    spec: Annotated[list[Path] | None, typer.Argument(help="Specs whose campaigns to serve.")] = None,
    cron: Annotated[str | None, typer.Option(help="Cron schedule for every spec given (else each spec's own).")] = None,
    limit: Annotated[int | None, typer.Option(help="Most flow runs at once.", min=1)] = None,
    pool: Annotated[
        str | None,
        typer.Option(help="Register the deployments on this work pool (`prefect worker start`) instead of serving."),
    ] = None,
) -> None:
    """Register the `campaign` deployments (generic + scheduled per spec) and serve them."""
    from alforge.api import _quiet_prefect
    from alforge.config import load_spec

    specs = [load_spec(path) for path in spec or []]
    _quiet_prefect()
    from alforge.flows.deploy import check_cron, deploy_campaigns, serve_campaigns

    if cron is not None:
        check_cron(cron, "--cron")
    if pool is not None:
        for name in deploy_campaigns(specs, cron=cron, work_pool=pool):
            console.print(f"registered {name} on work pool {pool}")
        return
    serve_campaigns(specs, cron=cron, limit=limit)


@friendly
def dashboard(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
) -> None:
    """The web dashboard and its JSON API under /api (read-only unless ALFORGE_DASHBOARD_TOKEN is set)."""
    from alforge.dashboard import serve as serve_dashboard

    serve_dashboard(host=host, port=port)
