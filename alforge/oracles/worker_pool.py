"""Persistent child processes that run reference calculations with a hard wall-time limit.

Why child processes: a reference calculation can hang, run out of time, or crash the
interpreter (a segfault in a C library, the kernel's OOM killer). Run in a child it can be
killed with SIGKILL and reported as one quarantined structure instead of taking the campaign
down, and several calculations run truly in parallel while the caller's threads only wait.

Why persistent: starting a Python interpreter and importing PySCF costs about a second. Each
worker is started once (:func:`alforge.oracles.worker_main.main` in a new interpreter: fork+exec, safe from
a multi-threaded parent and never re-runs the parent's ``__main__``), imports its modules, and
then serves calculations over a socket: a warm call costs a few milliseconds. A worker that timed
out or died is discarded and the next call starts a fresh one.

Workers are grouped by :class:`WorkerKind` (modules to preload, OpenMP/BLAS threads). The
process-wide pool from :func:`shared_pool` grows to as many workers of a kind as calls run at
the same time and keeps at most ``max_idle`` of them idle.

Example
-------
>>> kind = WorkerKind(preload=("math",))
>>> shared_pool().run(kind, "math:sqrt", 16.0, timeout_s=30).value
4.0
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from alforge.errors import OracleSetupError

__all__ = ["TaskOutcome", "WorkerKind", "WorkerPool", "shared_pool", "shutdown_shared_pool"]

STARTUP_TIMEOUT_S = 300.0
"""Longest wait, in s, for a new worker to import its modules (generous: shared, loaded machines)."""

_SYS_PATH_VARIABLE = "ALFORGE_WORKER_SYS_PATH"
_WORKER_COMMAND = (
    "import json, os, sys; "
    f"sys.path[:] = json.loads(os.environ.pop({_SYS_PATH_VARIABLE!r})); "
    "from alforge.oracles.worker_main import main; "
    "sys.exit(main(sys.argv[1:]))"
)
"""The worker runs on the parent's ``sys.path`` (not PYTHONPATH, which its own subprocesses would inherit)."""

MAX_TASKS_PER_WORKER = 1000
"""A worker is retired after this many calculations, bounding slow memory growth."""


@dataclass(frozen=True)
class WorkerKind:
    """What a worker process is prepared for.

    Attributes
    ----------
    preload
        Modules imported once at start-up (e.g. ``("pyscf", "pyscf.dft")``).
    threads
        OpenMP and BLAS threads of the worker (``OMP_NUM_THREADS`` and friends).
    """

    preload: tuple[str, ...] = ()
    threads: int = 1


