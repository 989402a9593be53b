"""Synthetic, realistic campaign rows for the dashboard's tests, demos and benchmark.

Rows go into the real tables with bulk inserts (one statement per table per generation):
a campaign with a valid spec, generations with metrics, timings and a Prefect flow-run id, MD
walkers with per-check uncertainties, explored candidates (selected for training or held out,
or not selected), rattled ethanol structures, and their calculations (ok, quarantined with an
error, or pending while a generation runs). The numbers have the shapes of a real campaign:
the held-out error falls as labels grow, explored uncertainty sinks below the threshold, and
walkers stop on uncertainty early and run out their step budget later.

Example
-------
>>> from alforge.db import Database
>>> db = Database("sqlite:///:memory:")
>>> with db.session() as session:
...     campaign_id = add_demo_campaign(session, "demo", DemoShape(generations=2))
>>> from alforge.dashboard.queries import campaign_summaries
>>> with db.session(readonly=True) as session:
...     campaign_summaries(session)[0]["labels"]
24
"""

from __future__ import annotations

import argparse
import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from ase.build import molecule
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from alforge.config import CampaignSpec
from alforge.db import Calculation, Campaign, Candidate, Database, Generation, MDRun, Structure

__all__ = ["DemoShape", "add_demo_campaign", "add_demo_generation", "build_demo_database"]

EPOCH = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
QUARANTINE_ERRORS = (
    "SCF not converged after 100 cycles (last energy change 3.1e-05 Ha); quarantined",
    "atoms 2 and 7 are 0.41 Å apart (minimum 0.5 Å); check the structure's units",
    "oracle worker timed out after 600 s",
)
_LEVEL = {"code": "pyscf", "method": "B3LYP", "basis": "def2-SVP", "charge": 0, "spin": 0, "settings": {}}
_ETHANOL = molecule("CH3CH2OH")
_STATES = ("converged", "stopped", "running", "failed")


@dataclass(frozen=True)
class DemoShape:
    """How big each synthetic generation is.

    Attributes
    ----------
    generations
        Generations per campaign.
    labels_per_generation
        Successful (``ok``) calculations per complete generation, training plus validation.
    validation_per_generation
        Of those, held-out validation labels.
    quarantined_per_generation
        Quarantined calculations per complete generation (each with an error message).
    unselected_per_generation
        Explored frames kept as candidates but not sent to the oracle.
    walkers
        MD walkers per generation.
    checks_per_walker
        Uncertainty checks a walker runs if it is not stopped early.
    """

    generations: int = 6
    labels_per_generation: int = 12
    validation_per_generation: int = 2
    quarantined_per_generation: int = 1
    unselected_per_generation: int = 8
    walkers: int = 4
    checks_per_walker: int = 50


def _spec(name: str, shape: DemoShape) -> dict[str, Any]:
    """A valid stored spec (validated under a placeholder name: stored names may be anything)."""
    spec = CampaignSpec.model_validate(
        {
            "name": "demo",
            "system": {"molecule": "CH3CH2OH"},
            "oracle": {"method": "B3LYP", "basis": "def2-SVP"},
            "exploration": {"walkers": shape.walkers},
            "selection": {"max_labels": shape.labels_per_generation + shape.quarantined_per_generation},
            "stopping": {
                "max_labels": (shape.generations + 2) * shape.labels_per_generation,
                "max_generations": shape.generations + 2,
            },
        }
    ).to_json_dict()
    spec["name"] = name
    spec["_level"] = _LEVEL
    return spec


def add_demo_campaign(
    session: Session,
    name: str,
    shape: DemoShape | None = None,
    *,
    state: str | None = None,
    running: bool = False,
    message: str | None = None,
    seed: int = 0,
) -> int:
    """Insert a campaign with ``shape.generations`` generations; return its id.

    Parameters
    ----------
    session
        A writable session (committed by the caller).
    name
        Campaign name (stored as given, so tests can use hostile names).
    shape
        Sizes of each generation (default :class:`DemoShape`).
    state
        Campaign state; default ``"running"`` if ``running`` else ``"converged"``.
    running
        Leave the last generation running: half its labels pending, no metrics or timings.
    message
        The campaign's message (e.g. why it failed).
    seed
        Seed of the random numbers (with the campaign id and generation index).
    """
    shape = shape or DemoShape()
    campaign = Campaign(
        name=name,
        spec=_spec(name, shape),
        state=state or ("running" if running else "converged"),
        level_hash=hashlib.sha256(f"demo-level:{name}".encode()).hexdigest(),
        message=message,
        created_at=EPOCH,
        updated_at=EPOCH,
    )
    session.add(campaign)
    session.flush()
    for index in range(shape.generations):
        complete = not (running and index == shape.generations - 1)
        add_demo_generation(session, campaign.id, index, shape, complete=complete, seed=seed)
    return campaign.id


