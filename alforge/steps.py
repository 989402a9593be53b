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
    "plan_step",
    "seed_step",
    "select_step",
    "start_campaign",
    "train_step",
]

log = logging.getLogger("alforge")

KAPPA_GENERATIONS = 3  # generations whose held-out frames calibrate the threshold
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


def training_ids(session: Any, ctx: CampaignContext, index: int) -> list[int]:
    """The calculations generation ``index`` trains on: the training split, plus retired held-out labels.

    Generation ``g``'s verdict reads the held-out labels of generations ``g - W + 1 … g``
    (``W = validation.window_generations``); the threshold calibration reads numbers stored by
    earlier verdicts, not labels. Held-out labels of generations ``≤ g - W`` are read by no
    verdict of ``g`` or later, so with ``validation.retire_to_training`` they train the model:
    every oracle call ends up teaching it, and no model is scored on a frame it trained on.
    """
    ids = campaign_calculation_ids(session, ctx.campaign_id, split="train")
    if not ctx.spec.validation.retire_to_training:
        return ids
    retired = campaign_calculation_ids(
        session, ctx.campaign_id, split="validation", until_index=index - ctx.spec.validation.window_generations
    )
    return sorted(set(ids) | set(retired))


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
        ids = training_ids(session, ctx, index)
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


def plan_step(db: Database, campaign_id: int, generation_id: int, model_id: int) -> dict[str, Any]:
    """Resolve the generation's uncertainty threshold once, before its walkers start; return the plan.

    The threshold on the largest per-atom force std comes, in order of precedence, from
    ``selection.threshold_eV_per_A`` (absolute), ``selection.threshold_relative`` (× the fitted
    force noise) or the user's target force MAE: ``τ = target / κ``, with ``κ`` (expected force
    MAE per unit of largest per-atom std, :mod:`alforge.verdict`) fitted on the last
    ``KAPPA_GENERATIONS`` generations' held-out frames, each as scored by its own generation's
    model on frames from that model's own MD. (Scoring them with this generation's model instead
    would read frames next in time to ones it trained on, and flatter it.) The plan is stored in
    the generation's settings; a rerun reads it.
    """
    from alforge.verdict import KAPPA_PRIOR, calibrate_kappa, threshold_eV_per_A

    ctx = load_context(db, campaign_id)
    with db.session(readonly=True) as session:
        generation = _generation(session, generation_id)
        if "plan" in (generation.settings or {}):
            return dict(generation.settings["plan"])
        earlier = session.scalars(
            select(Generation.metrics)
            .where(
                Generation.campaign_id == campaign_id,
                Generation.state == "complete",
                Generation.index < generation.index,
                Generation.index >= generation.index - KAPPA_GENERATIONS,
            )
        ).all()
    pairs = [pair for metrics in earlier for pair in (metrics or {}).get("held_out_own", [])]
    errors, stds = [e for e, _ in pairs], [m for _, m in pairs]
    kappa = calibrate_kappa(errors, stds)
    s, target = ctx.spec.selection, ctx.spec.stopping.target_force_mae_eV_per_A
    if s.threshold_eV_per_A is not None:
        threshold, source = s.threshold_eV_per_A, "selection.threshold_eV_per_A"
    elif s.threshold_relative is not None or target is None:
        noise = float(getattr(load_model_record(db, model_id), "force_noise_eV_per_A", 0.0) or 0.0)
        factor = s.threshold_relative or 3.0
        threshold, source = max(factor * noise, 1e-3), f"selection.threshold_relative × force noise {noise:.3g} eV/Å"
    else:
        threshold = threshold_eV_per_A(target, kappa)
        source = f"target {target:g} eV/Å / kappa {kappa:.3g} ({len(errors)} held-out frames)"
    plan = {
        "threshold_eV_per_A": float(threshold),
        "upper_eV_per_A": float(threshold * s.upper_factor),
        "kappa": float(kappa),
        "kappa_prior": KAPPA_PRIOR,
        "kappa_frames": len(errors),
        "threshold_source": source,
    }
    with db.session() as session:
        generation = _generation(session, generation_id)
        if "plan" not in (generation.settings or {}):
            generation.settings = {**(generation.settings or {}), "plan": plan,
                                   "threshold_eV_per_A": plan["threshold_eV_per_A"]}
        return dict(generation.settings["plan"])


