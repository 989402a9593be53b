"""docker-compose.yml and Dockerfile, checked without Docker, and the smoke test that runs them.

Every service runs a real command with options that parse, sets only environment variables
that alforge, Prefect or the postgres image read, has a health check, and the URLs that wire
the services together point at the right service, port, database and driver.

The stack itself is started by ``scripts/compose-smoke.sh``; ``test_compose_smoke`` runs it
only where asked to (``ALFORGE_COMPOSE_SMOKE=1`` for the whole test, ``short`` or ``ci``; ``make test``
asks for ``ci``); the script installs Docker from Debian and starts it where none answers.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
# Documented by the official postgres image (https://hub.docker.com/_/postgres).
POSTGRES_IMAGE_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "POSTGRES_INITDB_ARGS", "PGDATA"}
INITDB = "/docker-entrypoint-initdb.d/"
SERVICES = {"postgres", "prefect-server", "worker", "dashboard"}


def interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` → default, ``${NAME}`` / ``${NAME:?message}`` → ``NAME``."""
    value = re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", value)
    return re.sub(r"\$\{(\w+)(:\?[^}]*)?\}", r"\1", value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "docker-compose.yml").read_text()))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: interpolate(str(v)) for k, v in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def healthcheck_url(service: dict[str, Any]) -> str:
    test = " ".join(service["healthcheck"]["test"])
    found = re.search(r"https?://[^'\" ]+", test)
    assert found, f"health check without a URL: {test}"
    return found.group(0)


def parse_alforge(args: list[str]) -> dict[str, Any]:
    """Parse ``alforge ARGS`` against the Typer app without running it; the parsed parameters."""
    from alforge.cli import app

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    name, *rest = args
    assert name in group.commands, f"`alforge {name}` is not a command (commands: {sorted(group.commands)})"
    return dict(group.commands[name].make_context(name, rest).params)


def alforge_settings_variables() -> set[str]:
    from alforge.settings import Settings

    prefix = Settings.model_config.get("env_prefix", "")
    return {
        str(field.validation_alias) if isinstance(field.validation_alias, str) else f"{prefix}{name}".upper()
        for name, field in Settings.model_fields.items()
    }


def is_prefect_setting(name: str) -> bool:
    import prefect.settings

    return name.startswith("PREFECT_") and hasattr(prefect.settings, name)


