"""POST /api/campaigns: token rules, spec validation, and starting a real run."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from alforge.config import CampaignSpec
from alforge.dashboard import launcher
from alforge.db import Campaign, Database
from alforge.errors import NotAvailableError

TOKEN = "s3cret-token-for-tests"
SPEC: dict[str, Any] = {
    "name": "posted-emt",
    "system": {"molecule": "H2O", "seed_structures": 2},
    "oracle": {"name": "ase", "method": "EMT", "basis": None},
    "exploration": {"walkers": 1, "steps": 20},
    "selection": {"max_labels": 2},
    "validation": {"labels_per_generation": 1},
    "stopping": {"max_generations": 1, "max_labels": 6},
    "compute": {"oracle_workers": 1},
}


def _end_group(pid: int) -> None:
    """End the process group of a run this test started: SIGTERM, then SIGKILL after 2 s."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        with contextlib.suppress(psutil.NoSuchProcess):
            try:
                psutil.Process(pid).wait(timeout=2)
            except psutil.TimeoutExpired:
                continue
        return


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids of runs a test started; their process groups are ended afterwards."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        _end_group(pid)


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ALFORGE_DASHBOARD_TOKEN", TOKEN)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return TOKEN


def test_writes_are_refused_when_no_token_is_configured(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALFORGE_DASHBOARD_TOKEN", raising=False)
    response = client.post("/api/campaigns", json=SPEC, headers={"Authorization": "Bearer anything"})
    assert response.status_code == 403
    assert response.json()["detail"] == "writes disabled: set ALFORGE_DASHBOARD_TOKEN"


@pytest.mark.parametrize("header", [None, "Bearer wrong-token", f"Basic {TOKEN}", TOKEN, "Bearer "])
def test_missing_or_wrong_token_is_401_and_never_echoed(client: TestClient, token: str, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = client.post("/api/campaigns", json={"name": "bad spec"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert token not in response.text
    assert "wrong-token" not in response.text


@pytest.mark.parametrize(
    ("spec", "key"),
    [
        ({**SPEC, "exploration": {"walkers": 0}}, "exploration.walkers"),
        ({**SPEC, "oracle": {"methd": "HF"}}, "oracle.methd"),
        ({k: v for k, v in SPEC.items() if k != "system"}, "system"),
        ({**SPEC, "name": "<script>"}, "name"),
    ],
)
def test_bad_spec_is_422_naming_the_key(client: TestClient, token: str, spec: dict[str, Any], key: str) -> None:
    response = client.post("/api/campaigns", json=spec, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert f"`{key}`" in detail


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]"])
def test_body_that_is_not_a_json_object_is_422(client: TestClient, token: str, body: bytes) -> None:
    response = client.post(
        "/api/campaigns", content=body, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["detail"]


def _wait_for_campaign(db: Database, name: str, timeout_s: float) -> Campaign | None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with db.session(readonly=True) as session:
            row = session.scalar(select(Campaign).where(Campaign.name == name))
            if row is not None:
                return row
        time.sleep(0.5)
    return None


def test_post_with_token_starts_a_run_of_the_spec(
    client: TestClient, demo_db: Database, token: str, alforge_home: Path, started: list[int]
) -> None:
    response = client.post("/api/campaigns", json=SPEC, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["name"] == "posted-emt"
    assert response.headers["location"] == "/api/campaigns/posted-emt"
    run = body["run"]
    started.append(run["pid"])
    assert run["mode"] == "process"
    spec_path = alforge_home / "specs" / "posted-emt.json"
    assert run["spec_path"] == str(spec_path)
    assert json.loads(spec_path.read_text()) == CampaignSpec.from_dict(SPEC).to_json_dict()
    command = psutil.Process(run["pid"]).cmdline()
    assert command == [sys.executable, "-m", "alforge", "run", str(spec_path), "--no-progress"]
    assert token not in response.text
    assert demo_db.url not in response.text
    campaign = _wait_for_campaign(demo_db, "posted-emt", timeout_s=40)
    log = Path(run["log_path"]).read_text() if Path(run["log_path"]).exists() else ""
    assert campaign is not None, f"the run never created its campaign row; its log:\n{log[-2000:]}"


def test_prefect_launch_is_used_when_a_server_is_configured(
    monkeypatch: pytest.MonkeyPatch, alforge_home: Path
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    handle = {"flow_run_id": "5f0c5e6a-0000-4000-8000-000000000001", "name": "posted-emt"}
    monkeypatch.setattr("alforge.api.launch", lambda spec: handle)
    assert launcher.start_run(CampaignSpec.from_dict(SPEC)) == {
        "mode": "prefect",
        "flow_run": handle,
        "flow_run_url": f"http://127.0.0.1:4200/runs/flow-run/{handle['flow_run_id']}",
    }
    assert not (alforge_home / "specs").exists()


@pytest.mark.parametrize("error", [NotAvailableError("no service yet"), ImportError("no module alforge.service")])
def test_unavailable_prefect_launch_falls_back_to_a_local_process(
    monkeypatch: pytest.MonkeyPatch, alforge_home: Path, error: Exception, started: list[int]
) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")

    def unavailable(spec: CampaignSpec) -> None:
        raise error

    monkeypatch.setattr("alforge.api.launch", unavailable)
    monkeypatch.setattr(sys, "executable", "/bin/true")
    run = launcher.start_run(CampaignSpec.from_dict(SPEC), database_url="sqlite:////tmp/elsewhere.db")
    started.append(run["pid"])
    assert run["mode"] == "process"
    assert Path(run["spec_path"]) == alforge_home / "specs" / "posted-emt.json"
    assert Path(run["log_path"]) == alforge_home / "logs" / "posted-emt.log"
    assert Path(run["spec_path"]).is_file()
