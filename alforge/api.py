"""The Python API: run a campaign in-process, inspect a stored one, trigger one on a server.

Example
-------
>>> from alforge import Campaign, CampaignSpec
>>> spec = CampaignSpec.from_toml("examples/water.toml")  # doctest: +SKIP
>>> result = Campaign(spec).run()  # doctest: +SKIP
>>> calc = Campaign.load("water").calculator()  # doctest: +SKIP
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from rich.console import Console

from alforge.config import CampaignSpec, load_spec
from alforge.errors import AlforgeError

__all__ = ["Campaign", "launch", "run_spec_file"]


def _quiet_prefect() -> None:
    """Prefect settings for alforge's own processes (each only where the user set nothing)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # Prefect's ephemeral API server must start within 20 s by default; on a loaded 2-core
    # machine (several campaigns at once) that has been seen to time out.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_LOGGERS_PREFECT_EXTRA_LEVEL", "WARNING")


@contextmanager
def _database_url(url: str | None):  # type: ignore[no-untyped-def]
    """Point this process at ``url`` for the duration (tasks read the database from settings)."""
    if url is None:
        yield
        return
    before = os.environ.get("ALFORGE_DATABASE_URL")
    os.environ["ALFORGE_DATABASE_URL"] = url
    try:
        yield
    finally:
        if before is None:
            os.environ.pop("ALFORGE_DATABASE_URL", None)
        else:
            os.environ["ALFORGE_DATABASE_URL"] = before


class Campaign:
    """A campaign: run it from a spec, or load a stored one by name.

    Parameters
    ----------
    spec
        A :class:`CampaignSpec`, a dict, or the path of a TOML spec.
    database_url
        Database to use instead of the settings' default (``ALFORGE_DATABASE_URL``).
    """

    def __init__(self, spec: CampaignSpec | dict[str, Any] | str | Path, *, database_url: str | None = None) -> None:
        if isinstance(spec, CampaignSpec):
            self.spec = spec
        elif isinstance(spec, dict):
            self.spec = CampaignSpec.from_dict(spec)
        else:
            self.spec = load_spec(spec)
        self.database_url = database_url

    @property
    def name(self) -> str:
        """The campaign's unique name."""
        return self.spec.name

    def _db(self) -> Any:
        from alforge.db import Database

        return Database(self.database_url)

    def run(self) -> dict[str, Any]:
        """Run (or resume) the campaign in this process until it converges or stops.

        Returns
        -------
        dict
            ``campaign_id``, ``name``, ``state`` (converged/stopped), ``reason`` and the last
            generation's ``metrics`` and ``timings``.
        """
        _quiet_prefect()
        from alforge.flows.campaign import run_in_process

        with _database_url(self.database_url):
            return run_in_process(self.spec.to_json_dict())

    @classmethod
    def load(cls, name: str, *, database_url: str | None = None) -> Campaign:
        """A stored campaign by name (its latest spec)."""
        from alforge.db import Database
        from alforge.db.campaigns import campaign_by_name

        db = Database(database_url)
        with db.session(readonly=True) as session:
            row = campaign_by_name(session, name)
            if row is None:
                msg = f"no campaign named {name!r} in {db.safe_url}; `alforge status` lists the campaigns"
                raise AlforgeError(msg)
            data = {k: v for k, v in row.spec.items() if k != "_level"}
        return cls(CampaignSpec.from_dict(data), database_url=database_url)

    def status(self) -> dict[str, Any]:
        """State, labels, quarantined count and per-generation rows (see ``alforge status``)."""
        from alforge.reports import campaign_status

        return campaign_status(self.name, db=self._db())["campaigns"][0]

    @property
    def state(self) -> str:
        """created, running, converged, stopped or failed."""
        return str(self.status()["state"])

    @property
    def generations(self) -> list[dict[str, Any]]:
        """One dict per generation: index, state, labels, quarantined, metrics, timings."""
        return list(self.status()["generations"])

    def model(self) -> Any:
        """The campaign's newest model (a :class:`alforge.models.Potential`)."""
        from alforge.db import ModelRecord
        from alforge.db.campaigns import campaign_by_name, latest_model
        from alforge.models import load_model

        db = self._db()
        with db.session(readonly=True) as session:
            row = campaign_by_name(session, self.name)
            record: ModelRecord | None = None if row is None else latest_model(session, row.id)
            if record is None:
                msg = f"campaign {self.name!r} has no model yet; run it first"
                raise AlforgeError(msg)
            path = record.artifact_path
        return load_model(path)

    def calculator(self, *, uncertainty: bool | Literal["on_request"] = True) -> Any:
        """ASE calculator of the newest model (results: energy, forces, energy_std, forces_std;
        ``uncertainty=False``: energy and forces only, faster, for production MD;
        ``"on_request"``: the uncertainties only when asked for)."""
        return self.model().calculator(uncertainty=uncertainty)


def launch(
    spec: CampaignSpec | dict[str, Any] | str | Path, server: str | None = None, deployment: str = "campaign/alforge"
) -> Any:
    """Submit a campaign to a running Prefect server; return a handle (flow-run id, campaign name).

    The handle's ``.status()`` and ``.wait()`` follow the run. ``server`` is the server's URL
    (default ``PREFECT_API_URL``); ``deployment`` picks a work-pool deployment
    (``campaign/alforge-cpu``) instead of the one `alforge serve` serves.
    """
    from alforge.flows.launch import launch as _launch

    campaign = Campaign(spec)
    return _launch(campaign.spec, server=server, deployment=deployment)


def _progress_loop(name: str, spec: CampaignSpec, console: Console, stop: threading.Event) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from alforge.reports import campaign_status, stated_text

    with Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(), console=console, transient=False,
    ) as progress:
        generations = progress.add_task("generations", total=spec.stopping.max_generations, info="")
        labels = progress.add_task("labels", total=spec.stopping.max_labels, info="")
        while not stop.wait(1.0):
            try:
                report = campaign_status(name)["campaigns"]
            except AlforgeError:
                continue
            if not report:
                continue
            c = report[0]
            done = [g for g in c["generations"] if g["state"] == "complete"]
            last = done[-1]["metrics"] if done else {}
            stated = stated_text(last)
            info = "" if stated == "-" else f"force MAE {stated} eV/Å"
            progress.update(generations, completed=len(done), info=info)
            progress.update(labels, completed=c["labels"], info=f"quarantined {c['quarantined']}")


def run_spec_file(path: str | Path, console: Console | None = None) -> dict[str, Any]:
    """What ``alforge run SPEC`` does: run or resume, with progress, then a summary table."""
    spec = load_spec(path)
    campaign = Campaign(spec)
    stop = threading.Event()
    watcher = None
    if console is not None:
        watcher = threading.Thread(target=_progress_loop, args=(spec.name, spec, console, stop), daemon=True)
        watcher.start()
    try:
        result = campaign.run()
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=5)
    out = console or Console()
    from alforge.reports import campaign_status, render_status

    render_status(campaign_status(spec.name), out)
    out.print(f"campaign [bold]{spec.name}[/]: {result['state']} ({result.get('reason', '')})")
    if result.get("already_finished"):
        out.print(
            f"campaign {spec.name!r} had already {result['state']} when this run began, so nothing ran: the results "
            "above are the stored ones. Changed exploration or validation settings act only while a campaign runs; "
            "to run them, give the campaign a new name."
        )
    return result
