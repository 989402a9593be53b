"""Dashboard fixtures: a real SQLite campaign database filled with synthetic campaigns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_helpers import fill
from fastapi.testclient import TestClient

from alforge.dashboard import create_app
from alforge.db import Database


@pytest.fixture
def demo_db(tmp_path: Path) -> Iterator[Database]:
    """A fresh SQLite file holding the three demo campaigns."""
    db = Database(f"sqlite:///{tmp_path / 'dashboard.db'}")
    fill(db)
    yield db
    db.dispose()


@pytest.fixture
def client(demo_db: Database) -> Iterator[TestClient]:
    """A TestClient on a dashboard over ``demo_db``."""
    with TestClient(create_app(demo_db.url)) as test_client:
        yield test_client
