"""Database integrity checks behind ``alforge db check``.

Each check is one SQL query that returns the offending rows; an empty list of problems means
the database is consistent: every calculation belongs to a structure, every model's training
ids exist, no generation is complete without its model, no structure is labelled twice at one
level of theory, every ``ok`` calculation has its energy and forces, every candidate its structure.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alforge.db.schema import Calculation, Candidate, Generation, ModelRecord, Structure

__all__ = ["check_integrity"]


def _orphan_calculations(session: Session) -> list[str]:
    rows = session.scalars(
        select(Calculation.id).outerjoin(Structure, Structure.id == Calculation.structure_id).where(
            Structure.id.is_(None)
        )
    ).all()
    return [f"calculation {cid} belongs to no structure" for cid in rows]


def _orphan_candidates(session: Session) -> list[str]:
    rows = session.scalars(
        select(Candidate.id).outerjoin(Structure, Structure.id == Candidate.structure_id).where(
            Structure.id.is_(None)
        )
    ).all()
    return [f"candidate {cid} belongs to no structure" for cid in rows]


def _duplicate_labels(session: Session) -> list[str]:
    rows = session.execute(
        select(Calculation.structure_id, Calculation.level_hash, func.count())
        .group_by(Calculation.structure_id, Calculation.level_hash)
        .having(func.count() > 1)
    ).all()
    return [f"structure {sid} has {n} calculations at level {level}" for sid, level, n in rows]


def _incomplete_results(session: Session) -> list[str]:
    rows = session.scalars(
        select(Calculation.id).where(
            Calculation.status == "ok",
            (Calculation.energy_eV.is_(None)) | (Calculation.forces_eV_per_A.is_(None)),
        )
    ).all()
    return [f"calculation {cid} is ok but has no energy or forces" for cid in rows]


def _model_training_ids(session: Session) -> list[str]:
    problems = []
    known: set[int] = set()
    wanted: dict[int, list[int]] = {}
    for model_id, ids in session.execute(select(ModelRecord.id, ModelRecord.training_ids)):
        wanted[model_id] = [int(i) for i in ids or []]
    all_ids = sorted({i for ids in wanted.values() for i in ids})
    for start in range(0, len(all_ids), 500):
        chunk = all_ids[start : start + 500]
        known.update(session.scalars(select(Calculation.id).where(Calculation.id.in_(chunk))).all())
    for model_id, ids in wanted.items():
        missing = [i for i in ids if i not in known]
        if missing:
            problems.append(f"model {model_id} was trained on calculations {missing[:5]} that do not exist")
    return problems


def _generations_without_model(session: Session) -> list[str]:
    with_model = set(session.scalars(select(ModelRecord.generation_id)).all())
    model_ids = set(session.scalars(select(ModelRecord.id)).all())
    problems = []
    rows = session.execute(
        select(Generation.id, Generation.campaign_id, Generation.index, Generation.metrics).where(
            Generation.state == "complete", Generation.index > 0
        )
    )
    for gid, campaign_id, index, stored in rows:
        metrics = stored or {}
        if gid in with_model or metrics.get("model_id") in model_ids or metrics.get("fit_error"):
            continue
        problems.append(f"campaign {campaign_id} generation {index} is complete but has no model")
    return problems


CHECKS = (
    _orphan_calculations,
    _orphan_candidates,
    _duplicate_labels,
    _incomplete_results,
    _model_training_ids,
    _generations_without_model,
)


def check_integrity(session: Session) -> dict[str, Any]:
    """Run every check; return ``{"ok": bool, "problems": [...], "counts": {...}}``."""
    problems = [problem for check in CHECKS for problem in check(session)]
    counts = {
        "structures": session.scalar(select(func.count()).select_from(Structure)),
        "calculations": session.scalar(select(func.count()).select_from(Calculation)),
        "models": session.scalar(select(func.count()).select_from(ModelRecord)),
        "generations": session.scalar(select(func.count()).select_from(Generation)),
    }
    return {"ok": not problems, "problems": problems, "counts": counts}