def _held_out_errors(model: Any, frames: list[Atoms]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame observed force MAE and largest per-atom force std of ``model`` on labelled frames (eV/Å)."""
    errors, stds = [], []
    for frame in frames:
        prediction = model.predict([frame])
        errors.append(float(np.mean(np.abs(prediction.forces_eV_per_A[0] - frame.get_forces()))))
        stds.append(float(np.max(prediction.forces_std_eV_per_A[0])))
    return np.asarray(errors), np.asarray(stds)


def _within_guards(atoms: Atoms, ctx: CampaignContext) -> bool:
    """True if a labelled frame is a sane MD start: forces and distances inside the walkers' guards."""
    e = ctx.spec.exploration
    if np.linalg.norm(atoms.get_forces(), axis=1).max() >= e.max_force_eV_per_A:
        return False
    if len(atoms) < 2:
        return True
    distances = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    return bool(distances[np.triu_indices(len(atoms), 1)].min() >= e.min_distance_A)


def walker_start(
    db: Database, ctx: CampaignContext, campaign_id: int, index: int, walker: int
) -> tuple[Atoms, np.ndarray | None]:
    """Where walker ``walker`` of generation ``index`` starts, and its velocities (Å/fs) if it continues.

    ``exploration.start = "continue"`` (the default): the walker resumes where its last recorded
    run ended, positions and velocities, so that walkers accumulate simulated time across
    generations (a guard-ended run resumes from its last confident frame with fresh velocities).
    A walker with no earlier run starts from the start structures, walker by walker.
    ``"labelled"``: a seeded uniform draw among the start structures and the campaign's training
    structures inside the walkers' guards. ``"initial"``: the start structures every generation.
    Everything but the very first start comes from the database, so a resumed generation starts
    its walkers where the interrupted one did.
    """
    mode = ctx.spec.exploration.start
    if mode == "continue":
        with db.session(readonly=True) as session:
            run = store.last_walker_run(session, campaign_id, walker, before_index=index)
            if run is not None:
                end = atoms_from_row(session.get(Structure, run.end_structure_id))  # type: ignore[arg-type]
                velocities = run.end_velocities_A_per_fs
                if velocities is None or velocities.shape != (len(end), 3):
                    velocities = None
                return end, velocities
    starts = start_structures(ctx.spec)
    if mode in ("continue", "initial"):
        return starts[walker % len(starts)], None
    with db.session(readonly=True) as session:
        ids = campaign_calculation_ids(session, campaign_id, split="train")
        labelled = labelled_frames(session, ids) if ids else []
    pool = [*starts, *(frame for frame in labelled if _within_guards(frame, ctx))]
    choice = pool[int(np.random.default_rng([ctx.spec.seed, index, walker]).integers(len(pool)))]
    return Atoms(choice.numbers, choice.positions, cell=choice.cell, pbc=choice.pbc), None


def explore_step(db: Database, campaign_id: int, generation_id: int, model_id: int, walker: int) -> int:
    """Run walker ``walker`` of a generation on its model; store it, its end and its frames; return md_run id."""
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
    plan = plan_step(db, campaign_id, generation_id, model_id)
    e = ctx.spec.exploration
    start, velocities = walker_start(db, ctx, campaign_id, index, walker)
    settings = WalkerSettings(
        temperature_K=e.temperatures_K[walker % len(e.temperatures_K)],
        steps=e.steps,
        threshold_eV_per_A=plan["threshold_eV_per_A"],
        upper_eV_per_A=plan["upper_eV_per_A"],
        timestep_fs=e.timestep_fs,
        thermostat=e.thermostat,
        friction_per_fs=e.friction_per_fs,
        check_interval=e.check_interval,
        min_distance_A=e.min_distance_A,
        max_force_eV_per_A=e.max_force_eV_per_A,
        sampled_frames=e.sampled_frames,
        max_candidates=e.max_candidates,
        seed=int.from_bytes(hashlib.sha256(f"{ctx.spec.seed}:{index}:{walker}".encode()).digest()[:4], "little"),
    )
    result = Walker(model.calculator(), settings).run(start, velocities)
    with db.session() as session:
        start_id = add_structures(session, [start])[0]
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
            steps_budget=result.steps_budget,
            confident_steps=result.confident_steps,
            rewinds=result.rewinds,
            timestep_fs=settings.timestep_fs,
            threshold_eV_per_A=settings.threshold_eV_per_A,
            end=result.end,
            end_velocities_A_per_fs=result.end_velocities_A_per_fs,
        )


