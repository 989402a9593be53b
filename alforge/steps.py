"""The steps of a learning generation as plain functions over database ids (no Prefect).

``alforge/flows`` wraps each in a task and orders them; a notebook can call them directly. Every
step reads what it needs from the database, writes what it made in short transactions and
returns ids or small values. Each is idempotent: rerun after a crash, it recognises what the
database already holds and does only the rest.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from sqlalchemy import select

from alforge.config import CampaignSpec
from alforge.db import Calculation, Campaign, Candidate, Database, Generation, MDRun, ModelRecord, Structure
from alforge.db import campaigns as store
from alforge.db.calculations import finish_calculation, labelled_frames, start_calculation
from alforge.db.exchange import campaign_calculation_ids
from alforge.db.structures import add_structures, atoms_from_row, get_atoms
from alforge.errors import AlforgeError, FitError, ModelError
from alforge.oracles.level_of_theory import LevelOfTheory

__all__ = [
    "CampaignContext",
    "decide",
    "evaluate_step",
    "explore_step",
    "label_step",
    "load_context",
    "open_generation",
    "seed_step",
    "select_step",
    "start_campaign",
    "train_step",
]

log = logging.getLogger("alforge")

_ORACLES: dict[str, Any] = {}
_MODELS: dict[str, Any] = {}  # fitted models by artifact checksum (ids repeat across databases)
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class CampaignContext:
    """What every step needs to know about its campaign."""

    campaign_id: int
    name: str
    spec: CampaignSpec
    level: LevelOfTheory


def build_oracle(spec: CampaignSpec) -> Any:
    """The oracle of a spec (cached per level of theory in this process)."""
    from alforge.oracles import get_oracle

    o = spec.oracle
    if o.name == "pyscf":
        kwargs: dict[str, Any] = {
            "method": o.method, "basis": o.basis, "charge": spec.system.charge, "spin": spec.system.spin,
            "density_fit": o.density_fit, "dispersion": o.dispersion, "conv_tol": o.conv_tol,
            "max_cycle": o.max_cycle, "threads": o.threads, "wall_time_s": o.wall_time_s, **o.options,
        }
    elif o.name == "ase":
        kwargs = {"calculator": o.method, "charge": spec.system.charge, "spin": spec.system.spin,
                  "wall_time_s": o.wall_time_s, **o.options}
    else:
        kwargs = {"method": o.method, "basis": o.basis, "charge": spec.system.charge, "spin": spec.system.spin,
                  **o.options}
    key = hashlib.sha256(repr(sorted(kwargs.items(), key=str)).encode() + o.name.encode()).hexdigest()
    with _CACHE_LOCK:
        if key not in _ORACLES:
            _ORACLES[key] = get_oracle(o.name, **kwargs)
        return _ORACLES[key]


def start_structures(spec: CampaignSpec) -> list[Atoms]:
    """The spec's start structures (file frames or the named ASE molecule)."""
    if spec.system.molecule is not None:
        from ase.build import molecule

        return [molecule(spec.system.molecule)]
    from alforge.data import read_structures

    return read_structures(spec.system.structures)  # type: ignore[arg-type]


def start_campaign(db: Database, spec: CampaignSpec) -> int:
    """Create or resume the campaign of ``spec`` (checking the oracle setup first); return its id."""
    oracle = build_oracle(spec)
    frames = start_structures(spec)
    for atoms in frames:
        oracle.check(atoms.numbers)
    level = oracle.level_of_theory
    stored = {**spec.to_json_dict(), "_level": level.to_dict()}
    with db.session() as session:
        campaign = store.open_campaign(session, spec.name, stored, level)
        return campaign.id


def resume_campaign(db: Database, name: str) -> int:
    """Id of the stored campaign ``name``, marked running again (for scheduled continuation)."""
    with db.session() as session:
        campaign = store.campaign_by_name(session, name)
        if campaign is None:
            msg = f"no campaign named {name!r}; start it from a spec first (`alforge run SPEC.toml`)"
            raise AlforgeError(msg)
        return campaign.id