def _labelled_before(session: Session, campaign_id: int, level_hash: str | None) -> dict[str, int]:
    rows = session.execute(
        select(Candidate.split, func.count())
        .join(Generation, Generation.id == Candidate.generation_id)
        .join(
            Calculation,
            (Calculation.structure_id == Candidate.structure_id) & (Calculation.level_hash == level_hash),
        )
        .where(Generation.campaign_id == campaign_id, Candidate.selected.is_(True), Calculation.status == "ok")
        .group_by(Candidate.split)
    )
    return {split or "train": n for split, n in rows}


def _walkers(
    rng: np.random.Generator, shape: DemoShape, index: int, threshold: float
) -> list[tuple[str, np.ndarray]]:
    """(stop reason, per-check uncertainties) of each walker: early stops while the model is poor."""
    scale = threshold * (2.5 * np.exp(-index / 2.5) + 0.25)
    out = []
    for _ in range(shape.walkers):
        checks = rng.lognormal(np.log(scale), 0.45, size=shape.checks_per_walker)
        over = np.flatnonzero(checks > 3.0 * threshold)
        if rng.random() < 0.08:
            stop = int(rng.integers(1, shape.checks_per_walker))
            out.append(("guard: min_distance", checks[:stop]))
        elif over.size:
            out.append(("uncertain", checks[: over[0] + 1]))
        else:
            out.append(("budget", checks))
    return out


def add_demo_generation(
    session: Session,
    campaign_id: int,
    index: int,
    shape: DemoShape | None = None,
    *,
    complete: bool = True,
    seed: int = 0,
) -> int:
    """Insert generation ``index`` of a campaign with its walkers, candidates and calculations.

    A complete generation gets ``shape.labels_per_generation`` ok labels, quarantined
    calculations, metrics (held-out errors computed from the campaign's label count) and
    timings; a running one gets half its labels pending and no metrics. Returns the generation id.
    """
    shape = shape or DemoShape()
    rng = np.random.default_rng([seed, campaign_id, index])
    level_hash = session.scalar(select(Campaign.level_hash).where(Campaign.id == campaign_id))
    before = _labelled_before(session, campaign_id, level_hash)
    threshold = 0.2 * 0.97**index
    started = EPOCH + timedelta(days=campaign_id % 50, hours=index)
    walker_data = _walkers(rng, shape, index, threshold)
    checks = np.concatenate([u for _, u in walker_data])

    n_ok = shape.labels_per_generation if complete else shape.labels_per_generation // 2
    n_pending = 0 if complete else shape.labels_per_generation - n_ok
    n_quarantined = shape.quarantined_per_generation if complete else 0
    n_validation = min(shape.validation_per_generation, n_ok)
    n_selected = n_ok + n_quarantined + n_pending
    labels_total = before.get("train", 0) + before.get("validation", 0) + n_ok
    train_total = before.get("train", 0) + n_ok - n_validation
    validation_total = before.get("validation", 0) + n_validation

    oracle_busy_s = float(rng.uniform(6.0, 12.0, n_selected).sum())
    timings: dict[str, Any] = {}
    metrics: dict[str, Any] = {}
    if complete:
        mae = 0.9 * (labels_total / 10) ** -0.6 * float(np.exp(rng.normal(0, 0.05)))
        timings = {
            "training_s": 0.4 + 0.004 * labels_total**1.2,
            "md_s": 0.02 * checks.size,
            "oracle_s": oracle_busy_s / 4,
            "oracle_busy_s": oracle_busy_s,
            "orchestration_s": float(rng.uniform(0.3, 1.5)),
        }
        timings["total_s"] = sum(timings[k] for k in ("training_s", "md_s", "oracle_s", "orchestration_s"))
        metrics = {
            "labels_total": labels_total,
            "train_labels": train_total,
            "validation_labels": validation_total,
            "generation_ok": n_ok,
            "generation_quarantined": n_quarantined,
            "force_mae_eV_per_A": mae,
            "force_rmse_eV_per_A": 1.3 * mae,
            # the verdict's estimate (from generation 1) and its interval (from generation 2; older rows had none)
            **({"estimated_force_mae_eV_per_A": 0.8 * mae} if index >= 1 else {}),
            **({"estimated_force_mae_interval_eV_per_A": [0.6 * mae, 1.1 * mae]} if index >= 2 else {}),
            "energy_mae_eV": 0.08 * (labels_total / 10) ** -0.7,
            "confident_fraction": float(np.mean(checks <= threshold)),
            "walker_stops": {str(w): reason for w, (reason, _) in enumerate(walker_data)},
            "decision": "continue",
        }
    generation_id = session.execute(
        insert(Generation).returning(Generation.id),
        {
            "campaign_id": campaign_id,
            "index": index,
            "state": "complete" if complete else "running",
            "settings": {},
            "threshold_eV_per_A": threshold,
            "upper_eV_per_A": 3 * threshold,
            "label_budget": n_selected - n_validation,
            "held_out_budget": n_validation,
            "timings": timings,
            "metrics": metrics,
            "flow_run_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
            "started_at": started,
            "finished_at": started + timedelta(seconds=timings["total_s"]) if complete else None,
        },
    ).scalar_one()

    run_ids = session.scalars(
        insert(MDRun).returning(MDRun.id, sort_by_parameter_order=True),
        [
            {
                "generation_id": generation_id,
                "walker": w,
                "temperature_K": 300.0 + 100.0 * (w % 3),
                "steps_done": 10 * values.size,
                "steps_budget": 10 * shape.checks_per_walker,
                "timestep_fs": 0.5,
                "stop_reason": reason,
                "max_uncertainty_eV_per_A": float(values.max()),
                "wall_time_s": 0.02 * values.size,
                "uncertainties_eV_per_A": values,
                "created_at": started,
            }
            for w, (reason, values) in enumerate(walker_data)
        ],
    ).all()

    n_frames = n_selected + shape.unselected_per_generation
    structures = []
    for k in range(n_frames):
        positions = _ETHANOL.positions + rng.normal(scale=0.05, size=_ETHANOL.positions.shape)
        digest = hashlib.sha256(f"{campaign_id}:{index}:{k}".encode() + positions.tobytes()).hexdigest()
        structures.append(
            {
                "hash": digest,
                "formula": "C2H6O",
                "n_atoms": len(_ETHANOL),
                "numbers": _ETHANOL.numbers.astype("<i8"),
                "positions": positions,
                "cell": np.zeros((3, 3)),
                "pbc": np.zeros(3, dtype=bool),
                "created_at": started,
            }
        )
    structure_ids = session.scalars(
        insert(Structure).returning(Structure.id, sort_by_parameter_order=True), structures
    ).all()

    candidates, calculations = [], []
    for k, structure_id in enumerate(structure_ids):
        selected = k < n_selected
        validation = k < n_validation
        if not selected:
            uncertainty, origin, selected_as, split = threshold * float(rng.uniform(0.2, 0.95)), "sampled", None, None
        elif validation:
            uncertainty, origin, selected_as, split = (
                threshold * float(rng.uniform(0.3, 2.0)), "sampled", "held-out", "validation")
        else:
            uncertainty, origin, selected_as, split = (
                threshold * (1.0 + float(rng.exponential(0.8))), "uncertain", "uncertain", "train")
        candidates.append(
            {
                "generation_id": generation_id,
                "structure_id": structure_id,
                "md_run_id": run_ids[k % len(run_ids)],
                "uncertainty_eV_per_A": uncertainty,
                "selected": selected,
                "origin": origin,
                "selected_as": selected_as,
                "split": split,
                "created_at": started,
            }
        )
        if not selected:
            continue
        status = "ok" if k < n_ok else ("quarantined" if k < n_ok + n_quarantined else "pending")
        finished = None if status == "pending" else started + timedelta(seconds=30 + 12 * k)
        calculations.append(
            {
                "structure_id": structure_id,
                "level_hash": level_hash,
                "level": _LEVEL,
                "code": "pyscf",
                "code_version": "2.8.0",
                "method": "B3LYP",
                "basis": "def2-SVP",
                "status": status,
                "energy_eV": -4210.0 + float(rng.normal(0, 0.3)) if status == "ok" else None,
                "forces_eV_per_A": rng.normal(scale=0.8, size=(len(_ETHANOL), 3)) if status == "ok" else None,
                "error": QUARANTINE_ERRORS[k % len(QUARANTINE_ERRORS)] if status == "quarantined" else None,
                "wall_time_s": float(rng.uniform(6.0, 12.0)) if finished else None,
                "attempts": 0 if status == "pending" else 1,
                "details": {},
                "created_at": started,
                "started_at": None if status == "pending" else started,
                "finished_at": finished,
            }
        )
    session.execute(insert(Candidate), candidates)
    if calculations:
        session.execute(insert(Calculation), calculations)
    return generation_id


