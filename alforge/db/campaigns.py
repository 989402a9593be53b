"""Campaign bookkeeping in the database: campaigns, generations, walkers, candidates.

Every function takes a session and ids or small values; each write is idempotent, so a
generation interrupted anywhere can be resumed from what these rows say.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from alforge.db.calculations import ensure_calculations
from alforge.db.schema import (
    Calculation,
    Campaign,
    CampaignStart,
    Candidate,
    Generation,
    MDRun,
    ModelRecord,
    utcnow,
)
from alforge.db.structures import add_structures
from alforge.errors import SpecError
from alforge.oracles.level_of_theory import LevelOfTheory

__all__ = [
    "add_candidates",
    "add_start_structures",
    "calculation_counts",
    "campaign_by_name",
    "generation_calculations",
    "generation_candidates",
    "last_walker_run",
    "latest_model",
    "mark_selected",
    "open_campaign",
    "open_generation",
    "record_walker",
    "start_structure_ids",
]

RESUMABLE_SECTIONS = ("exploration", "selection", "validation", "stopping", "compute", "schedule")


def campaign_by_name(session: Session, name: str) -> Campaign | None:
    """The campaign called ``name``, or ``None``."""
    return session.scalar(select(Campaign).where(Campaign.name == name))


def open_campaign(session: Session, name: str, spec: dict[str, Any], level: LevelOfTheory) -> Campaign:
    """Create the campaign, or check that ``spec`` may resume it.

    On resume, exploration/selection/validation/stopping/compute settings may change (the new
    spec is stored and each generation records the settings it ran with); the level of theory,
    the system and the model may not.
    """
    campaign = campaign_by_name(session, name)
    if campaign is None:
        campaign = Campaign(name=name, spec=spec, state="created", level_hash=level.hash)
        session.add(campaign)
        session.flush()
        return campaign
    if campaign.level_hash != level.hash:
        old = LevelOfTheory.from_dict(campaign.spec.get("_level", {})) if campaign.spec.get("_level") else None
        was = old.describe() if old else campaign.level_hash
        msg = (
            f"campaign {name!r} was labelled at {was}, the spec asks for {level.describe()}; "
            "the level of theory cannot change on resume: give the campaign a new name"
        )
        raise SpecError(msg)
    for section in ("system", "model", "seed"):
        if campaign.spec.get(section) != spec.get(section):
            msg = (
                f"campaign {name!r}: `{section}` differs from the stored spec; only "
                f"{', '.join(RESUMABLE_SECTIONS)} may change on resume (or use a new campaign name)"
            )
            raise SpecError(msg)
    campaign.spec = spec
    return campaign


def open_generation(session: Session, campaign_id: int, settings: dict[str, Any]) -> Generation:
    """The generation to work on: the unfinished one if any, else a new one after the last."""
    last = session.scalar(
        select(Generation).where(Generation.campaign_id == campaign_id).order_by(Generation.index.desc()).limit(1)
    )
    if last is not None and last.state == "running":
        return last
    generation = Generation(
        campaign_id=campaign_id, index=0 if last is None else last.index + 1, state="running", settings=settings
    )
    session.add(generation)
    session.flush()
    return generation


def record_walker(
    session: Session,
    generation_id: int,
    walker: int,
    *,
    temperature_K: float,
    start_structure_id: int | None,
    steps_done: int,
    stop_reason: str,
    max_uncertainty_eV_per_A: float | None,
    wall_time_s: float,
    uncertainties: np.ndarray,
    frames: Sequence[tuple[Atoms, float, str]],
    steps_budget: int | None = None,
    confident_steps: int | None = None,
    rewinds: int | None = None,
    timestep_fs: float | None = None,
    threshold_eV_per_A: float | None = None,
    end: Atoms | None = None,
    end_velocities_A_per_fs: np.ndarray | None = None,
) -> int:
    """Store a finished walker, where it ended and its kept frames as candidates, in one transaction.

    Returns the md_run id. A walker already recorded for (generation, walker) is returned as is
    (rerun-safe).
    """
    existing = session.scalar(select(MDRun.id).where(MDRun.generation_id == generation_id, MDRun.walker == walker))
    if existing is not None:
        return existing
    finite = None if max_uncertainty_eV_per_A is None or not np.isfinite(max_uncertainty_eV_per_A) \
        else float(max_uncertainty_eV_per_A)
    run = MDRun(
        generation_id=generation_id,
        walker=walker,
        temperature_K=temperature_K,
        start_structure_id=start_structure_id,
        steps_done=steps_done,
        stop_reason=stop_reason,
        max_uncertainty_eV_per_A=finite,
        wall_time_s=wall_time_s,
        uncertainties_eV_per_A=np.asarray(uncertainties, dtype="<f8"),
        steps_budget=steps_budget,
        confident_steps=confident_steps,
        rewinds=rewinds,
        timestep_fs=timestep_fs,
        threshold_eV_per_A=threshold_eV_per_A,
        end_structure_id=None if end is None else add_structures(session, [end])[0],
        end_velocities_A_per_fs=None if end_velocities_A_per_fs is None
        else np.asarray(end_velocities_A_per_fs, dtype="<f8"),
    )
    session.add(run)
    session.flush()
    add_candidates(session, generation_id, [f[0] for f in frames], [f[1] for f in frames],
                   [f[2] for f in frames], md_run_id=run.id)
    return run.id


def add_candidates(
    session: Session,
    generation_id: int,
    frames: Sequence[Atoms],
    uncertainties_eV_per_A: Sequence[float | None],
    origins: Sequence[str],
    *,
    md_run_id: int | None = None,
) -> list[int]:
    """Store frames as candidates of a generation (once per structure); return candidate ids.

    ``origins`` says why each frame was kept (one of ``CANDIDATE_ORIGINS``: ``seed``, ``sampled``,
    ``uncertain``, ``beyond``, ``guard``); ``uncertainties_eV_per_A`` its largest per-atom force std.
    """
    structure_ids = add_structures(session, frames)
    known = dict(
        session.execute(
            select(Candidate.structure_id, Candidate.id).where(
                Candidate.generation_id == generation_id, Candidate.structure_id.in_(structure_ids)
            )
        )
        .tuples()
        .all()
    )
    ids = []
    for sid, uncertainty, origin in zip(structure_ids, uncertainties_eV_per_A, origins, strict=True):
        if sid not in known:
            value = None if uncertainty is None or not np.isfinite(uncertainty) else float(uncertainty)
            candidate = Candidate(
                generation_id=generation_id, structure_id=sid, md_run_id=md_run_id, uncertainty_eV_per_A=value,
                origin=origin,
            )
            session.add(candidate)
            session.flush()
            known[sid] = candidate.id
        ids.append(known[sid])
    return ids


def mark_selected(session: Session, picks: dict[int, tuple[str, str]]) -> None:
    """Mark candidates selected: ``{candidate_id: (split, selected_as)}``.

    ``split`` is ``train`` or ``validation``; ``selected_as`` one of ``CANDIDATE_SELECTIONS``
    (``seed``, ``held-out``, ``uncertain``, ``random``). Why the walker kept the frame stays in
    ``origin``.
    """
    for candidate_id, (split, selected_as) in picks.items():
        candidate = session.get(Candidate, candidate_id)
        if candidate is None:
            continue
        candidate.selected = True
        candidate.split = split
        candidate.selected_as = selected_as


def add_start_structures(session: Session, campaign_id: int, frames: Sequence[Atoms]) -> list[int]:
    """Store a campaign's start structures once (a second call keeps the first); return structure ids."""
    stored = start_structure_ids(session, campaign_id)
    if stored:
        return stored
    ids = add_structures(session, frames)
    session.add_all(CampaignStart(campaign_id=campaign_id, position=i, structure_id=sid) for i, sid in enumerate(ids))
    session.flush()
    return ids


