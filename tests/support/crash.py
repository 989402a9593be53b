"""Crash anywhere: SIGKILL ``alforge run`` in chosen phases of the loop, resume, and audit.

The phase a campaign is in is read from the database alone (the single source of truth):

======== ==================================================================
seed     generation 0 is being created
train    a generation is open and has neither a model nor walkers yet
explore  its model exists, not every walker is recorded
select   every walker is recorded, nothing is selected yet
label    selected structures have calculations not yet finished
ingest   every calculation is finished, the generation is not yet closed
======== ==================================================================
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from alforge.db import Calculation, Campaign, Candidate, Database, Generation, MDRun, ModelRecord

__all__ = ["PHASES", "CrashReport", "crash_and_resume", "current_phase"]

PHASES = ("train", "explore", "select", "label", "ingest")


def current_phase(db: Database, name: str, walkers: int) -> str | None:
    """The loop phase campaign ``name`` is in, read from the database (see module docstring)."""
    with db.session(readonly=True) as session:
        campaign_id = session.scalar(select(Campaign.id).where(Campaign.name == name))
        if campaign_id is None:
            return None
        generation = session.scalar(
            select(Generation)
            .where(Generation.campaign_id == campaign_id, Generation.state == "running")
            .order_by(Generation.index.desc())
            .limit(1)
        )
        if generation is None:
            return "ingest"
        selected = select(Candidate.structure_id).where(
            Candidate.generation_id == generation.id, Candidate.selected.is_(True)
        )
        n_selected = session.scalar(select(func.count()).select_from(selected.subquery()))
        if generation.index == 0 and not n_selected:
            return "seed"
        if generation.index > 0 and not n_selected:
            has_model = session.scalar(select(ModelRecord.id).where(ModelRecord.generation_id == generation.id))
            n_walkers = session.scalar(select(func.count()).where(MDRun.generation_id == generation.id))
            if has_model is None and not n_walkers:
                return "train"
            return "explore" if (n_walkers or 0) < walkers else "select"
        unfinished = session.scalar(
            select(func.count()).where(
                Calculation.structure_id.in_(selected), Calculation.finished_at.is_(None)
            )
        )
        return "label" if unfinished else "ingest"


@dataclass
class CrashReport:
    """What a crash run did: phases killed in, oracle launches, labels before/after, completion."""

    kills: list[str] = field(default_factory=list)
    completed: bool = False
    final_state: str | None = None
    labels_lost: int = 0
    duplicate_oracle_calls: int = 0
    in_flight_at_kills: int = 0
    returncode: int | None = None


def _ok_ids(db: Database) -> set[int]:
    with db.session(readonly=True) as session:
        return set(session.scalars(select(Calculation.id).where(Calculation.status == "ok")))


def _in_flight(db: Database) -> set[int]:
    with db.session(readonly=True) as session:
        return set(
            session.scalars(
                select(Calculation.id).where(Calculation.started_at.is_not(None), Calculation.finished_at.is_(None))
            )
        )


def crash_and_resume(
    spec_path: Path,
    name: str,
    walkers: int,
    database_url: str,
    targets: Sequence[str],
    *,
    phase_timeout_s: float = 60.0,
    final_timeout_s: float = 600.0,
    env: dict[str, str] | None = None,
) -> CrashReport:
    """Run ``alforge run spec`` and SIGKILL it once per target phase, then let it finish.

    Each kill lands when the database first shows the target phase (or, if the phase is not
    seen within ``phase_timeout_s``, wherever the run is). Afterwards the campaign is resumed
    to completion and audited: labels present before any kill must still be there, and only
    calculations in flight at a kill may have been launched twice.
    """
    db = Database(database_url)
    environment = {**os.environ, **(env or {}), "ALFORGE_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "alforge", "run", str(spec_path), "--no-progress"]
    report = CrashReport()
    allowed_repeats: set[int] = set()
    labelled_before: set[int] = set()
    for target in targets:
        process = subprocess.Popen(command, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.monotonic() + phase_timeout_s
        try:
            while process.poll() is None and time.monotonic() < deadline:
                if current_phase(db, name, walkers) == target:
                    break
                time.sleep(0.005)
            if process.poll() is not None:  # finished before the phase came round
                report.completed = process.returncode == 0
                break
            os.killpg(process.pid, signal.SIGKILL)
        finally:
            process.wait(timeout=60)
        report.kills.append(current_phase(db, name, walkers) or "start")
        in_flight = _in_flight(db)
        report.in_flight_at_kills += len(in_flight)
        allowed_repeats |= in_flight
        labelled_before |= _ok_ids(db)
    final = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=final_timeout_s,
                           check=False)
    report.returncode = final.returncode
    report.completed = final.returncode == 0
    with db.session(readonly=True) as session:
        report.final_state = session.scalar(select(Campaign.state).where(Campaign.name == name))
        launches = dict(session.execute(select(Calculation.id, Calculation.attempts)).tuples().all())
    report.labels_lost = len(labelled_before - _ok_ids(db))
    report.duplicate_oracle_calls = sum(n - 1 for cid, n in launches.items() if n > 1 and cid not in allowed_repeats)
    db.dispose()
    return report