def test_the_services_and_their_wiring(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    assert interpolate(services["postgres"]["image"]) == "postgres:15"
    for name in SERVICES - {"postgres"}:
        build = services[name]["build"]
        assert build["context"] == "."
        assert {k: interpolate(v) for k, v in build["args"].items()} == {"BASE_IMAGE": "python:3.11-slim"}
        assert services[name]["image"] == "alforge:latest"
    for name in SERVICES - {"postgres", "prefect-server"}:
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == depends["prefect-server"]["condition"] == "service_healthy"


def test_every_command_is_a_real_alforge_command(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        args = command(service)
        if name == "postgres":
            assert not args  # the image's own entrypoint
            continue
        assert args[0] == "alforge", f"{name}: {args}"
        parse_alforge(args[1:])
    assert parse_alforge(command(compose["services"]["prefect-server"])[1:]) == {"host": "0.0.0.0", "port": 4200}
    assert parse_alforge(command(compose["services"]["dashboard"])[1:]) == {"host": "0.0.0.0", "port": 8765}
    with pytest.raises(typer.TyperException):  # the check would catch a misspelt option
        parse_alforge(["server", "--hots", "0.0.0.0"])


def test_alforge_server_passes_options_prefect_server_start_has() -> None:
    result = subprocess.run([sys.executable, "-m", "prefect", "server", "start", "--help"],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "--host" in result.stdout
    assert "--port" in result.stdout


def test_every_variable_set_is_read_by_something(compose: dict[str, Any]) -> None:
    alforge_names = alforge_settings_variables()
    assert {"ALFORGE_DATABASE_URL", "ALFORGE_HOME", "ALFORGE_DASHBOARD_TOKEN"} <= alforge_names
    assert not is_prefect_setting("PREFECT_NOT_A_SETTING")
    for name, service in compose["services"].items():
        for variable in environment(service):
            if name == "postgres":
                assert variable in POSTGRES_IMAGE_VARIABLES, f"{name}: {variable}"
            elif variable.startswith("ALFORGE_"):
                assert variable in alforge_names, f"{name}: {variable} is not an alforge setting"
            else:
                assert is_prefect_setting(variable), f"{name}: {variable} is not a Prefect setting"


def test_urls_point_at_the_right_service_database_and_driver(compose: dict[str, Any]) -> None:
    services = compose["services"]
    pg = environment(services["postgres"])
    init = [v.split(":")[0] for v in services["postgres"]["volumes"] if v.split(":")[1].startswith(INITDB)]
    assert len(init) == 1, services["postgres"]["volumes"]
    init_sql = (ROOT / init[0]).read_text()
    prefect_port = parse_alforge(command(services["prefect-server"])[1:])["port"]

    prefect_db = make_url(environment(services["prefect-server"])["PREFECT_API_DATABASE_CONNECTION_URL"])
    assert prefect_db.drivername == "postgresql+asyncpg"
    assert (prefect_db.host, prefect_db.username, prefect_db.password) == ("postgres", pg["POSTGRES_USER"],
                                                                           pg["POSTGRES_PASSWORD"])
    assert f"CREATE DATABASE {prefect_db.database} OWNER" in init_sql
    assert prefect_db.database != pg["POSTGRES_DB"]  # Prefect's and alforge's Alembic tables must not meet

    for name in ("worker", "dashboard"):
        env = environment(services[name])
        campaigns = make_url(env["ALFORGE_DATABASE_URL"])
        assert campaigns.get_backend_name() == "postgresql"
        assert (campaigns.host, campaigns.database) == ("postgres", pg["POSTGRES_DB"])
        assert (campaigns.username, campaigns.password) == (pg["POSTGRES_USER"], pg["POSTGRES_PASSWORD"])
        api = urlsplit(env["PREFECT_API_URL"])
        assert (api.hostname, api.port, api.path) == ("prefect-server", prefect_port, "/api")
        assert env["ALFORGE_HOME"] == "/data"
        assert "alforge-home:/data" in services[name]["volumes"]


def test_health_checks_and_the_database_volume(compose: dict[str, Any]) -> None:
    from fastapi.testclient import TestClient

    from alforge.dashboard import create_app

    services = compose["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])

    prefect = urlsplit(healthcheck_url(services["prefect-server"]))
    assert (prefect.port, prefect.path) == (4200, "/api/health")

    worker_env = environment(services["worker"])
    worker = urlsplit(healthcheck_url(services["worker"]))
    assert worker_env["PREFECT_RUNNER_SERVER_ENABLE"] == "true"
    assert (worker.hostname, worker.port, worker.path) == (worker_env["PREFECT_RUNNER_SERVER_HOST"],
                                                           int(worker_env["PREFECT_RUNNER_SERVER_PORT"]), "/health")

    dashboard = urlsplit(healthcheck_url(services["dashboard"]))
    assert dashboard.port == 8765
    with TestClient(create_app("sqlite:///:memory:")) as client:
        assert client.get(dashboard.path).status_code == 200

    volumes = services["postgres"]["volumes"]
    data = [v for v in volumes if v.endswith(":/var/lib/postgresql/data")]
    assert data, volumes
    assert data[0].split(":")[0] in compose["volumes"]  # a named volume, not the container's layer


def test_compose_file_works_with_debian_docker_compose(compose: dict[str, Any]) -> None:
    # Debian's docker-compose 1.29 rejects a top-level `name` and inline `configs: content:`.
    assert not {"name", "configs", "version"} & set(compose)
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{name}: {volume}"


def test_dockerfile_installs_pinned_cpu_torch_before_alforge() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in dockerfile.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == "ARG BASE_IMAGE=python:3.11-slim"
    assert [line.split()[1] for line in lines if line.startswith("FROM ")] == ["${BASE_IMAGE}", "${BASE_IMAGE}"]
    torch = next(i for i, line in enumerate(lines) if "pip install" in line and "torch==" in line)
    deps = next(i for i, line in enumerate(lines) if re.search(r"pip install .* \.(\s|$)", line))
    alforge = next(i for i, line in enumerate(lines) if "--no-deps" in line and "pip install" in line)
    assert torch < deps < alforge
    assert "ARG TORCH_VERSION=2.13.0" in lines
    assert "ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu" in lines
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", ".git"} <= set(ignored)


SMOKE = os.environ.get("ALFORGE_COMPOSE_SMOKE", "")


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(SMOKE not in {"1", "short", "ci"}, reason="ALFORGE_COMPOSE_SMOKE=1 (or short, ci) starts the stack")
def test_compose_smoke() -> None:
    # No skip without an engine: the script installs Docker from Debian and starts dockerd itself.
    args = [] if SMOKE == "1" else [f"--{SMOKE}"]
    result = subprocess.run(["bash", str(ROOT / "scripts" / "compose-smoke.sh"), *args],
                            capture_output=True, text=True, timeout=3500, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