def build_demo_database(
    url: str, campaigns: int = 3, shape: DemoShape | None = None, *, prefix: str = "demo"
) -> Database:
    """Create (or extend) the database at ``url`` with ``campaigns`` synthetic campaigns.

    Campaign ``i`` is named ``<prefix>-<i:03d>``; states cycle through converged, stopped,
    running (last generation running) and failed. Each campaign is one transaction.
    """
    db = Database(url)
    for i in range(campaigns):
        state = _STATES[i % len(_STATES)]
        message = "oracle crashed: worker exited with signal 9 (out of memory?)" if state == "failed" else None
        with db.session() as session:
            add_demo_campaign(
                session, f"{prefix}-{i:03d}", shape, state=state, running=state == "running", message=message, seed=i
            )
    return db


def main() -> None:
    """``python -m tests.support.demo_data URL``: fill a database to look at with the dashboard."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("url", help="SQLAlchemy URL, e.g. sqlite:////tmp/demo.db")
    parser.add_argument("--campaigns", type=int, default=4)
    parser.add_argument("--generations", type=int, default=8)
    parser.add_argument("--labels", type=int, default=12, help="labels per generation")
    args = parser.parse_args()
    shape = DemoShape(generations=args.generations, labels_per_generation=args.labels)
    db = build_demo_database(args.url, args.campaigns, shape)
    print(f"wrote {args.campaigns} demo campaigns to {db.safe_url}")
    db.dispose()


if __name__ == "__main__":
    main()
