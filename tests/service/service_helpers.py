"""Helpers of the service tests: processes in their own process group, tiny specs, HTTP checks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.specs import merged, water_spec


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(**overrides: str) -> dict[str, str]:
    """This process's environment without any Prefect server or alforge database, plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k not in {"PREFECT_API_URL", "ALFORGE_DATABASE_URL"}}
    env.update(overrides)
    return env


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Service:
    """A process started in its own process group, with its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, command: list[str], env: dict[str, str], log: Path) -> Service:
        with log.open("wb") as out:
            process = subprocess.Popen(
                command, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name, process, log)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- last lines of {self.name} ({self.log}) ---\n" + "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Any, timeout_s: float, what: str) -> None:
        """Poll ``ready()`` until true; fail with the log's tail if the process dies or time runs out."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self.process.poll() is not None:
                pytest.fail(f"{self.name} exited ({self.process.returncode}) before {what}\n{self.tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.name}: no {what} after {timeout_s} s\n{self.tail()}")
            time.sleep(0.5)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 30.0) -> int | None:
        """Send ``sig`` to the process (not its group); its exit status, or ``None`` if it outlived ``timeout_s``."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def group_alive(self) -> bool:
        try:
            os.killpg(self.process.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def wait_group_gone(self, timeout_s: float = 15.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while self.group_alive():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)
        return True

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)


@dataclass(frozen=True)
class PrefectAPI:
    """A running Prefect server: its root URL, API URL and process."""

    url: str
    api: str
    service: Service


def tiny_water(name: str, **overrides: Any) -> dict[str, Any]:
    """A real campaign that finishes in seconds: water, HF/STO-3G, 40-step walkers, two generations.

    ``overrides``: top-level keys (``schedule="..."``) or sections merged into the defaults
    (``stopping={"max_generations": 1}``).
    """
    return merged(water_spec(name, exploration={"steps": 40}, stopping={"max_generations": 2}), overrides)


def write_toml(spec: dict[str, Any], path: Path) -> Path:
    """Write a spec of scalars, lists and one level of tables as TOML (JSON literals are valid TOML here)."""
    scalars = [f"{k} = {json.dumps(v)}" for k, v in spec.items() if not isinstance(v, dict)]
    tables = [
        f"\n[{k}]\n" + "\n".join(f"{key} = {json.dumps(value)}" for key, value in v.items())
        for k, v in spec.items() if isinstance(v, dict)
    ]
    path.write_text("\n".join(scalars) + "\n" + "\n".join(tables) + "\n")
    return path


def processes_with_env(needle: str) -> list[int]:
    """Ids of other processes whose environment contains ``needle`` (e.g. a test's database URL)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_no_processes_with_env(needle: str, timeout_s: float = 15.0) -> list[int]:
    """Wait until no process has ``needle`` in its environment; the ones left after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while (left := processes_with_env(needle)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return left
