"""Shared fixtures: isolated ALFORGE_HOME, real SQLite and a real throwaway PostgreSQL server.

Set ``ALFORGE_TEST_DATABASE=postgres`` to run every test that uses the ``db`` fixture against
PostgreSQL only (by default the database tests run against both).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, PostgresUnavailableError

os.environ.setdefault("OMP_NUM_THREADS", "1")
# Prefect: a private home (its own SQLite API database) for the test session, no telemetry, quiet.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="alforge-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(autouse=True)
def alforge_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own data folder and default SQLite database."""
    home = tmp_path / "alforge-home"
    monkeypatch.setenv("ALFORGE_HOME", str(home))
    if os.environ.get("ALFORGE_TEST_DATABASE") != "postgres":
        monkeypatch.delenv("ALFORGE_DATABASE_URL", raising=False)
    return home


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole test session (skipped only outside CI if absent)."""
    try:
        server = PostgresServer().start()
    except PostgresUnavailableError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> str:
    """URL of a fresh, empty PostgreSQL database."""
    return postgres_server.create_database(f"t_{uuid.uuid4().hex[:12]}")


def _backends() -> list[str]:
    choice = os.environ.get("ALFORGE_TEST_DATABASE")
    if choice == "postgres":
        return ["postgres"]
    if choice == "sqlite":
        return ["sqlite"]
    return ["sqlite", "postgres"]


def _fresh_url(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, postgres: bool
) -> str:
    """A new PostgreSQL database or SQLite file, set as ALFORGE_DATABASE_URL for the test."""
    url = request.getfixturevalue("postgres_url") if postgres else f"sqlite:///{tmp_path / 'campaigns.db'}"
    monkeypatch.setenv("ALFORGE_DATABASE_URL", url)
    return url


@pytest.fixture(params=_backends())
def db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh database URL, SQLite file or PostgreSQL database (also set as ALFORGE_DATABASE_URL)."""
    return _fresh_url(request, tmp_path, monkeypatch, postgres=request.param == "postgres")


@pytest.fixture
def db(db_url: str):  # type: ignore[no-untyped-def]
    """A :class:`alforge.db.Database` on a fresh SQLite file or PostgreSQL database."""
    from alforge.db import Database

    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def e2e_db_url(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Database for end-to-end campaign tests: SQLite, or PostgreSQL with ALFORGE_TEST_DATABASE=postgres.

    (Dedicated tests run campaigns on PostgreSQL in every run; running every campaign test on
    both backends would double the suite's time for little extra coverage.)
    """
    postgres = os.environ.get("ALFORGE_TEST_DATABASE") == "postgres"
    return _fresh_url(request, tmp_path, monkeypatch, postgres=postgres)


@pytest.fixture
def e2e_db(e2e_db_url: str):  # type: ignore[no-untyped-def]
    """A :class:`alforge.db.Database` for end-to-end tests (see ``e2e_db_url``)."""
    from alforge.db import Database

    database = Database(e2e_db_url)
    yield database
    database.dispose()
