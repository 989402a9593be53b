"""Dashboard test data: the demo campaigns, and the values the database holds for them,
gathered by plain ORM traversal (independently of the dashboard's SQL)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
from sqlalchemy import select

from alforge.db import Calculation, Campaign, Candidate, Database, MDRun
from tests.support.demo_data import DemoShape, add_demo_campaign

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_MESSAGE = '<img src=x onerror="alert(2)"> oracle & model disagree'
CONVERGED = "water-gp"
RUNNING = "ethanol-live"
SHAPE = DemoShape(generations=5, labels_per_generation=10, quarantined_per_generation=2)


def fill(db: Database) -> None:
    """Three campaigns: converged, running (last generation running) and failed with a hostile name."""
    with db.session() as session:
        add_demo_campaign(session, CONVERGED, SHAPE, seed=1)
        add_demo_campaign(session, RUNNING, DemoShape(generations=3), running=True, seed=2)
        add_demo_campaign(
            session, HOSTILE_NAME, DemoShape(generations=1), state="failed", message=HOSTILE_MESSAGE, seed=3
        )


def expected(db: Database, name: str) -> dict[str, Any]:
    """What the database holds for campaign ``name``, gathered one row at a time."""
    with db.session(readonly=True) as session:
        campaign = session.scalars(select(Campaign).where(Campaign.name == name)).one()
        generations: list[dict[str, Any]] = []
        for generation in campaign.generations:
            tally: Counter[str] = Counter()
            for candidate in session.scalars(select(Candidate).where(Candidate.generation_id == generation.id)):
                if not candidate.selected:
                    continue
                calculation = session.scalars(
                    select(Calculation).where(
                        Calculation.structure_id == candidate.structure_id,
                        Calculation.level_hash == campaign.level_hash,
                    )
                ).one()
                tally[calculation.status] += 1
                if calculation.status == "ok":
                    tally[f"ok_{candidate.split}"] += 1
            runs = list(session.scalars(select(MDRun).where(MDRun.generation_id == generation.id)))
            checks = np.concatenate([r.uncertainties_eV_per_A for r in runs]) if runs else np.zeros(0)
            generations.append(
                {
                    "index": generation.index,
                    "state": generation.state,
                    "tally": tally,
                    "metrics": dict(generation.metrics),
                    "timings": dict(generation.timings),
                    "threshold": generation.threshold_eV_per_A,
                    "checks": checks,
                    "stops": Counter(r.stop_reason for r in runs),
                    "simulated_ps": sum(r.steps_done * (r.timestep_fs or 0.0) for r in runs) / 1000.0,
                    "flow_run_id": generation.flow_run_id,
                }
            )
        return {
            "name": campaign.name,
            "state": campaign.state,
            "message": campaign.message,
            "spec": campaign.spec,
            "generations": generations,
            "labels": sum(g["tally"]["ok"] for g in generations),
            "quarantined": sum(g["tally"]["quarantined"] for g in generations),
            "pending": sum(g["tally"]["pending"] for g in generations),
        }


def stated(metrics: dict[str, Any]) -> tuple[float | None, list[float] | None]:
    """The force MAE a generation's verdict states and its interval, read from its metrics as documented:
    the estimate over the MD where there is one, else the held-out MAE."""
    value = metrics.get("estimated_force_mae_eV_per_A", metrics.get("force_mae_eV_per_A"))
    return value, metrics.get("estimated_force_mae_interval_eV_per_A")