def finished_state(db: Database, campaign_id: int) -> tuple[str, str] | None:
    """(state, reason) if the campaign has nothing left to do under its current spec, else ``None``."""
    with db.session(readonly=True) as session:
        last = session.scalar(
            select(Generation)
            .where(Generation.campaign_id == campaign_id, Generation.state == "complete")
            .order_by(Generation.index.desc())
            .limit(1)
        )
        if last is None:
            return None
        index, metrics = last.index, dict(last.metrics or {})
    state, reason = decide(db, campaign_id, metrics, index)
    return None if state == "running" else (state, reason)


def set_state(db: Database, campaign_id: int, state: str, message: str | None) -> None:
    """Set a campaign's state and message."""
    with db.session() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            campaign.state = state
            campaign.message = message


def load_context(db: Database, campaign_id: int) -> CampaignContext:
    """Campaign id → its spec and level of theory."""
    with db.session(readonly=True) as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            msg = f"campaign {campaign_id} does not exist"
            raise AlforgeError(msg)
        data = {k: v for k, v in campaign.spec.items() if k != "_level"}
        return CampaignContext(
            campaign_id=campaign.id,
            name=campaign.name,
            spec=CampaignSpec.from_dict(data),
            level=LevelOfTheory.from_dict(campaign.spec["_level"]),
        )


def open_generation(db: Database, campaign_id: int) -> tuple[int, int]:
    """The generation to work on (resumed if unfinished); return (generation id, index)."""
    ctx = load_context(db, campaign_id)
    settings = {k: ctx.spec.to_json_dict()[k] for k in ("exploration", "selection", "validation", "stopping")}
    with db.session() as session:
        generation = store.open_generation(session, campaign_id, settings)
        return generation.id, generation.index


def _generation(session: Any, generation_id: int) -> Generation:
    generation = session.get(Generation, generation_id)
    if generation is None:
        msg = f"generation {generation_id} does not exist"
        raise AlforgeError(msg)
    return generation


def seed_step(db: Database, campaign_id: int, generation_id: int) -> int:
    """Generation 0: the start structures and rattled copies, selected for training."""
    ctx = load_context(db, campaign_id)
    rng = np.random.default_rng(ctx.spec.seed)
    starts = start_structures(ctx.spec)
    frames: list[Atoms] = []
    for i in range(max(ctx.spec.system.seed_structures, len(starts))):
        atoms = starts[i % len(starts)].copy()
        if i >= len(starts):
            atoms.positions += rng.normal(scale=ctx.spec.system.rattle_A, size=atoms.positions.shape)
        frames.append(atoms)
    with db.session() as session:
        ids = store.add_candidates(session, generation_id, frames, [None] * len(frames), ["seed"] * len(frames))
        store.mark_selected(session, dict.fromkeys(ids, ("train", "seed")))
        return len(ids)


def _save_model(model: Any, ctx: CampaignContext, index: int) -> tuple[Path, str]:
    """Write the model atomically under a content-addressed name; return (path, sha256)."""
    import os

    from alforge.settings import get_settings

    folder = get_settings().models_dir / ctx.name
    folder.mkdir(parents=True, exist_ok=True)
    scratch = folder / f".generation-{index:03d}-{os.getpid()}-{threading.get_ident()}.tmp"
    model.save(scratch)
    checksum = _checksum(scratch)
    path = folder / f"generation-{index:03d}-{checksum[:12]}.model"
    scratch.replace(path)
    return path, checksum