def select_step(db: Database, campaign_id: int, generation_id: int, model_id: int | None) -> list[int]:
    """Choose the held-out frames, then the frames to label; return the generation's calculation ids.

    Held-out labels come out of the label budget first, drawn uniformly among the frames the
    walkers kept evenly spaced in time (topped up from uncertain frames where walkers kept too
    few: that errs towards a higher, more conservative held-out error). Training labels follow
    :func:`alforge.select.select_training` (or a uniform draw for the random arm).
    """
    from alforge.select import select_random, select_training, select_validation

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
            remaining = max(0, ctx.spec.stopping.max_labels - labels_so_far)
            n_held_out = min(ctx.spec.validation.labels_per_generation, remaining)
            k = min(ctx.spec.selection.max_labels, remaining - n_held_out)
            rng = np.random.default_rng([ctx.spec.seed, generation.index])
            reasons = [c.reason or "" for c in candidates]
            uncertainties = [math.inf if c.uncertainty is None else c.uncertainty for c in candidates]
            not_sampled = [i for i, why in enumerate(reasons) if why != "sampled"]
            held_out = select_validation(len(candidates), n_held_out, rng, exclude=not_sampled)
            if len(held_out) < n_held_out:
                others = [i for i, why in enumerate(reasons) if why not in ("sampled", "uncertain")]
                held_out += select_validation(
                    len(candidates), n_held_out - len(held_out), rng, exclude=[*held_out, *others]
                )
            if ctx.spec.selection.method == "random":
                train = select_random(len(candidates), k, rng, exclude=held_out)
                reason = "random"
            else:
                plan = (generation.settings or {}).get("plan") or plan_step(db, campaign_id, generation_id, model_id)
                descriptors = None
                if ctx.spec.selection.diversity == "fps" and candidates:
                    model = load_model_record(db, model_id)
                    descriptors = model.descriptor([atoms_from_row(c.structure) for c in candidates])
                train = select_training(
                    uncertainties, reasons, descriptors, plan["threshold_eV_per_A"], plan["upper_eV_per_A"], k,
                    ctx.spec.selection.diversity, exclude=held_out,
                )
                reason = "uncertain"
            picks = {candidates[i].id: ("validation", "held-out") for i in held_out}
            picks.update({candidates[i].id: ("train", reason) for i in train})
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


def _md_metrics(runs: list[MDRun], ctx: CampaignContext) -> dict[str, Any]:
    """Confident and completed share of the generation's budgeted MD, stops, rewinds, simulated time."""
    from alforge.verdict import WalkerTally, md_confidence

    e = ctx.spec.exploration
    tallies = [
        # rows older than revision 0003 recorded no confident steps: they count as not confident
        WalkerTally(r.steps_budget or e.steps, r.steps_done, r.confident_steps or 0) for r in runs
    ]
    confident, completed = md_confidence(tallies, e.walkers, e.steps)
    return {
        "confident_fraction": confident,
        "md_completed_fraction": completed,
        "walker_stops": {r.walker: r.stop_reason for r in runs},
        "walkers_recorded": len(runs),
        "rewinds": sum(r.rewinds or 0 for r in runs),
        "simulated_ps": sum(r.simulated_fs for r in runs) / 1000.0,
    }


def walker_times_ps(db: Database, campaign_id: int) -> dict[int, float]:
    """Simulated time each walker has accumulated over the campaign's generations (ps)."""
    with db.session(readonly=True) as session:
        runs = session.execute(
            select(MDRun.walker, MDRun.steps_done, MDRun.timestep_fs)
            .join(Generation, Generation.id == MDRun.generation_id)
            .where(Generation.campaign_id == campaign_id)
        ).all()
    out: dict[int, float] = {}
    for walker, steps, timestep in runs:
        out[walker] = out.get(walker, 0.0) + steps * (timestep or 0.0) / 1000.0
    return dict(sorted(out.items()))


