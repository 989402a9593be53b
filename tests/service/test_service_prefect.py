"""The service, for real: `alforge server` (Prefect on PostgreSQL), `alforge serve`, cron, launch, work pools.

One Prefect server and one `alforge serve SPEC --cron "* * * * *"` run for the whole module.
The launch and work-pool tests come before the cron test, so that their campaigns run while
the schedule comes due (cron's granularity is one minute) instead of after it; every campaign
is a real, tiny one (water, HF/STO-3G).
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from service_helpers import (
    PrefectAPI,
    Service,
    child_env,
    free_port,
    http_ok,
    tiny_water,
    wait_no_processes_with_env,
    write_toml,
)

from alforge.db import Database
from alforge.errors import AlforgeError
from alforge.reports import campaign_status

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(300)]

SCHEDULED = "scheduled-water"
CRON = "* * * * *"
FINISHED = {"converged", "stopped"}


@contextmanager
def prefect_client(api: str, **settings: Any) -> Iterator[Any]:
    """A synchronous Prefect client of the server at ``api``."""
    import prefect.settings
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    updates = {PREFECT_API_URL: api, **{getattr(prefect.settings, k): v for k, v in settings.items()}}
    with temporary_settings(updates=updates), get_client(sync_client=True) as client:
        yield client


def campaign_report(db_url: str, name: str) -> dict[str, Any]:
    database = Database(db_url, create=False)
    try:
        return dict(campaign_status(name, db=database)["campaigns"][0])
    finally:
        database.dispose()


@dataclass(frozen=True)
class Served:
    """`alforge serve` running against the module's server, with its runner's health endpoint."""

    service: Service
    api: str
    db_url: str
    health_url: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def served(prefect_api: PrefectAPI, service_db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """`alforge serve SPEC --cron "* * * * *"`: the generic deployment and a per-minute one for SPEC."""
    root = tmp_path_factory.mktemp("serve")
    spec = write_toml(tiny_water(SCHEDULED), root / f"{SCHEDULED}.toml")
    runner_port = free_port()
    env = child_env(
        PREFECT_API_URL=prefect_api.api,
        ALFORGE_DATABASE_URL=service_db,
        ALFORGE_HOME=str(root / "home"),
        PREFECT_RUNNER_POLL_FREQUENCY="2",  # default 10 s; only shortens the wait for due runs
        PREFECT_RUNNER_SERVER_ENABLE="true",  # the health endpoint docker-compose checks
        PREFECT_RUNNER_SERVER_HOST="127.0.0.1",
        PREFECT_RUNNER_SERVER_PORT=str(runner_port),
    )
    command = [sys.executable, "-m", "alforge", "serve", str(spec), "--cron", CRON]
    service = Service.start("alforge serve", command, env, root / "serve.log")
    try:
        health = f"http://127.0.0.1:{runner_port}/health"
        service.wait_until(lambda: http_ok(health), 90, "healthy runner (deployments registered, first poll done)")
        yield Served(service, prefect_api.api, service_db, health, env)
    finally:
        service.stop(signal.SIGTERM, timeout_s=20)
        service.kill_group()


LAUNCH_SCRIPT = """
import json, sys
import alforge
spec, server = json.loads(sys.argv[1]), sys.argv[2]
handle = alforge.launch(spec, server=server)
print(json.dumps({"flow_run_id": str(handle.flow_run_id), "campaign": handle.campaign}), flush=True)
print(json.dumps(handle.wait(timeout_s=200, poll_s=1.0)), flush=True)
"""


def test_launch_from_another_process_runs_the_campaign_to_the_end(served: Served, prefect_api: PrefectAPI) -> None:
    spec = tiny_water("launched-water")
    # A client process with no PREFECT_API_URL: the server comes from `server=` (root URL, /api added).
    env = {k: v for k, v in served.env.items() if not k.startswith("PREFECT_RUNNER_")}
    env.pop("PREFECT_API_URL")
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH_SCRIPT, json.dumps(spec), prefect_api.url],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-3000:]}\n{served.service.tail()}"
    handle, report = (json.loads(line) for line in result.stdout.strip().splitlines()[-2:])
    assert handle["campaign"] == "launched-water"
    assert report["flow_run_id"] == handle["flow_run_id"]
    assert report["flow_run_state"] == "COMPLETED", f"{report}\n{served.service.tail()}"
    assert report["campaign_state"] in FINISHED

    stored = campaign_report(served.db_url, "launched-water")
    assert stored["state"] in FINISHED, stored
    assert [g["state"] for g in stored["generations"]] == ["complete", "complete"]
    assert stored["labels"] > 0

    with prefect_client(served.api) as client:
        run = client.read_flow_run(handle["flow_run_id"])
        deployment = client.read_deployment(run.deployment_id)
    assert deployment.name == "alforge"
    assert run.parameters["spec"]["name"] == "launched-water"


def test_work_pool_deployment_runs_on_a_worker(
    prefect_api: PrefectAPI, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alforge import CampaignSpec
    from alforge.flows.deploy import WORK_POOLS, deploy_campaigns
    from alforge.flows.launch import launch

    env = child_env(PREFECT_API_URL=prefect_api.api, ALFORGE_DATABASE_URL=postgres_url,
                    ALFORGE_HOME=str(tmp_path / "home"))
    creates = [
        subprocess.Popen([sys.executable, "-m", *shlex.split(pool.create_command)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for pool in WORK_POOLS.values()
    ]
    for process in creates:
        output, _ = process.communicate(timeout=60)
        assert process.returncode == 0, output

    monkeypatch.setenv("ALFORGE_DATABASE_URL", postgres_url)
    spec = CampaignSpec.from_dict(tiny_water("pooled-water", stopping={"max_labels": 1, "max_generations": 1}))
    cpu = WORK_POOLS["cpu"].name
    with prefect_client(prefect_api.api) as client:
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: prefect_api.api}):
            names = deploy_campaigns([spec], work_pool=cpu)
            with pytest.raises(AlforgeError, match="prefect work-pool create no-such-pool"):
                deploy_campaigns([], work_pool="no-such-pool")
        assert names == [f"campaign/{cpu}"]
        assert client.read_deployment_by_name(f"campaign/{cpu}").work_pool_name == cpu
    handle = launch(spec, server=prefect_api.api, deployment=f"campaign/{cpu}")

    worker = Service.start("prefect worker", [sys.executable, "-m", "prefect", "worker", "start", "--pool", cpu,
                                              "--run-once", "--limit", "1"], env, tmp_path / "worker.log")
    try:
        assert worker.process.wait(timeout=180) == 0, worker.tail()
        report = handle.wait(timeout_s=30, poll_s=1.0)
    finally:
        worker.kill_group()
    assert report["flow_run_state"] == "COMPLETED", f"{report}\n{worker.tail()}"
    assert report["campaign_state"] == "stopped"
    assert not wait_no_processes_with_env(postgres_url), "processes of the worker's flow run outlived it"
    stored = campaign_report(postgres_url, "pooled-water")
    assert stored["state"] == "stopped"
    assert stored["generations"]
    assert all(g["state"] == "complete" for g in stored["generations"])


def test_cron_schedule_from_the_command_line_continues_the_campaign(served: Served) -> None:
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter
    from prefect.client.schemas.objects import ConcurrencyLimitStrategy

    with prefect_client(served.api) as client:
        deployment = client.read_deployment_by_name(f"campaign/{SCHEDULED}")
    assert [s.schedule.cron for s in deployment.schedules] == [CRON]
    assert all(s.active for s in deployment.schedules)
    assert deployment.parameters == {"name": SCHEDULED}
    assert deployment.global_concurrency_limit is not None
    assert deployment.global_concurrency_limit.limit == 1
    assert deployment.concurrency_options.collision_strategy == ConcurrencyLimitStrategy.CANCEL_NEW
    # `alforge serve` registered the campaign, so a run by name finds it.
    assert campaign_report(served.db_url, SCHEDULED)["state"] in {"created", "running", *FINISHED}

    deadline = time.monotonic() + 150  # the next minute boundary, plus the run itself
    completed: list[Any] = []
    while not completed:
        with prefect_client(served.api) as client:
            runs = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                flow_run_filter=FlowRunFilter(),
            )
        assert not [r for r in runs if r.state and r.state.type.value in {"FAILED", "CRASHED"}], (
            f"{[(r.name, r.state) for r in runs]}\n{served.service.tail()}"
        )
        completed = [r for r in runs if r.auto_scheduled and r.state and r.state.type.value == "COMPLETED"]
        if time.monotonic() > deadline:
            pytest.fail(f"no scheduled run completed; runs: {[(r.name, r.state) for r in runs]}\n"
                        f"{served.service.tail()}")
        time.sleep(2)

    stored = campaign_report(served.db_url, SCHEDULED)
    assert stored["state"] in FINISHED, stored
    assert stored["generations"]
    assert all(g["state"] == "complete" for g in stored["generations"])
    assert stored["labels"] > 0


def test_serve_stops_cleanly_on_sigterm(served: Served) -> None:
    status = served.service.stop(signal.SIGTERM, timeout_s=30)
    assert status == 0, f"alforge serve: exit status {status} after SIGTERM\n{served.service.tail()}"
    assert served.service.wait_group_gone(), "processes of `alforge serve` outlived it"
    # Flow runs and their oracle workers (own sessions) carry the campaign database URL.
    assert not wait_no_processes_with_env(served.db_url), "processes of the served flow runs outlived it"
    log = served.service.log.read_text()
    assert "was never awaited" not in log  # Prefect's own SIGTERM handler, which alforge replaces
    assert "Exception in callback" not in log
    with prefect_client(served.api) as client:
        deployment = client.read_deployment_by_name(f"campaign/{SCHEDULED}")
        runs = client.read_flow_runs()
    assert deployment.paused  # schedules pause with the server that runs them
    running = [r.name for r in runs if r.state and r.state.type.value in {"RUNNING", "PENDING"}]
    assert not running, f"flow runs left behind: {running}"


def test_spec_schedule_and_sigint(prefect_api: PrefectAPI, postgres_url: str, tmp_path: Path) -> None:
    spec = write_toml(tiny_water("yearly-water", schedule="0 0 1 1 *"), tmp_path / "yearly.toml")
    env = child_env(PREFECT_API_URL=prefect_api.api, ALFORGE_DATABASE_URL=postgres_url,
                    ALFORGE_HOME=str(tmp_path / "home"))
    service = Service.start("alforge serve (spec schedule)", [sys.executable, "-m", "alforge", "serve", str(spec)],
                            env, tmp_path / "serve.log")
    try:
        service.wait_until(lambda: "alforge serve: serving" in service.log.read_text(), 90, "serving message")
        with prefect_client(prefect_api.api) as client:
            deployment = client.read_deployment_by_name("campaign/yearly-water")
            generic = client.read_deployment_by_name("campaign/alforge")
        assert [s.schedule.cron for s in deployment.schedules] == ["0 0 1 1 *"]
        assert not deployment.paused
        assert not generic.paused  # re-activated, even where an earlier `alforge serve` paused it on exit
        status = service.stop(signal.SIGINT, timeout_s=30)
        assert status == 0, f"exit status {status} after SIGINT\n{service.tail()}"
        assert service.wait_group_gone()
        with prefect_client(prefect_api.api) as client:
            assert client.read_deployment_by_name("campaign/yearly-water").paused
    finally:
        service.kill_group()


def test_launch_errors_are_one_line(prefect_api: PrefectAPI) -> None:
    from prefect.settings import PREFECT_CLIENT_MAX_RETRIES, temporary_settings

    from alforge import CampaignSpec
    from alforge.flows.launch import launch

    spec = CampaignSpec.from_dict(tiny_water("never-run"))
    with pytest.raises(AlforgeError, match=r"deployment 'campaign/nope' not found .*alforge serve"):
        launch(spec, server=prefect_api.api, deployment="campaign/nope")
    with pytest.raises(AlforgeError, match="not an http"):
        launch(spec, server="127.0.0.1:4200")
    with temporary_settings(updates={PREFECT_CLIENT_MAX_RETRIES: 0}), \
            pytest.raises(AlforgeError, match=r"cannot reach the Prefect server at http://127\.0\.0\.1:9/api"):
        launch(spec, server="http://127.0.0.1:9")
