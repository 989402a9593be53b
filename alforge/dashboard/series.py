"""Per-generation series behind the campaign page's plots and tables.

Each function takes an open (read-only) session and a campaign name, and returns parallel lists
indexed like their ``generation`` list (ready for plotly traces), or table rows. Each runs a
fixed handful of SQL statements whatever the number of generations or candidates.

Example
-------
>>> from alforge.db import Campaign, Database, Generation
>>> db = Database("sqlite:///:memory:")
>>> with db.session() as session:
...     session.add(Campaign(name="demo", spec={}, generations=[
...         Generation(index=i, metrics={"labels_total": 12 * (i + 1), "force_mae_eV_per_A": 0.3 / (i + 1)})
...         for i in range(3)]))
>>> with db.session(readonly=True) as session:
...     learning_curve(session, "demo")["labels"]
[12, 24, 36]
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alforge.dashboard.rows import (
    LABEL_STATUSES,
    LEARNING_METRICS,
    as_count,
    campaign_ref,
    finite,
    iso,
    stated_of,
    stopping_of,
    threshold_of,
)
from alforge.db import Calculation, Candidate, Generation, MDRun, Structure
from alforge.db.labels import label_counts_by_generation, selected_calculations
from alforge.db.read_model import generation_rows

__all__ = ["TIME_PARTS", "labels", "latest_structures", "learning_curve", "timings", "uncertainty", "walkers"]

TIME_PARTS = ("oracle_s", "training_s", "md_s", "orchestration_s")


STATED = ("stated_force_mae_eV_per_A", "stated_low_eV_per_A", "stated_high_eV_per_A")


def learning_curve(session: Session, name: str) -> dict[str, Any]:
    """Held-out errors against the number of labels, one point per generation that has them.

    Besides the held-out errors (``LEARNING_METRICS``), ``stated_force_mae_eV_per_A`` is the force
    MAE each generation's verdict states and ``stated_low_eV_per_A`` / ``stated_high_eV_per_A``
    the ends of its 90 % interval (``None`` where there is none; :func:`stated_of`).

    ``labels`` is the generation's ``labels_total`` metric (train + validation labels when it
    was evaluated); for generations without it, the campaign's labelled count up to and
    including that generation.
    """
    ref = campaign_ref(session, name)
    rows = [r for r in generation_rows(session, ref.id) if any(k in (r.metrics or {}) for k in LEARNING_METRICS)]
    cumulative: dict[int, int] = {}
    if any(finite((r.metrics or {}).get("labels_total")) is None for r in rows):
        total = 0
        for index, tally in sorted(label_counts_by_generation(session, ref.id, ref.level_hash).items()):
            total += tally.get("ok", 0)
            cumulative[index] = total
    out: dict[str, Any] = {"generation": [], "labels": [], "train_labels": [], "validation_labels": []}
    out.update({key: [] for key in (*LEARNING_METRICS, *STATED)})
    for row in rows:
        metrics = row.metrics or {}
        labels_total = finite(metrics.get("labels_total"))
        if labels_total is None:
            labels_total = cumulative.get(row.index, max(cumulative.values(), default=0))
        out["generation"].append(row.index)
        out["labels"].append(int(labels_total))
        out["train_labels"].append(as_count(metrics.get("train_labels")))
        out["validation_labels"].append(as_count(metrics.get("validation_labels")))
        for key in LEARNING_METRICS:
            out[key].append(finite(metrics.get(key)))
        stated = stated_of(metrics)
        interval = stated["stated_interval_eV_per_A"] or [None, None]
        out["stated_force_mae_eV_per_A"].append(stated["stated_force_mae_eV_per_A"])
        out["stated_low_eV_per_A"].append(interval[0])
        out["stated_high_eV_per_A"].append(interval[1])
    out["target_force_mae_eV_per_A"] = finite(stopping_of(ref.spec)["target_force_mae_eV_per_A"])
    return out


def labels(session: Session, name: str, limit: int = 100) -> dict[str, Any]:
    """Selected calculations per generation by outcome, and the quarantined/failed ones with reasons.

    Returns
    -------
    dict
        ``generation`` (every generation index) with parallel count lists ``train`` and
        ``validation`` (labelled), ``quarantined``, ``failed``, ``pending``; ``rejected``: the
        newest ``limit`` quarantined or failed calculations (generation, ids, formula, status,
        error); ``reasons``: error texts with their counts, most frequent first.
    """
    ref = campaign_ref(session, name)
    indices = list(
        session.scalars(select(Generation.index).where(Generation.campaign_id == ref.id).order_by(Generation.index))
    )
    counts = label_counts_by_generation(session, ref.id, ref.level_hash)
    out: dict[str, Any] = {"generation": indices}
    out["train"] = [counts.get(i, {}).get("ok_train", 0) for i in indices]
    out["validation"] = [counts.get(i, {}).get("ok_validation", 0) for i in indices]
    for status in LABEL_STATUSES[1:]:
        out[status] = [counts.get(i, {}).get(status, 0) for i in indices]
    rejected = (
        selected_calculations(ref.level_hash)
        .join(Structure, Structure.id == Calculation.structure_id)
        .where(Generation.campaign_id == ref.id, Calculation.status.in_(("quarantined", "failed")))
    )
    out["rejected"] = [
        {
            "generation": row.index,
            "calculation_id": row.id,
            "structure_id": row.structure_id,
            "formula": row.formula,
            "status": row.status,
            "split": row.split,
            "error": row.error,
            "finished_at": iso(row.finished_at),
        }
        for row in session.execute(
            rejected.add_columns(
                Generation.index, Calculation.id, Calculation.structure_id, Structure.formula,
                Calculation.status, Candidate.split, Calculation.error, Calculation.finished_at,
            )
            .order_by(Calculation.finished_at.desc().nulls_last(), Calculation.id.desc())
            .limit(limit)
        )
    ]
    out["reasons"] = [
        {"error": error or "(no message)", "count": n}
        for error, n in session.execute(
            selected_calculations(ref.level_hash)
            .add_columns(Calculation.error, func.count().label("n"))
            .where(Generation.campaign_id == ref.id, Calculation.status.in_(("quarantined", "failed")))
            .group_by(Calculation.error)
            .order_by(func.count().desc())
            .limit(20)
        )
    ]
    return out


def uncertainty(session: Session, name: str) -> dict[str, Any]:
    """Distribution of the explored frames' uncertainty (max force std, eV/Å) per generation.

    The values are every walker's per-check uncertainties (``md_runs.uncertainties_eV_per_A``); each
    generation is summarised as a box (``min``, ``q1``, ``median``, ``q3``, ``max``, plus
    ``mean``, ``p95``, ``n`` and ``above_threshold``, the fraction of checks over its threshold).
    ``threshold`` lists the selection threshold of every generation that has one.
    """
    ref = campaign_ref(session, name)
    rows = generation_rows(session, ref.id)
    by_generation: dict[int, list[np.ndarray]] = {}
    for index, values in session.execute(
        select(Generation.index, MDRun.uncertainties_eV_per_A)
        .join(Generation, Generation.id == MDRun.generation_id)
        .where(Generation.campaign_id == ref.id, MDRun.uncertainties_eV_per_A.is_not(None))
    ):
        by_generation.setdefault(index, []).append(np.asarray(values, dtype=float).ravel())
    thresholds = {row.index: threshold_of(row) for row in rows}
    keys = ("min", "q1", "median", "q3", "max", "mean", "p95", "n", "above_threshold")
    out: dict[str, Any] = {"generation": [], **{key: [] for key in keys}}
    for index in sorted(by_generation):
        values = np.concatenate(by_generation[index])
        values = values[np.isfinite(values)]
        if values.size == 0:
            continue
        q = np.percentile(values, [0, 25, 50, 75, 100, 95])
        threshold = thresholds.get(index)
        above = None if threshold is None else float(np.mean(values > threshold))
        out["generation"].append(index)
        for key, value in zip(("min", "q1", "median", "q3", "max", "p95"), q, strict=True):
            out[key].append(float(value))
        out["mean"].append(float(values.mean()))
        out["n"].append(int(values.size))
        out["above_threshold"].append(above)
    out["threshold"] = {
        "generation": [i for i, t in thresholds.items() if t is not None],
        "eV_per_A": [t for t in thresholds.values() if t is not None],
    }
    return out


def walkers(session: Session, name: str) -> dict[str, Any]:
    """Why each generation's MD walkers stopped and how far they ran.

    ``reasons`` maps a stop reason to counts per generation; ``simulated_ps`` is the generation's
    simulated MD time over all walkers (ps), ``simulated_ps_total`` the campaign's running total.
    """
    ref = campaign_ref(session, name)
    simulated = dict(
        session.execute(
            select(Generation.index, func.sum(MDRun.steps_done * func.coalesce(MDRun.timestep_fs, 0.0)))
            .join(Generation, Generation.id == MDRun.generation_id)
            .where(Generation.campaign_id == ref.id)
            .group_by(Generation.index)
        ).tuples().all()
    )
    rows = session.execute(
        select(Generation.index, MDRun.stop_reason, func.count(), func.avg(MDRun.steps_done))
        .join(Generation, Generation.id == MDRun.generation_id)
        .where(Generation.campaign_id == ref.id)
        .group_by(Generation.index, MDRun.stop_reason)
    ).all()
    indices = sorted({row[0] for row in rows})
    position = {index: i for i, index in enumerate(indices)}
    reasons: dict[str, list[int]] = {}
    total = [0] * len(indices)
    steps = [0.0] * len(indices)
    for index, reason, n, mean_steps in rows:
        counts = reasons.setdefault(reason or "unknown", [0] * len(indices))
        counts[position[index]] += n
        total[position[index]] += n
        steps[position[index]] += float(mean_steps or 0.0) * n
    mean = [s / n if n else None for s, n in zip(steps, total, strict=True)]
    per_generation = [float(simulated.get(index) or 0.0) / 1000.0 for index in indices]
    return {
        "generation": indices, "reasons": dict(sorted(reasons.items())), "walkers": total, "mean_steps": mean,
        "simulated_ps": per_generation, "simulated_ps_total": list(np.cumsum(per_generation).tolist()),
    }


def timings(session: Session, name: str) -> dict[str, Any]:
    """Wall time of each generation split into oracle, training, MD and orchestration (s).

    Also ``total_s`` and ``oracle_busy_s`` per generation, and ``totals``: each part summed over
    the campaign.
    """
    ref = campaign_ref(session, name)
    rows = [r for r in generation_rows(session, ref.id) if r.timings]
    keys = (*TIME_PARTS, "total_s", "oracle_busy_s")
    out: dict[str, Any] = {"generation": [r.index for r in rows]}
    for key in keys:
        out[key] = [finite(r.timings.get(key)) for r in rows]
    out["totals"] = {key: sum(v for v in out[key] if v is not None) for key in keys}
    return out


def latest_structures(session: Session, name: str, limit: int = 20) -> list[dict[str, Any]]:
    """The campaign's newest labelled structures (status ok), newest first."""
    ref = campaign_ref(session, name)
    query = (
        selected_calculations(ref.level_hash)
        .join(Structure, Structure.id == Calculation.structure_id)
        .add_columns(
            Generation.index, Calculation.id, Calculation.structure_id, Structure.formula, Structure.n_atoms,
            Calculation.energy_eV, Calculation.wall_time_s, Calculation.finished_at, Candidate.split,
            Candidate.origin, Candidate.selected_as, Candidate.uncertainty_eV_per_A,
        )
        .where(Generation.campaign_id == ref.id, Calculation.status == "ok")
        .order_by(Calculation.finished_at.desc().nulls_last(), Calculation.id.desc())
        .limit(limit)
    )
    return [
        {
            "generation": row.index,
            "calculation_id": row.id,
            "structure_id": row.structure_id,
            "formula": row.formula,
            "n_atoms": row.n_atoms,
            "energy_eV": finite(row.energy_eV),
            "uncertainty_eV_per_A": finite(row.uncertainty_eV_per_A),
            "split": row.split,
            "origin": row.origin,
            "selected_as": row.selected_as,
            "wall_time_s": finite(row.wall_time_s),
            "finished_at": iso(row.finished_at),
        }
        for row in session.execute(query)
    ]
