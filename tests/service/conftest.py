"""Service fixtures: a real Prefect server on the test PostgreSQL, started with `alforge server`.

Every process is started in its own session (process group) and its whole group is killed in
a ``finally``, so a failing test leaves nothing running.
"""

from __future__ import annotations

import signal
import sys
import uuid
from collections.abc import Iterator

import pytest
from service_helpers import PrefectAPI, Service, child_env, free_port, http_ok

from tests.support.postgres import PostgresServer

SERVER_START_S = 90.0


@pytest.fixture(scope="module")
def prefect_api(postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectAPI]:
    """`alforge server` on a free port, storing its state in a fresh PostgreSQL database.

    The URL is given with the psycopg driver, as alforge's own URLs are; `alforge server` hands
    Prefect the asyncpg form. PostgreSQL rather than SQLite: a Prefect server on SQLite stalls
    under back-to-back runs.
    """
    root = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    database = postgres_server.create_database(f"prefect_{uuid.uuid4().hex[:10]}")
    env = child_env(
        PREFECT_HOME=str(root / "prefect-home"),
        PREFECT_API_DATABASE_CONNECTION_URL=database,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_SERVER_UI_ENABLED="false",
    )
    command = [sys.executable, "-m", "alforge", "server", "--host", "127.0.0.1", "--port", str(port)]
    service = Service.start("alforge server", command, env, root / "server.log")
    try:
        url = f"http://127.0.0.1:{port}"
        service.wait_until(lambda: http_ok(f"{url}/api/health"), SERVER_START_S, "healthy Prefect API")
        yield PrefectAPI(url=url, api=f"{url}/api", service=service)
        status = service.stop(signal.SIGTERM, timeout_s=30)
        if status is None or not service.wait_group_gone():
            pytest.fail(f"the Prefect server did not stop within 30 s of SIGTERM\n{service.tail()}")
    finally:
        service.kill_group()


@pytest.fixture(scope="module")
def service_db(postgres_server: PostgresServer) -> str:
    """A fresh PostgreSQL campaign database shared by the module's processes."""
    return postgres_server.create_database(f"alforge_{uuid.uuid4().hex[:10]}")