@dataclass
class TaskOutcome:
    """What became of one task sent to a worker.

    Attributes
    ----------
    kind
        ``"ok"`` (``value`` holds the return value), ``"error"`` (the task raised; ``message``),
        ``"timeout"`` (killed after the wall time) or ``"died"`` (the worker process ended).
    value
        Return value of the task function when ``kind == "ok"``.
    message
        One line describing an error, a timeout or a death.
    elapsed_s
        Seconds from sending the task to its outcome.
    pid
        Process id of the worker that ran the task.
    """

    kind: Literal["ok", "error", "timeout", "died"]
    value: Any = None
    message: str = ""
    elapsed_s: float = 0.0
    pid: int = 0


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class _Worker:
    """One child process and the socket to it; used by one thread at a time."""

    def __init__(self, kind: WorkerKind) -> None:
        self.kind = kind
        self.tasks_done = 0
        parent_sock, child_sock = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (open for the worker's lifetime)
        threads = str(kind.threads)
        env = dict(os.environ)
        env.update(
            OMP_NUM_THREADS=threads,
            OPENBLAS_NUM_THREADS=threads,
            MKL_NUM_THREADS=threads,
            **{_SYS_PATH_VARIABLE: json.dumps(sys.path)},
        )
        child_fd = child_sock.fileno()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_COMMAND, str(child_fd), *kind.preload],
                pass_fds=(child_fd,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            parent_sock.close()
            msg = f"cannot start an oracle worker process ({exc}); check that {sys.executable} runs"
            raise OracleSetupError(msg) from exc
        finally:
            child_sock.close()
        self.conn = Connection(parent_sock.detach())
        self._wait_ready()

    @property
    def pid(self) -> int:
        return self.process.pid

    def _stderr_tail(self, offset: int = 0) -> str:
        """Last line the worker wrote to stderr after byte ``offset``."""
        self._stderr.seek(offset)
        lines = self._stderr.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else ""

    def _stderr_size(self) -> int:
        return self._stderr.seek(0, os.SEEK_END)

    def _wait_ready(self) -> None:
        reply: Any = None
        try:
            if self.conn.poll(STARTUP_TIMEOUT_S):
                reply = self.conn.recv()
        except (EOFError, OSError):
            reply = None
        if isinstance(reply, tuple) and reply[0] == "ready":
            return
        self._stop()  # reaped, its stderr still open to read why
        if isinstance(reply, tuple) and reply[0] == "startup_error":
            reason = reply[1]
        else:
            reason = self._stderr_tail() or f"no answer within {STARTUP_TIMEOUT_S:g} s"
        self._close_handles()
        msg = (
            f"oracle worker process failed to start ({reason}); "
            f"check that `{sys.executable} -c 'import {', '.join(self.kind.preload) or 'alforge'}'` works"
        )
        raise OracleSetupError(msg)

    def alive(self) -> bool:
        return self.process.poll() is None

    def run(self, function: str, payload: Any, timeout_s: float | None) -> TaskOutcome:
        start = time.perf_counter()
        stderr_offset = self._stderr_size()
        try:
            self.conn.send((function, payload))
            if not self.conn.poll(timeout_s):
                self.kill()
                return TaskOutcome(
                    "timeout",
                    message=f"wall time {timeout_s:g} s exceeded (oracle process killed)",
                    elapsed_s=time.perf_counter() - start,
                    pid=self.pid,
                )
            status, value = self.conn.recv()
        except (EOFError, OSError):
            return self._died(start, stderr_offset)
        except BaseException:
            self.kill()
            raise
        self.tasks_done += 1
        elapsed = time.perf_counter() - start
        if status == "ok":
            return TaskOutcome("ok", value=value, elapsed_s=elapsed, pid=self.pid)
        return TaskOutcome("error", message=str(value), elapsed_s=elapsed, pid=self.pid)

    def _died(self, start: float, stderr_offset: int) -> TaskOutcome:
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._stop()
            code = self.process.returncode
        killed = code is not None and code < 0
        how = f"signal {-code}, {_signal_name(-code)}" if killed else f"exit code {code}"
        tail = self._stderr_tail(stderr_offset)
        message = f"oracle process died ({how})" + (f": {tail}" if tail else "")
        return TaskOutcome("died", message=message, elapsed_s=time.perf_counter() - start, pid=self.pid)

    def _stop(self) -> None:
        """SIGKILL the process if it still runs and reap it; its pipe and stderr file stay open."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()

    def kill(self) -> None:
        self._stop()
        self._close_handles()

    def close(self) -> None:
        """Ask the worker to exit; kill it if it does not within a second."""
        try:
            self.conn.send(None)
            self.process.wait(timeout=1.0)
        except (OSError, subprocess.TimeoutExpired):
            self.kill()
        self._close_handles()

    def _close_handles(self) -> None:
        self.conn.close()
        self._stderr.close()


class WorkerPool:
    """Thread-safe pool of persistent worker processes, grouped by :class:`WorkerKind`.

    Parameters
    ----------
    max_idle
        Idle workers kept per kind; more are closed when they come back. Default: the CPU count.
    """

    def __init__(self, max_idle: int | None = None) -> None:
        self.max_idle = max_idle if max_idle is not None else max(os.cpu_count() or 1, 1)
        self._lock = threading.Lock()
        self._idle: dict[WorkerKind, list[_Worker]] = defaultdict(list)
        self._busy: dict[_Worker, object] = {}
        self._closed = False

    def run(
        self, kind: WorkerKind, function: str, payload: Any, timeout_s: float | None, owner: object = None
    ) -> TaskOutcome:
        """Run ``function(payload)`` in a worker of ``kind``, killing it after ``timeout_s`` seconds.

        Parameters
        ----------
        kind
            Which kind of worker to use (one is started if none is idle).
        function
            ``"module:function"``, importable in the worker; takes the payload, returns a
            picklable value.
        payload
            Picklable argument.
        timeout_s
            Wall-time limit in s counted from when the task reaches a ready worker; ``None``
            waits forever.
        owner
            Any hashable tag; :meth:`kill_running` kills the running tasks of one owner.

        Raises
        ------
        OracleSetupError
            If no worker process can be started.
        """
        worker = self._checkout(kind, owner)
        outcome = worker.run(function, payload, timeout_s)
        self._checkin(worker, reusable=outcome.kind in ("ok", "error"))
        return outcome

    def warm_up(self, kind: WorkerKind, count: int) -> None:
        """Start workers of ``kind`` until ``count`` of them are idle (in parallel)."""
        with self._lock:
            missing = max(count - len(self._idle[kind]), 0)
        threads = [threading.Thread(target=self._start_idle, args=(kind,)) for _ in range(missing)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _start_idle(self, kind: WorkerKind) -> None:
        worker = _Worker(kind)
        with self._lock:
            self._idle[kind].append(worker)

    def idle_pids(self, kind: WorkerKind) -> list[int]:
        """Process ids of the idle workers of ``kind``."""
        with self._lock:
            return [worker.pid for worker in self._idle[kind]]

    def kill_running(self, owner: object) -> int:
        """SIGKILL the workers now running tasks of ``owner``; their callers get ``"died"``.

        Returns
        -------
        int
            How many workers were killed.
        """
        with self._lock:
            victims = [worker for worker, tag in self._busy.items() if tag == owner]
        for worker in victims:
            if worker.alive():
                worker.process.kill()
        return len(victims)

    def _checkout(self, kind: WorkerKind, owner: object) -> _Worker:
        with self._lock:
            if self._closed:
                msg = "the oracle worker pool was shut down; create the oracle again in a running program"
                raise OracleSetupError(msg)
            idle = self._idle[kind]
            while idle:
                worker = idle.pop()
                if worker.alive():
                    self._busy[worker] = owner
                    return worker
                worker.kill()
        worker = _Worker(kind)
        with self._lock:
            self._busy[worker] = owner
        return worker

    def _checkin(self, worker: _Worker, *, reusable: bool) -> None:
        with self._lock:
            self._busy.pop(worker, None)
            keep = (
                reusable
                and not self._closed
                and worker.tasks_done < MAX_TASKS_PER_WORKER
                and len(self._idle[worker.kind]) < self.max_idle
                and worker.alive()
            )
            if keep:
                self._idle[worker.kind].append(worker)
                return
        if reusable:
            worker.close()
        else:
            worker.kill()

    def shutdown(self) -> None:
        """Close idle workers and kill busy ones; later calls to :meth:`run` raise."""
        with self._lock:
            self._closed = True
            idle = [worker for workers in self._idle.values() for worker in workers]
            busy = list(self._busy)
            self._idle.clear()
            self._busy.clear()
        for worker in idle:
            worker.close()
        for worker in busy:
            if worker.alive():
                worker.process.kill()


_shared: WorkerPool | None = None
_shared_pid = 0
_shared_lock = threading.Lock()


def shared_pool() -> WorkerPool:
    """The process-wide pool (a fresh one in a forked child, which must not share its parent's)."""
    global _shared, _shared_pid
    with _shared_lock:
        if _shared is None or _shared_pid != os.getpid():
            _shared = WorkerPool()
            _shared_pid = os.getpid()
        return _shared


def shutdown_shared_pool() -> None:
    """Stop every worker of the process-wide pool (run at interpreter exit)."""
    global _shared
    with _shared_lock:
        pool, _shared = _shared, None
        mine = _shared_pid == os.getpid()
    if pool is not None and mine:
        pool.shutdown()


atexit.register(shutdown_shared_pool)
