"""Trigger a campaign on a running Prefect server and follow it.

Example
-------
>>> handle = launch(spec, server="http://127.0.0.1:4200/api")  # doctest: +SKIP
>>> handle.wait(timeout_s=600)["flow_run_state"]  # doctest: +SKIP
'COMPLETED'
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from alforge.config import CampaignSpec
from alforge.errors import AlforgeError

__all__ = ["CampaignRun", "launch"]

FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@contextmanager
def _api(server: str | None) -> Iterator[None]:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if server is None:
        if not PREFECT_API_URL.value():
            msg = (
                "no Prefect server to launch on: start one (`alforge server`), serve the deployment "
                "(`alforge serve`), then set PREFECT_API_URL or pass server='http://HOST:4200/api'"
            )
            raise AlforgeError(msg)
        yield
        return
    with temporary_settings(updates={PREFECT_API_URL: server}):
        yield


@dataclass(frozen=True)
class CampaignRun:
    """A campaign submitted to a Prefect server: its flow-run id and campaign name."""

    flow_run_id: UUID
    campaign: str
    server: str | None = None

    def status(self) -> dict[str, Any]:
        """The flow run's state, and the campaign's state where this process can read its database."""
        from prefect.client.orchestration import get_client

        with _api(self.server), get_client(sync_client=True) as client:
            run = client.read_flow_run(self.flow_run_id)
        report: dict[str, Any] = {
            "flow_run_id": str(self.flow_run_id),
            "campaign": self.campaign,
            "flow_run_state": run.state.type.value if run.state else None,
        }
        try:
            from alforge.reports import campaign_status

            report["campaign_state"] = campaign_status(self.campaign)["campaigns"][0]["state"]
        except AlforgeError:
            report["campaign_state"] = None
        return report

    def wait(self, timeout_s: float | None = None, poll_s: float = 2.0) -> dict[str, Any]:
        """Block until the flow run ends (or ``timeout_s`` passes); return :meth:`status`."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            report = self.status()
            if report["flow_run_state"] in FINAL_STATES:
                return report
            if deadline is not None and time.monotonic() > deadline:
                msg = f"campaign {self.campaign!r} still {report['flow_run_state']} after {timeout_s} s"
                raise TimeoutError(msg)
            time.sleep(poll_s)


def launch(spec: CampaignSpec, server: str | None = None, deployment: str = "campaign/alforge") -> CampaignRun:
    """Submit ``spec`` to the ``campaign/alforge`` deployment of a Prefect server (served by `alforge serve`)."""
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    with _api(server):
        try:
            run = run_deployment(deployment, parameters={"spec": spec.to_json_dict()}, timeout=0,
                                 flow_run_name=f"campaign-{spec.name}")
        except ObjectNotFound:
            msg = f"deployment {deployment!r} not found on the server; run `alforge serve` there first"
            raise AlforgeError(msg) from None
    return CampaignRun(flow_run_id=run.id, campaign=spec.name, server=server)