def evaluate_step(db: Database, campaign_id: int, generation_id: int, model_id: int | None) -> dict[str, Any]:
    """Held-out errors of the generation's model, the confidence of its MD over the budget, label counts.

    The held-out error (``force_mae_eV_per_A``, the one the verdict uses) is scored on the held-out
    labels of the last ``validation.window_generations`` generations (default: this one): frames
    drawn uniformly in time from the walkers' trajectories on this very model, which never trained
    on them nor on frames of the same trajectories. ``estimated_force_mae_eV_per_A`` extends that
    error to every MD check of the generation through the model's std
    (:func:`alforge.verdict.estimate_force_mae_eV_per_A`); the verdict states the larger of the two.
    ``held_out_own`` keeps, for each held-out
    frame of this generation, its observed force MAE and largest per-atom force std under this
    model: the threshold calibration of later generations reads them.
    """
    ctx = load_context(db, campaign_id)
    with db.session(readonly=True) as session:
        generation = _generation(session, generation_id)
        index, settings = generation.index, dict(generation.settings or {})
        window_start = index - ctx.spec.validation.window_generations + 1
        validation_ids = campaign_calculation_ids(session, campaign_id, split="validation")
        recent_ids = campaign_calculation_ids(session, campaign_id, split="validation", since_index=window_start)
        own_ids = set(campaign_calculation_ids(session, campaign_id, split="validation", since_index=index))
        train_ids = campaign_calculation_ids(session, campaign_id, split="train")
        runs = list(session.scalars(select(MDRun).where(MDRun.generation_id == generation_id)))
        generation_calcs = store.generation_calculations(session, generation_id, ctx.level)
        counts = store.calculation_counts(session, list(generation_calcs.values()))
        frames = labelled_frames(session, recent_ids) if recent_ids and model_id is not None else []
    plan = settings.get("plan") or {}
    metrics: dict[str, Any] = {
        "labels_total": len(train_ids) + len(validation_ids),
        "train_labels": len(train_ids),
        "validation_labels": len(validation_ids),
        "held_out_frames": len(recent_ids) if model_id is not None else 0,
        "generation_ok": counts.get("ok", 0),
        "generation_quarantined": counts.get("quarantined", 0),
        "threshold_eV_per_A": plan.get("threshold_eV_per_A", settings.get("threshold_eV_per_A")),
        "upper_eV_per_A": plan.get("upper_eV_per_A"),
        "kappa": plan.get("kappa"),
        "model_id": model_id,
    }
    if index > 0:
        metrics.update(_md_metrics(runs, ctx))
        times = walker_times_ps(db, campaign_id)
        metrics["walker_ps"] = {str(w): t for w, t in times.items()}
        metrics["simulated_ps_total"] = sum(times.values())
    if frames:
        from alforge.models import evaluate  # the model stack is imported only once there is a model

        model = load_model_record(db, model_id)  # type: ignore[arg-type]
        metrics.update(_jsonable(evaluate(model, frames)))
        errors, stds = _held_out_errors(model, [f for f in frames if f.info["calculation_id"] in own_ids])
        metrics["held_out_own"] = [[float(e), float(m)] for e, m in zip(errors, stds, strict=True)]
        checks = [r.uncertainties for r in runs if r.uncertainties is not None and len(r.uncertainties)]
        if checks:
            from alforge.verdict import estimate_force_mae_eV_per_A

            metrics["estimated_force_mae_eV_per_A"] = estimate_force_mae_eV_per_A(errors, stds, np.concatenate(checks))
    return metrics


def _verdicts(db: Database, campaign_id: int) -> list[Any]:
    """The verdict inputs of every complete generation of a campaign, oldest first."""
    from alforge.verdict import GenerationVerdict

    with db.session(readonly=True) as session:
        rows = session.execute(
            select(Generation.index, Generation.metrics)
            .where(Generation.campaign_id == campaign_id, Generation.state == "complete")
            .order_by(Generation.index)
        ).all()
    return [GenerationVerdict.from_metrics(i, m or {}) for i, m in rows]


def decide(db: Database, campaign_id: int, metrics: dict[str, Any], index: int) -> tuple[str, str]:
    """Campaign decision after generation ``index`` with ``metrics``: (state, reason).

    Gathers the numbers :func:`alforge.verdict.decide` needs (earlier generations' verdicts, label
    and quarantine counts) from the database; the rule itself is that pure function.
    """
    from alforge.verdict import GenerationVerdict
    from alforge.verdict import decide as rule

    ctx = load_context(db, campaign_id)
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
    history = [v for v in _verdicts(db, campaign_id) if v.index < index]
    history.append(GenerationVerdict.from_metrics(index, metrics))
    decision = rule(
        history, ctx.spec.stopping, labels_total=len(all_ids), tried=len(tried),
        quarantined=sum(1 for status in tried if status == "quarantined"),
    )
    return decision.state, decision.reason


def finish_generation(
    db: Database, campaign_id: int, generation_id: int, metrics: dict[str, Any], timings: dict[str, Any],
    state: str, reason: str,
) -> None:
    """Close the generation and set the campaign's state."""
    with db.session() as session:
        store.finish_generation(
            session, generation_id, metrics={**metrics, "decision": reason, "state": state}, timings=timings,
            state="complete",
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
