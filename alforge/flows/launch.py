"""Trigger a campaign on a running Prefect server and follow it.

The server must have the ``campaign/alforge`` deployment served (``alforge serve``) or a
work-pool deployment with workers polling it (:func:`alforge.flows.deploy.deploy_campaigns`).

Example
-------
>>> handle = launch(spec, server="http://127.0.0.1:4200/api")  # doctest: +SKIP
>>> handle.flow_run_id, handle.campaign  # doctest: +SKIP
(UUID('0b6f...'), 'water')
>>> handle.wait(timeout_s=600)["flow_run_state"]  # doctest: +SKIP
'COMPLETED'
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from uuid import UUID

from alforge.config import CampaignSpec
from alforge.errors import AlforgeError

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun

    from alforge.db import Database

__all__ = ["DEFAULT_DEPLOYMENT", "FINAL_STATES", "CampaignRun", "api_url", "launch", "reachable"]

#: The generic deployment that `alforge serve` declares (:data:`alforge.flows.deploy.GENERIC_DEPLOYMENT`);
#: repeated here so that a client launching campaigns imports no flow code.
DEFAULT_DEPLOYMENT = "campaign/alforge"
FINAL_STATES = frozenset({"COMPLETED", "FAILED", "CRASHED", "CANCELLED"})


def api_url(server: str) -> str:
    """The Prefect API URL of ``server`` (``http://HOST:4200`` or ``http://HOST:4200/api``)."""
    url = server.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        msg = f"server {server!r} is not an http(s) URL; give the Prefect API, e.g. 'http://127.0.0.1:4200/api'"
        raise AlforgeError(msg)
    return url if url.endswith("/api") else f"{url}/api"


@contextmanager
def _api(server: str | None) -> Iterator[str]:
    """Point Prefect's client at ``server`` (else at ``PREFECT_API_URL``); yield the URL in use."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if server is None:
        configured = PREFECT_API_URL.value()
        if not configured:
            msg = (
                "no Prefect server to launch on: start one (`alforge server`), serve the deployment "
                "(`alforge serve`), then set PREFECT_API_URL or pass server='http://HOST:4200/api'"
            )
            raise AlforgeError(msg)
        yield str(configured)
        return
    url = api_url(server)
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield url


@contextmanager
def reachable(url: str) -> Iterator[None]:
    """Turn a failure to connect to the Prefect server at ``url`` into a one-line :class:`AlforgeError`."""
    import httpx

    try:
        yield
    except httpx.TransportError as exc:
        msg = (
            f"cannot reach the Prefect server at {url} ({type(exc).__name__}: {exc}); "
            "start it (`alforge server`) or fix PREFECT_API_URL / server="
        )
        raise AlforgeError(msg) from None


@lru_cache(maxsize=4)
def _database(url: str) -> Database:
    from alforge.db import Database

    return Database(url, create=False)


def _campaign_state(name: str) -> str | None:
    """The campaign's state in this process's database, or ``None`` where it cannot be read here.

    A client on another machine usually has no access to the worker's database; with neither
    ``ALFORGE_DATABASE_URL`` set nor a local default database, nothing is read (or created).
    """
    from alforge.reports import campaign_status
    from alforge.settings import get_settings

    settings = get_settings()
    default_file = settings.home.expanduser() / "alforge.db"
    if settings.database_url_override is None and not default_file.exists():
        return None
    try:
        return str(campaign_status(name, db=_database(settings.database_url))["campaigns"][0]["state"])
    except AlforgeError:
        return None


@dataclass(frozen=True)
class CampaignRun:
    """A campaign submitted to a Prefect server: its flow-run id and campaign name.

    Attributes
    ----------
    flow_run_id
        Id of the ``campaign`` flow run on the server.
    campaign
        The campaign's name (its row in the campaign database).
    server
        The Prefect API URL it was submitted to (``None``: ``PREFECT_API_URL``).
    """

    flow_run_id: UUID
    campaign: str
    server: str | None = None

    def status(self) -> dict[str, Any]:
        """The flow run's state type, and the campaign's state where this process can read its database.

        Returns
        -------
        dict
            ``flow_run_id``, ``campaign``, ``flow_run_state`` (SCHEDULED, PENDING, RUNNING,
            COMPLETED, FAILED, CRASHED, CANCELLED, ...), ``flow_run_message`` and
            ``campaign_state`` (created, running, converged, stopped, failed; ``None`` if unknown).
        """
        from prefect.client.orchestration import get_client
        from prefect.exceptions import ObjectNotFound

        with _api(self.server) as url, reachable(url), get_client(sync_client=True) as client:
            try:
                run = client.read_flow_run(self.flow_run_id)
            except ObjectNotFound:
                msg = f"flow run {self.flow_run_id} not found on {url}; was it launched on another server?"
                raise AlforgeError(msg) from None
        return {
            "flow_run_id": str(self.flow_run_id),
            "campaign": self.campaign,
            "flow_run_state": run.state.type.value if run.state else None,
            "flow_run_message": run.state.message if run.state else None,
            "campaign_state": _campaign_state(self.campaign),
        }

    def wait(self, timeout_s: float | None = None, poll_s: float = 2.0) -> dict[str, Any]:
        """Block until the flow run ends (or ``timeout_s`` passes, raising ``TimeoutError``); return :meth:`status`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            report = self.status()
            if report["flow_run_state"] in FINAL_STATES:
                return report
            if deadline is not None and time.monotonic() > deadline:
                state = report["flow_run_state"]
                hint = (
                    "no worker has picked it up: is `alforge serve` (or a worker of its pool) running?"
                    if state in {"SCHEDULED", "PENDING"} else "wait longer or follow it in the Prefect UI"
                )
                msg = f"campaign {self.campaign!r} (flow run {self.flow_run_id}) still {state} after {timeout_s} s; "
                msg += hint
                raise TimeoutError(msg)
            time.sleep(poll_s)


def launch(spec: CampaignSpec, server: str | None = None, deployment: str = DEFAULT_DEPLOYMENT) -> CampaignRun:
    """Submit ``spec`` to a deployment of the campaign flow on a Prefect server; return at once.

    Parameters
    ----------
    spec
        The campaign; a stored campaign of the same name is resumed (same level of theory).
    server
        Prefect API URL (``http://HOST:4200/api``; ``/api`` is added if missing). Default:
        ``PREFECT_API_URL``.
    deployment
        ``campaign/alforge`` (served by ``alforge serve``) or a work-pool deployment such as
        ``campaign/alforge-gpu``.
    """
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    with _api(server) as url, reachable(url):
        try:
            run: FlowRun = run_deployment(  # type: ignore[assignment]  # sync call returns the flow run
                deployment, parameters={"spec": spec.to_json_dict()}, timeout=0,
                flow_run_name=f"campaign-{spec.name}", tags=["alforge", "launched"],
            )
        except ObjectNotFound:
            msg = f"deployment {deployment!r} not found on {url}; run `alforge serve` against that server first"
            raise AlforgeError(msg) from None
    return CampaignRun(flow_run_id=run.id, campaign=spec.name, server=server)
