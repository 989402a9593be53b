"""Deployments of the campaign flow, declared in code (the one place they are declared).

- ``campaign/alforge``: unscheduled; parameters ``spec`` (a JSON spec) or ``name``; what
  :func:`alforge.launch` and the dashboard trigger when the deployments are *served*
  (``alforge serve`` → :func:`serve_campaigns`).
- ``campaign/<pool>``: the same generic deployment when registered on a work pool
  (:func:`deploy_campaigns`), named after the pool so that served and pooled deployments can
  live on one server: ``launch(spec, deployment="campaign/alforge-gpu")`` picks where it runs.
- ``campaign/<name>``: one per spec with a cron schedule (``--cron`` or the spec's
  ``schedule``); each run continues the named campaign where the database says it stands
  (``parameters={"name": <name>}``), and at most one run of it is active at a time (a new one
  is cancelled while another runs, so a backlog of missed runs never piles up).

Example
-------
>>> from alforge.config import load_spec
>>> specs = [load_spec("examples/water.toml")]  # doctest: +SKIP
>>> [d.name for d in build_deployments(specs, cron="0 * * * *")]  # doctest: +SKIP
['alforge', 'water']
>>> serve_campaigns(specs, cron="0 * * * *")  # blocks until SIGTERM/SIGINT  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any, cast

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
from prefect.client.schemas.schedules import CronSchedule
from prefect.deployments.runner import DeploymentApplyError, EntrypointType, RunnerDeployment
from prefect.runner import Runner
from prefect.settings import PREFECT_API_URL
from pydantic import ValidationError

from alforge import campaign as steps
from alforge.config import CampaignSpec
from alforge.errors import AlforgeError, SpecError
from alforge.flows import tasks
from alforge.flows.campaign import campaign
from alforge.flows.launch import reachable

__all__ = [
    "GENERIC_DEPLOYMENT",
    "GENERIC_NAME",
    "WORK_POOLS",
    "WorkPool",
    "build_deployments",
    "check_cron",
    "deploy_campaigns",
    "describe",
    "serve_campaigns",
]

GENERIC_NAME = "alforge"
GENERIC_DEPLOYMENT = f"campaign/{GENERIC_NAME}"


@dataclass(frozen=True)
class WorkPool:
    """A Prefect work pool that alforge deployments can target (create it with ``create_command``)."""

    name: str
    type: str
    purpose: str

    @property
    def create_command(self) -> str:
        """The ``prefect`` command that creates this pool on the server in ``PREFECT_API_URL``."""
        return f"prefect work-pool create {self.name} --type {self.type}"


WORK_POOLS: dict[str, WorkPool] = {
    "cpu": WorkPool("alforge-cpu", "process", "alforge: PySCF oracle labelling on CPU hosts"),
    "gpu": WorkPool("alforge-gpu", "process", "alforge: model training and MD on a GPU host"),
}


def check_cron(expression: str, where: str) -> str:
    """Return ``expression`` if Prefect accepts it as a cron schedule, else raise :class:`SpecError`."""
    try:
        CronSchedule(cron=expression)
    except ValidationError:
        msg = f"{where}: {expression!r} is not a cron schedule Prefect accepts; use five fields, e.g. '*/10 * * * *'"
        raise SpecError(msg) from None
    return expression


def _to_deployment(**options: Any) -> RunnerDeployment:
    # to_deployment is dispatched sync/async by Prefect; called from sync code it returns the deployment.
    return cast(RunnerDeployment, campaign.to_deployment(**options))


def describe(deployment: RunnerDeployment) -> str:
    """``campaign/<name>``, with its cron schedule if it has one (for messages)."""
    crons = [s.schedule.cron for s in deployment.schedules or [] if isinstance(s.schedule, CronSchedule)]
    return f"campaign/{deployment.name}" + (f" (cron {', '.join(crons)})" if crons else "")


def build_deployments(
    specs: Sequence[CampaignSpec],
    cron: str | None = None,
    work_pool: str | None = None,
    job_variables: Mapping[str, Any] | None = None,
) -> list[RunnerDeployment]:
    """The generic deployment plus one scheduled deployment per spec that has a schedule.

    Parameters
    ----------
    specs
        Campaigns to schedule; a spec gets a deployment if ``cron`` or its own ``schedule`` is set.
    cron
        Cron schedule for every spec given (overrides the specs' ``schedule``).
    work_pool
        Register the deployments on this work pool (run by ``prefect worker start --pool``)
        instead of serving them; the generic deployment is then named after the pool.
    job_variables
        The pool's job variables for these deployments, e.g. ``{"env": {"CUDA_VISIBLE_DEVICES": "0"}}``.
    """
    placement: dict[str, Any] = {"entrypoint_type": EntrypointType.MODULE_PATH}
    if work_pool is not None:
        placement.update(work_pool_name=work_pool, job_variables=dict(job_variables or {}))
    one_at_a_time = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW)
    deployments = [
        _to_deployment(
            name=work_pool or GENERIC_NAME,
            description="Run or continue an alforge campaign: pass `spec` (JSON) or `name`.",
            tags=["alforge"],
            **placement,
        )
    ]
    for spec in specs:
        schedule = cron or spec.schedule
        if schedule is None:
            continue
        check_cron(schedule, "--cron" if cron else f"spec {spec.name!r}: schedule")
        deployments.append(
            _to_deployment(
                name=spec.name,
                cron=schedule,
                parameters={"name": spec.name},
                description=f"Continue campaign {spec.name} on schedule {schedule}.",
                tags=["alforge", "scheduled"],
                concurrency_limit=one_at_a_time,
                **placement,
            )
        )
    return deployments


def _register(specs: Sequence[CampaignSpec]) -> None:
    """Create (or update the spec of) each campaign in the database, so scheduled runs find it by name."""
    db = tasks.database()
    for spec in specs:
        steps.start_campaign(db, spec)


class _CampaignRunner(Runner):
    """Prefect's runner with a working graceful stop on SIGTERM and SIGINT.

    Prefect 3.8.8's own SIGTERM handler calls the async ``stop`` without awaiting it, so runs in
    flight are killed without a final state and stay RUNNING on the server. Here the first
    SIGTERM or SIGINT (even one that comes while the runner is still starting) schedules
    :meth:`astop`: in-flight runs are cancelled through the API, the poll loop ends, schedules
    are paused, and the process exits 0. A second signal exits at once.
    """

    ready_message: str = ""
    _signalled: bool = False
    _stop_task: asyncio.Task[None] | None = None

    def handle_sigterm(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        """Begin a graceful shutdown; on a repeated signal, exit immediately."""
        signum = signum or signal.SIGTERM
        if self._signalled:
            raise SystemExit(128 + signum)
        self._signalled = True
        self._logger.warning("%s received: cancelling runs in flight, pausing schedules, stopping",
                             signal.Signals(signum).name)
        loop = asyncio.get_running_loop()
        loop.call_soon_threadsafe(self._begin_stop, loop)

    def _begin_stop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stop_task = loop.create_task(self._stop_once_started())

    async def _stop_once_started(self) -> None:
        while not self.started:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)  # let start() enter its poll loop, which astop cancels
        await self.astop()

    async def _announce_once_started(self) -> None:
        while not self.started:
            await asyncio.sleep(0.05)
        if self.ready_message:
            print(self.ready_message, flush=True)

    async def start(self, run_once: bool = False, webserver: bool | None = None) -> None:
        """Poll for runs until stopped; SIGINT shuts down like SIGTERM (which Runner.start hooks)."""
        signal.signal(signal.SIGINT, self.handle_sigterm)
        announce = asyncio.get_running_loop().create_task(self._announce_once_started())
        try:
            await super().start(run_once=run_once, webserver=webserver)
        finally:
            announce.cancel()


def serve_campaigns(specs: Sequence[CampaignSpec], cron: str | None = None, limit: int | None = None) -> None:
    """Register the specs' campaigns in the database, then serve the deployments until SIGTERM/SIGINT.

    Parameters
    ----------
    specs
        Campaigns to register (and schedule, if ``cron`` or their ``schedule`` is set).
    cron
        Cron schedule for every spec given (overrides the specs' ``schedule``).
    limit
        Most flow runs at once (default: Prefect's ``PREFECT_RUNNER_PROCESS_LIMIT``).
    """
    deployments = build_deployments(specs, cron)
    _register(specs)
    url = PREFECT_API_URL.value()
    runner = _CampaignRunner(pause_on_shutdown=True) if limit is None else _CampaignRunner(
        pause_on_shutdown=True, limit=limit
    )
    with reachable(url or "Prefect's ephemeral API"):
        for deployment in deployments:
            runner.add_deployment(deployment)
    names = ", ".join(describe(d) for d in deployments)
    where = url or "Prefect's ephemeral API of this process (set PREFECT_API_URL to serve a shared server)"
    runner.ready_message = f"alforge serve: serving {names} on {where}; stop with Ctrl-C or SIGTERM"
    asyncio.run(runner.start())


def deploy_campaigns(
    specs: Sequence[CampaignSpec],
    cron: str | None = None,
    work_pool: str = WORK_POOLS["cpu"].name,
    job_variables: Mapping[str, Any] | None = None,
) -> list[str]:
    """Register the deployments on a work pool (workers run them; nothing is served here).

    The pool must exist (see :data:`WORK_POOLS` and ``docs/service.md``). Returns the
    deployments' full names, e.g. ``["campaign/alforge-cpu", "campaign/water"]``.
    """
    deployments = build_deployments(specs, cron, work_pool=work_pool, job_variables=job_variables)
    _register(specs)
    url = PREFECT_API_URL.value()
    if not url:
        msg = "deploying to a work pool needs a Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)"
        raise AlforgeError(msg)
    with reachable(url):
        for deployment in deployments:
            try:
                deployment.apply(work_pool_name=work_pool)
            except DeploymentApplyError as exc:
                create = next((p.create_command for p in WORK_POOLS.values() if p.name == work_pool),
                              f"prefect work-pool create {work_pool} --type process")
                msg = f"cannot register {describe(deployment)} on work pool {work_pool!r} ({exc}); "
                msg += f"create the pool first: `{create}`"
                raise AlforgeError(msg) from None
    return [f"campaign/{d.name}" for d in deployments]
