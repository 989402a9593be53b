"""The worker pool: warm calls are cheap, hung workers are killed, dead ones are reported and replaced."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from alforge.errors import OracleSetupError
from alforge.oracles.worker_pool import WorkerKind, WorkerPool

KIND = WorkerKind(preload=("math", "time"))


@pytest.fixture
def pool() -> WorkerPool:
    own = WorkerPool(max_idle=2)
    yield own
    own.shutdown()


def test_warm_calls_are_cheap(pool: WorkerPool) -> None:
    assert pool.run(KIND, "math:sqrt", 16.0, timeout_s=30).value == 4.0
    start = time.perf_counter()
    for _ in range(20):
        assert pool.run(KIND, "math:sqrt", 9.0, timeout_s=30).value == 3.0
    assert (time.perf_counter() - start) / 20 < 0.05


def test_errors_come_back_as_one_line(pool: WorkerPool) -> None:
    outcome = pool.run(KIND, "math:sqrt", -1.0, timeout_s=30)
    assert (outcome.kind, outcome.message) == ("error", "ValueError: math domain error")


def test_timeout_kills_the_worker(pool: WorkerPool) -> None:
    outcome = pool.run(KIND, "time:sleep", 30, timeout_s=0.3)
    assert outcome.kind == "timeout"
    assert outcome.message == "wall time 0.3 s exceeded (oracle process killed)"
    assert outcome.elapsed_s < 2.0
    with pytest.raises(ProcessLookupError):
        os.kill(outcome.pid, 0)
    assert pool.run(KIND, "math:sqrt", 4.0, timeout_s=30).value == 2.0


def test_worker_killed_from_outside_is_reported(pool: WorkerPool) -> None:
    """INJECTED FAULT: another thread SIGKILLs the worker while it computes."""
    pool.warm_up(KIND, 1)
    (pid,) = pool.idle_pids(KIND)
    threading.Timer(0.3, os.kill, args=(pid, signal.SIGKILL)).start()
    outcome = pool.run(KIND, "time:sleep", 30, timeout_s=60)
    assert (outcome.kind, outcome.message) == ("died", "oracle process died (signal 9, SIGKILL)")
    assert pool.run(KIND, "math:sqrt", 4.0, timeout_s=30).value == 2.0


def test_parallel_calls_run_in_separate_workers(pool: WorkerPool) -> None:
    pool.warm_up(KIND, 2)
    outcomes = []
    threads = [
        threading.Thread(target=lambda: outcomes.append(pool.run(KIND, "time:sleep", 0.5, timeout_s=30)))
        for _ in range(2)
    ]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.perf_counter() - start < 0.95  # two 0.5 s sleeps overlapped
    assert len({outcome.pid for outcome in outcomes}) == 2


def test_shut_down_pool_refuses_work(pool: WorkerPool) -> None:
    from alforge.errors import OracleSetupError

    pool.shutdown()
    with pytest.raises(OracleSetupError, match="shut down"):
        pool.run(KIND, "math:sqrt", 1.0, timeout_s=1)


def test_worker_environment(pool: WorkerPool) -> None:
    """One OpenMP/BLAS thread per worker; the parent's sys.path without leaking it to grandchildren."""
    assert pool.run(KIND, "os:getenv", "OMP_NUM_THREADS", timeout_s=30).value == "1"
    assert pool.run(WorkerKind(preload=("math",), threads=2), "os:getenv", "OPENBLAS_NUM_THREADS", 30).value == "2"
    assert pool.run(KIND, "os:getenv", "ALFORGE_WORKER_SYS_PATH", timeout_s=30).value is None


def test_result_that_cannot_be_pickled_is_an_error(pool: WorkerPool) -> None:
    outcome = pool.run(KIND, "importlib:import_module", "json", timeout_s=30)  # a module object
    assert outcome.kind == "error"
    assert outcome.message.startswith("result of importlib:import_module cannot be sent back")
    assert pool.run(KIND, "math:sqrt", 4.0, timeout_s=30).value == 2.0  # the worker carries on


def test_a_worker_that_dies_while_starting_says_why(
    pool: WorkerPool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module that kills the interpreter on import (as a script shadowing a standard module does).

    The reason is the last line the worker wrote to stderr; reading it after the worker's handles
    were closed raised ``ValueError: seek of closed file`` instead (found 2026-11-30).
    """
    (tmp_path / "dies_on_import.py").write_text(
        "import os, sys\n"
        "sys.stderr.write('boom: this module ends the interpreter\\n')\n"
        "sys.stderr.flush()\n"
        "os._exit(3)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))  # the worker runs on the parent's sys.path
    with pytest.raises(OracleSetupError, match="failed to start \\(boom: this module ends the interpreter\\)"):
        pool.run(WorkerKind(preload=("dies_on_import",)), "math:sqrt", 4.0, timeout_s=30)
    assert pool.run(KIND, "math:sqrt", 4.0, timeout_s=30).value == 2.0  # the pool still works
