"""Every endpoint works on SQLite and PostgreSQL with a fixed number of SQL statements (no N+1)."""

from __future__ import annotations

from typing import Any

import pytest
from dashboard_helpers import CONVERGED, RUNNING, expected, fill
from fastapi.testclient import TestClient
from sqlalchemy import event

from alforge.dashboard import create_app
from alforge.db import Database

ENDPOINTS = (
    "/campaigns/{name}",
    "/api/campaigns/{name}",
    "/api/campaigns/{name}/learning-curve",
    "/api/campaigns/{name}/labels",
    "/api/campaigns/{name}/uncertainty",
    "/api/campaigns/{name}/walkers",
    "/api/campaigns/{name}/timings",
    "/api/campaigns/{name}/structures",
)
MAX_STATEMENTS = 8


def test_endpoints_run_a_fixed_number_of_statements_on_every_backend(db: Database) -> None:
    fill(db)
    app = create_app(db.url)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(app.state.db.engine, "before_cursor_execute", record)
    with TestClient(app) as client:
        for path in ("/", "/api/campaigns", *ENDPOINTS):
            counts = []
            for name in (CONVERGED, RUNNING):
                statements.clear()
                response = client.get(path.format(name=name))
                assert response.status_code == 200, (path, response.text)
                counts.append(len(statements))
            assert counts[0] == counts[1] <= MAX_STATEMENTS, f"{path}: {counts} statements (5 vs 3 generations)"
        want = expected(db, CONVERGED)
        curve = client.get(f"/api/campaigns/{CONVERGED}/learning-curve").json()
        assert curve["force_mae_eV_per_A"] == pytest.approx(
            [g["metrics"]["force_mae_eV_per_A"] for g in want["generations"]]
        )
        summary = client.get(f"/api/campaigns/{CONVERGED}").json()
        assert (summary["labels"], summary["quarantined"]) == (want["labels"], want["quarantined"])