def _checksum(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_model(ctx: CampaignContext, hyperparameters: dict[str, Any] | None = None) -> Any:
    """A fresh, unfitted model as the spec describes (``hyperparameters``: fixed instead of searched)."""
    c = ctx.spec.compute
    spec = ctx.spec.model.with_hyperparameters(hyperparameters)
    return spec.build(device=c.device, dtype=c.dtype, seed=ctx.spec.seed)


def train_step(db: Database, campaign_id: int, generation_id: int) -> int | None:
    """Fit the generation's model on every training label so far; return the model id.

    A model already stored for this generation is reused. If fitting fails numerically, the
    previous generation's model is used instead and the failure is recorded in the generation.
    """
    ctx = load_context(db, campaign_id)
    with db.session(readonly=True) as session:
        existing = session.scalar(select(ModelRecord.id).where(ModelRecord.generation_id == generation_id))
        if existing is not None:
            return existing
        index = _generation(session, generation_id).index
        ids = campaign_calculation_ids(session, campaign_id, split="train")
        frames = labelled_frames(session, ids)
        previous = store.latest_model(session, campaign_id, before_index=index)
        errors = session.scalars(
            select(Generation.metrics)
            .where(Generation.campaign_id == campaign_id, Generation.index < index, Generation.state == "complete")
            .order_by(Generation.index)
        ).all()
    warm, search = ctx.spec.model.warm_start(
        None if previous is None or previous.kind != ctx.spec.model.kind else previous.hyperparameters,
        index,
        [m["force_mae_eV_per_A"] for m in errors if m and m.get("force_mae_eV_per_A") is not None],
    )
    began = time.perf_counter()
    model = build_model(ctx, warm)
    try:
        model.fit(frames)
    except Exception as exc:  # any numerical failure of a fit falls back, whatever raised it
        reason = str(exc) if isinstance(exc, FitError | ModelError) else f"{type(exc).__name__}: {exc}"
        log.warning("generation %s: fit failed (%s); falling back to the previous model", index, reason)
        with db.session() as session:
            generation = _generation(session, generation_id)
            generation.metrics = {**(generation.metrics or {}), "fit_error": reason[:500]}
            previous = store.latest_model(session, campaign_id, before_index=index)
            return None if previous is None else previous.id
    fit_s = time.perf_counter() - began
    model.training_ids = list(ids)
    model.level_of_theory = ctx.level.to_dict()
    path, checksum = _save_model(model, ctx, index)
    report = getattr(model, "fit_report", None)
    with db.session() as session:
        record = ModelRecord(
            campaign_id=campaign_id,
            generation_id=generation_id,
            kind=ctx.spec.model.kind,
            level_hash=ctx.level.hash,
            hyperparameters=_jsonable(model.hyperparameters),
            metrics={
                "fit_s": fit_s,
                "n_train": len(ids),
                "solver": getattr(report, "solver", None),
                "hyperparameter_search": search,
            },
            artifact_path=str(path),
            checksum=checksum,
            training_ids=list(ids),
        )
        session.add(record)
        session.flush()
        with _CACHE_LOCK:
            _MODELS[record.checksum] = model
        return record.id


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def load_model_record(db: Database, model_id: int) -> Any:
    """The fitted model of a model record (cached in this process; checksum verified on load)."""
    from alforge.models import load_model

    with db.session(readonly=True) as session:
        record = session.get(ModelRecord, model_id)
        if record is None:
            msg = f"model {model_id} does not exist"
            raise AlforgeError(msg)
        path, checksum = Path(record.artifact_path), record.checksum
    with _CACHE_LOCK:
        if checksum in _MODELS:
            return _MODELS[checksum]
    if not path.exists() or _checksum(path) != checksum:
        msg = f"model file {path} is missing or does not match its checksum; rerun the campaign to refit it"
        raise ModelError(msg)
    model = load_model(path)
    with _CACHE_LOCK:
        _MODELS[checksum] = model
    return model


def threshold_eV_per_A(spec: CampaignSpec, model: Any) -> float:
    """The force-std threshold in force: absolute, or relative to the fitted force noise."""
    s = spec.selection
    if s.threshold_eV_per_A is not None:
        return s.threshold_eV_per_A
    noise = float(getattr(model, "force_noise_eV_per_A", 0.0) or 0.0)
    return max(s.threshold_relative * noise, 1e-3)  # type: ignore[operator]


def _within_guards(atoms: Atoms, ctx: CampaignContext) -> bool:
    """True if a labelled frame is a sane MD start: forces and distances inside the walkers' guards."""
    e = ctx.spec.exploration
    if np.linalg.norm(atoms.get_forces(), axis=1).max() >= e.max_force_eV_per_A:
        return False
    if len(atoms) < 2:
        return True
    distances = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return bool(distances[np.triu_indices(len(atoms), 1)].min() >= e.min_distance_A)


def walker_start(db: Database, ctx: CampaignContext, campaign_id: int, index: int, walker: int) -> Atoms:
    """Where walker ``walker`` of generation ``index`` starts its MD.

    With ``exploration.start = "labelled"`` (the default): a seeded uniform draw among the start
    structures and the campaign's training structures that lie inside the walkers' physical
    guards. Every labelled frame was where an earlier model became unsure, so walkers begin at
    the frontier of what the model knows instead of rediscovering it from the start structure
    each generation (which, with a sharp GP, keeps every label near the start geometry). The
    draw depends only on the seed, the generation and the stored labels, so a resumed
    generation starts its walkers where the interrupted one did. With ``"initial"``: the start
    structures, walker by walker.
    """
    starts = start_structures(ctx.spec)
    if ctx.spec.exploration.start == "initial":
        return starts[walker % len(starts)]
    with db.session(readonly=True) as session:
        ids = campaign_calculation_ids(session, campaign_id, split="train")
        labelled = labelled_frames(session, ids) if ids else []
    pool = [*starts, *(frame for frame in labelled if _within_guards(frame, ctx))]
    choice = pool[int(np.random.default_rng([ctx.spec.seed, index, walker]).integers(len(pool)))]
    return Atoms(choice.numbers, choice.positions, cell=choice.cell, pbc=choice.pbc)


def explore_step(db: Database, campaign_id: int, generation_id: int, model_id: int, walker: int) -> int:
    """Run walker ``walker`` of a generation on its model; store it and its frames; return md_run id."""
    from alforge.explore import Walker, WalkerSettings

    with db.session(readonly=True) as session:
        done = session.scalar(
            select(MDRun.id).where(MDRun.generation_id == generation_id, MDRun.walker == walker)
        )
        if done is not None:
            return done
        index = _generation(session, generation_id).index
    ctx = load_context(db, campaign_id)
    model = load_model_record(db, model_id)
    e = ctx.spec.exploration
    start = walker_start(db, ctx, campaign_id, index, walker)
    threshold = threshold_eV_per_A(ctx.spec, model)
    settings = WalkerSettings(
        temperature_K=e.temperatures_K[walker % len(e.temperatures_K)],
        steps=e.steps,
        threshold_eV_per_A=threshold,
        timestep_fs=e.timestep_fs,
        thermostat=e.thermostat,
        friction_per_fs=e.friction_per_fs,
        check_interval=e.check_interval,
        min_distance_A=e.min_distance_A,
        max_force_eV_per_A=e.max_force_eV_per_A,
        sampled_frames=e.sampled_frames,
        seed=int.from_bytes(hashlib.sha256(f"{ctx.spec.seed}:{index}:{walker}".encode()).digest()[:4], "little"),
    )
    result = Walker(model.calculator(), settings).run(start)
    with db.session() as session:
        start_id = add_structures(session, [start])[0]
        generation = _generation(session, generation_id)
        generation.settings = {**(generation.settings or {}), "threshold_eV_per_A": threshold}
        return store.record_walker(
            session,
            generation_id,
            walker,
            temperature_K=settings.temperature_K,
            start_structure_id=start_id,
            steps_done=result.steps_done,
            stop_reason=result.stop_reason,
            max_uncertainty=result.max_uncertainty_eV_per_A,
            wall_time_s=result.wall_time_s,
            uncertainties=result.uncertainties_eV_per_A,
            frames=[(f.atoms, f.uncertainty_eV_per_A, f.reason) for f in result.frames],
        )


def select_step(db: Database, campaign_id: int, generation_id: int, model_id: int | None) -> list[int]:
    """Choose the frames to label (and the held-out ones); return the generation's calculation ids."""
    from alforge.select import select_random, select_uncertain, select_validation

    ctx = load_context(db, campaign_id)
    with db.session() as session:
        generation = _generation(session, generation_id)
        already = session.scalar(
            select(Candidate.id).where(Candidate.generation_id == generation_id, Candidate.selected.is_(True)).limit(1)
        )
        if already is None and model_id is not None:
            candidates = list(
                session.scalars(
                    select(Candidate).where(Candidate.generation_id == generation_id).order_by(Candidate.id)
                )
            )
            labels_so_far = len(campaign_calculation_ids(session, campaign_id, split=None))
            budget = max(0, ctx.spec.stopping.max_labels - labels_so_far)
            k = min(ctx.spec.selection.max_labels, budget)
            rng = np.random.default_rng([ctx.spec.seed, generation.index])
            uncertainties = [math.inf if c.uncertainty is None else c.uncertainty for c in candidates]
            if ctx.spec.selection.method == "random":
                train = select_random(len(candidates), k, rng)
                reason = "random"
            else:
                model = load_model_record(db, model_id)
                threshold = (generation.settings or {}).get("threshold_eV_per_A", threshold_eV_per_A(ctx.spec, model))
                descriptors = None
                if ctx.spec.selection.diversity == "fps" and candidates:
                    frames = [atoms_from_row(c.structure) for c in candidates]
                    descriptors = model.descriptor(frames)
                train = select_uncertain(uncertainties, descriptors, threshold, k, ctx.spec.selection.diversity)
                reason = "uncertain"
            # Held-out frames: a uniform draw among the sampled (unbiased) frames; where walkers
            # stopped before sampling enough, topped up from the other unpicked frames so that
            # every generation can be scored (those lean towards uncertain frames: conservative).
            n_held_out = ctx.spec.validation.labels_per_generation
            not_sampled = [i for i, c in enumerate(candidates) if c.reason != "sampled"]
            held_out = select_validation(len(candidates), n_held_out, rng, exclude=[*train, *not_sampled])
            if len(held_out) < n_held_out:
                guards = [i for i, c in enumerate(candidates) if c.reason not in ("sampled", "uncertain")]
                held_out += select_validation(
                    len(candidates), n_held_out - len(held_out), rng, exclude=[*train, *held_out, *guards]
                )
            picks = {candidates[i].id: ("train", reason) for i in train}
            picks.update({candidates[i].id: ("validation", "held-out") for i in held_out})
            store.mark_selected(session, picks)
        mapping = store.generation_calculations(session, generation_id, ctx.level)
        return sorted(mapping.values())


def label_step(db: Database, campaign_id: int, calculation_id: int) -> str:
    """Run the oracle for one pending calculation and store the outcome; return its status.

    A calculation that is already finished (``ok`` or ``quarantined``) is not run again, nor one
    that another live process is computing (``"in-flight elsewhere"`` is returned).
    """
    ctx = load_context(db, campaign_id)
    lease_s = ctx.spec.oracle.wall_time_s + 120.0
    with db.session() as session:
        calc = start_calculation(session, calculation_id, lease_s=lease_s)
        if calc is None:
            status = session.get(Calculation, calculation_id).status  # type: ignore[union-attr]
            return "in-flight elsewhere" if status in ("pending", "failed") else str(status)
        atoms = atoms_from_row(session.get(Structure, calc.structure_id))  # type: ignore[arg-type]
    oracle = build_oracle(ctx.spec)
    result = oracle.compute(atoms)
    with db.session() as session:
        finish_calculation(
            session,
            calculation_id,
            status=result.status,
            energy_eV=result.energy_eV,
            forces_eV_per_A=result.forces_eV_per_A,
            error=result.error,
            wall_time_s=result.wall_time_s,
            details=_jsonable({**(result.details or {}), "scf_attempts": result.attempts}),
            code_version=result.level.code_version,
        )
    return result.status


def evaluate_step(db: Database, campaign_id: int, generation_id: int, model_id: int | None) -> dict[str, Any]:
    """Held-out errors of the generation's model, confident fraction of its MD, label counts."""
    with db.session(readonly=True) as session:
        generation = _generation(session, generation_id)
        validation_ids = campaign_calculation_ids(session, campaign_id, split="validation")
        train_ids = campaign_calculation_ids(session, campaign_id, split="train")
        runs = list(session.scalars(select(MDRun).where(MDRun.generation_id == generation_id)))
        threshold = (generation.settings or {}).get("threshold_eV_per_A")
        generation_calcs = store.generation_calculations(session, generation_id, load_context(db, campaign_id).level)
        counts = store.calculation_counts(session, list(generation_calcs.values()))
        frames = labelled_frames(session, validation_ids) if validation_ids and model_id is not None else []
    metrics: dict[str, Any] = {
        "labels_total": len(train_ids) + len(validation_ids),
        "train_labels": len(train_ids),
        "validation_labels": len(validation_ids),
        "generation_ok": counts.get("ok", 0),
        "generation_quarantined": counts.get("quarantined", 0),
        "threshold_eV_per_A": threshold,
        "model_id": model_id,
    }
    if runs:
        checks = np.concatenate([r.uncertainties for r in runs if r.uncertainties is not None] or [np.zeros(0)])
        confident = int(np.sum(checks <= threshold)) if threshold is not None else 0
        uncertain_stops = sum(1 for r in runs if r.stop_reason == "uncertain")
        metrics["confident_fraction"] = confident / max(1, len(checks) + uncertain_stops) if runs else None
        metrics["walker_stops"] = {r.walker: r.stop_reason for r in runs}
    if frames:
        from alforge.models import evaluate  # the model stack is imported only once there is a model

        model = load_model_record(db, model_id)  # type: ignore[arg-type]
        metrics.update(_jsonable(evaluate(model, frames)))
    return metrics


def decide(db: Database, campaign_id: int, metrics: dict[str, Any], index: int) -> tuple[str, str]:
    """Campaign decision after a generation: (state, reason) with state running/converged/stopped."""
    ctx = load_context(db, campaign_id)
    s = ctx.spec.stopping
    with db.session(readonly=True) as session:
        all_ids = campaign_calculation_ids(session, campaign_id, split=None)
        generation_ids = select(Generation.id).where(Generation.campaign_id == campaign_id)
        tried = session.scalars(
            select(Calculation.status)
            .join(Candidate, Candidate.structure_id == Calculation.structure_id)
            .where(
                Candidate.generation_id.in_(generation_ids),
                Candidate.selected.is_(True),
                Calculation.level_hash == ctx.level.hash,
            )
        ).all()
    quarantined = sum(1 for status in tried if status == "quarantined")
    if tried and quarantined / len(tried) > s.max_quarantine_fraction:
        return "stopped", (
            f"{quarantined} of {len(tried)} reference calculations quarantined (> {s.max_quarantine_fraction:.0%}); "
            "check the oracle settings and the quarantined errors (`alforge status`)"
        )
    error = metrics.get("force_mae_eV_per_A")
    confident = metrics.get("confident_fraction")
    if index > 0 and confident is not None and confident >= s.confident_fraction and (
        s.target_force_mae_eV_per_A is None or (error is not None and error <= s.target_force_mae_eV_per_A)
    ):
        shown = "n/a" if error is None else f"{error:.3g} eV/Å"
        return "converged", f"held-out force MAE {shown}, {confident:.0%} of MD frames confident"
    if len(all_ids) >= s.max_labels:
        return "stopped", f"label budget of {s.max_labels} used"
    if index + 1 >= s.max_generations:
        return "stopped", f"reached {s.max_generations} generations"
    return "running", "continue"


def finish_generation(
    db: Database, campaign_id: int, generation_id: int, metrics: dict[str, Any], timings: dict[str, Any],
    state: str, reason: str,
) -> None:
    """Close the generation and set the campaign's state."""
    with db.session() as session:
        store.finish_generation(
            session, generation_id, metrics={**metrics, "decision": reason}, timings=timings, state="complete"
        )
        campaign = session.get(Campaign, campaign_id)
        if campaign is not None:
            campaign.state = state
            campaign.message = None if state == "running" else reason


def phase_times(db: Database, generation_id: int) -> dict[str, float]:
    """Science time of a generation from database timestamps: MD wall and oracle-phase wall (s)."""
    with db.session(readonly=True) as session:
        runs = list(session.scalars(select(MDRun).where(MDRun.generation_id == generation_id)))
        candidates = select(Candidate.structure_id).where(
            Candidate.generation_id == generation_id, Candidate.selected.is_(True)
        )
        calcs = list(session.execute(
            select(Calculation.started_at, Calculation.finished_at, Calculation.wall_time_s).where(
                Calculation.structure_id.in_(candidates), Calculation.started_at.is_not(None)
            )
        ))
    md_s = 0.0
    if runs:
        ends = [r.created_at.timestamp() for r in runs]
        begins = [r.created_at.timestamp() - (r.wall_time_s or 0.0) for r in runs]
        md_s = max(ends) - min(begins)
    oracle_s, busy_s = 0.0, 0.0
    finished = [(a, b, w) for a, b, w in calcs if b is not None]
    if finished:
        oracle_s = max(b.timestamp() for _, b, _ in finished) - min(a.timestamp() for a, _, _ in finished)
        busy_s = sum(w or 0.0 for _, _, w in finished)
    return {"md_s": md_s, "oracle_s": oracle_s, "oracle_busy_s": busy_s}


def structures_of(db: Database, structure_ids: list[int]) -> list[Atoms]:
    """Convenience for notebooks: structures by id."""
    with db.session(readonly=True) as session:
        return get_atoms(session, structure_ids)