def start_structure_ids(session: Session, campaign_id: int) -> list[int]:
    """The structure ids of a campaign's start structures, in order (empty before they are stored)."""
    return list(session.scalars(
        select(CampaignStart.structure_id).where(CampaignStart.campaign_id == campaign_id)
        .order_by(CampaignStart.position)
    ))


def generation_candidates(generation_id: int, *columns: Any) -> Select[Any]:
    """A generation's candidates (or ``columns`` of them) in an order that does not depend on timing.

    Walkers run in parallel and store their frames as they finish, so candidate ids follow the
    order in which they happened to finish. Ordered by walker, then by id (each walker's frames in
    the order it kept them; seed candidates, which no walker made, first), the draws and the
    calculation ids made from this list are the same in every run of a campaign at one seed.
    """
    return (
        select(*(columns or (Candidate,)))
        .outerjoin(MDRun, MDRun.id == Candidate.md_run_id)
        .where(Candidate.generation_id == generation_id)
        .order_by(MDRun.walker.asc().nulls_first(), Candidate.id)
    )


def generation_calculations(session: Session, generation_id: int, level: LevelOfTheory) -> dict[int, int]:
    """Ensure a calculation row for every selected candidate, in :func:`generation_candidates` order;
    map candidate id → calculation id."""
    rows = session.execute(
        generation_candidates(generation_id, Candidate.id, Candidate.structure_id).where(Candidate.selected.is_(True))
    ).all()
    mapping = ensure_calculations(session, [sid for _, sid in rows], level)
    return {cid: mapping[sid] for cid, sid in rows}


def calculation_counts(session: Session, calculation_ids: Sequence[int]) -> dict[str, int]:
    """How many of ``calculation_ids`` are in each status."""
    if not calculation_ids:
        return {}
    rows = session.execute(
        select(Calculation.status, func.count()).where(Calculation.id.in_(list(calculation_ids))).group_by(
            Calculation.status
        )
    )
    return dict(rows.tuples().all())


def last_walker_run(session: Session, campaign_id: int, walker: int, before_index: int) -> MDRun | None:
    """Walker ``walker``'s newest recorded run in a generation before ``before_index`` that says where it ended."""
    return session.scalar(
        select(MDRun)
        .join(Generation, Generation.id == MDRun.generation_id)
        .where(
            Generation.campaign_id == campaign_id,
            Generation.index < before_index,
            MDRun.walker == walker,
            MDRun.end_structure_id.is_not(None),
        )
        .order_by(Generation.index.desc())
        .limit(1)
    )


def latest_model(session: Session, campaign_id: int, before_index: int | None = None) -> ModelRecord | None:
    """The newest model of a campaign (of a generation before ``before_index`` if given)."""
    query = (
        select(ModelRecord)
        .join(Generation, Generation.id == ModelRecord.generation_id)
        .where(ModelRecord.campaign_id == campaign_id)
        .order_by(Generation.index.desc(), ModelRecord.id.desc())
        .limit(1)
    )
    if before_index is not None:
        query = query.where(Generation.index < before_index)
    return session.scalar(query)


def finish_generation(
    session: Session, generation_id: int, *, metrics: dict[str, Any], timings: dict[str, Any], state: str
) -> None:
    """Close a generation with its metrics and timings."""
    generation = session.get(Generation, generation_id)
    if generation is None:
        msg = f"generation {generation_id} does not exist"
        raise KeyError(msg)
    generation.metrics = {**(generation.metrics or {}), **metrics}  # keep what steps recorded (fit_error)
    generation.timings = timings
    generation.state = state
    generation.finished_at = utcnow()
