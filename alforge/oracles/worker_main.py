"""Entry point of an oracle worker process: ``python -m alforge.oracles.worker_main FD [MODULE ...]``.

The worker imports the named modules, answers ``("ready", pid)`` on the socket whose file
descriptor is ``FD``, then serves requests ``("module:function", payload)`` one at a time,
replying ``("ok", value)`` or ``("error", "Type: message")``. It exits on ``None``, when the
socket closes, or when its parent process disappears. Started by
:mod:`alforge.oracles.worker_pool`; not meant to be run by hand.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

PARENT_POLL_S = 1.0
"""How often, in s, the worker checks that its parent is still alive."""


def one_line(exc: BaseException) -> str:
    """``"Type: first line of the message"`` of an exception."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _watch_parent(parent_pid: int) -> None:
    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _resolve(path: str, cache: dict[str, Callable[[Any], Any]]) -> Callable[[Any], Any]:
    if path not in cache:
        module_name, _, name = path.partition(":")
        cache[path] = getattr(importlib.import_module(module_name), name)
    return cache[path]


def serve(conn: Connection, preload: list[str]) -> int:
    """Import ``preload``, announce readiness, and answer requests until told to stop.

    Returns
    -------
    int
        The process exit code.
    """
    try:
        for module in preload:
            importlib.import_module(module)
    except Exception as exc:
        conn.send(("startup_error", one_line(exc)))
        return 1
    conn.send(("ready", os.getpid()))
    functions: dict[str, Callable[[Any], Any]] = {}
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return 0
        if request is None:
            return 0
        path, payload = request
        try:
            reply: tuple[str, Any] = ("ok", _resolve(path, functions)(payload))
        except Exception as exc:
            reply = ("error", one_line(exc))
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return 0
        except Exception as exc:  # the value could not be pickled
            conn.send(("error", f"result of {path} cannot be sent back ({one_line(exc)})"))


def main(argv: list[str]) -> int:
    """Run a worker on the inherited socket ``argv[0]``, preloading ``argv[1:]``."""
    conn = Connection(int(argv[0]))
    _watch_parent(os.getppid())
    return serve(conn, argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
