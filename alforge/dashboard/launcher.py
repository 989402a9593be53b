"""Start a campaign run for ``POST /api/campaigns``: on a Prefect server, else a local process.

With ``PREFECT_API_URL`` set, :func:`start_run` submits the spec through
:func:`alforge.api.launch`. Without a server (or while that path is not available), it writes
the spec to ``<ALFORGE_HOME>/specs/<name>.json`` and starts ``python -m alforge run`` on it as a
detached process (its own session, so it outlives the dashboard) with this environment and
working directory (``ALFORGE_DATABASE_URL`` pointing at the dashboard's database), logging to
``<ALFORGE_HOME>/logs/<name>.log``. Relative paths in a posted spec resolve against
``<ALFORGE_HOME>/specs/``.

Example
-------
>>> from alforge.config import CampaignSpec
>>> spec = CampaignSpec.from_dict({"name": "water", "system": {"molecule": "H2O"}})
>>> start_run(spec)  # doctest: +SKIP
{'mode': 'process', 'pid': 4242, 'spec_path': '/home/me/.alforge/specs/water.json', ...}
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from typing import Any

from alforge.config import CampaignSpec
from alforge.dashboard.links import flow_run_url, prefect_ui_base
from alforge.errors import AlforgeError, NotAvailableError
from alforge.settings import get_settings

__all__ = ["LaunchError", "start_run"]

log = logging.getLogger(__name__)


class LaunchError(AlforgeError):
    """A campaign run could not be started (spec not writable, process not startable)."""


def start_run(spec: CampaignSpec, *, database_url: str | None = None) -> dict[str, Any]:
    """Start running ``spec`` in the background and say how.

    Parameters
    ----------
    spec
        A validated campaign spec.
    database_url
        Database the run writes to (default: the settings' ``ALFORGE_DATABASE_URL`` or the
        SQLite file under ``ALFORGE_HOME``); passed to the process, never returned.

    Returns
    -------
    dict
        ``{"mode": "prefect", "flow_run": {...}, "flow_run_url": ...}`` when submitted to Prefect, else
        ``{"mode": "process", "pid", "spec_path", "log_path"}``.

    Raises
    ------
    LaunchError
        The spec could not be written or the process not started.
    AlforgeError
        From :func:`alforge.api.launch`: the Prefect server refused the run (no deployment, ...).
    """
    if os.environ.get("PREFECT_API_URL"):
        try:
            from alforge.api import launch

            handle = _jsonable(launch(spec))
        except (NotAvailableError, ImportError) as exc:
            log.info("Prefect launch not available (%s); starting a local process instead", exc)
        else:
            run: dict[str, Any] = {"mode": "prefect", "flow_run": handle}
            flow_run_id = handle.get("flow_run_id") if isinstance(handle, dict) else None
            if flow_run_id:
                run["flow_run_url"] = flow_run_url(str(flow_run_id), prefect_ui_base())
            return run
    return _start_process(spec, database_url)


def _jsonable(handle: Any) -> Any:
    """A launch handle as JSON: dicts as they are, objects by their public fields, else text."""
    if isinstance(handle, dict):
        return json.loads(json.dumps(handle, default=str))
    fields = {k: v for k, v in vars(handle).items() if not k.startswith("_")} if hasattr(handle, "__dict__") else {}
    return json.loads(json.dumps(fields, default=str)) if fields else str(handle)


def _start_process(spec: CampaignSpec, database_url: str | None) -> dict[str, Any]:
    home = get_settings().home.expanduser()
    spec_path = home / "specs" / f"{spec.name}.json"
    log_path = home / "logs" / f"{spec.name}.log"
    try:
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(spec.to_json_dict(), indent=2) + "\n")
    except OSError as exc:
        msg = f"cannot write the spec to {spec_path} ({exc.strerror}); check that ALFORGE_HOME={home} is writable"
        raise LaunchError(msg) from None
    env = dict(os.environ)
    if database_url is not None:
        env["ALFORGE_DATABASE_URL"] = database_url
    command = [sys.executable, "-m", "alforge", "run", str(spec_path), "--no-progress"]
    try:
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True,
            )
    except OSError as exc:
        msg = f"cannot start `{' '.join(command[1:])}` ({exc.strerror}); check the Python at {sys.executable}"
        raise LaunchError(msg) from None
    threading.Thread(target=process.wait, name=f"reap-{process.pid}", daemon=True).start()
    log.info("campaign %s: started process %d, log %s", spec.name, process.pid, log_path)
    return {"mode": "process", "pid": process.pid, "spec_path": str(spec_path), "log_path": str(log_path)}
