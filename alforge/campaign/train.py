"""Training: which labels a generation fits on, and the fit itself (warm-started, with a fallback).

Generation ``g`` fits on the training split plus the held-out labels no verdict reads any more
(:func:`training_ids`). Hyperparameters are warm-started from the previous generation's model and
searched again only when the model kind's spec says so (``ModelSpec.warm_start``). A fit that
fails numerically falls back to the previous generation's model and records why.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from sqlalchemy import select

from alforge.campaign.artifacts import build_model, cache_model, save_model
from alforge.campaign.context import CampaignContext, get_generation, jsonable, load_context
from alforge.db import Database, Generation, ModelRecord
from alforge.db import campaigns as store
from alforge.db.calculations import labelled_frames
from alforge.db.labels import campaign_calculation_ids
from alforge.errors import FitError, ModelError

__all__ = ["train_step", "training_ids"]

log = logging.getLogger("alforge")


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
        index = get_generation(session, generation_id).index
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
            generation = get_generation(session, generation_id)
            generation.metrics = {**(generation.metrics or {}), "fit_error": reason[:500]}
            previous = store.latest_model(session, campaign_id, before_index=index)
            return None if previous is None else previous.id
    fit_s = time.perf_counter() - began
    model.training_ids = list(ids)
    model.level_of_theory = ctx.level.to_dict()
    path, checksum = save_model(model, ctx, index)
    report = getattr(model, "fit_report", None)
    with db.session() as session:
        record = ModelRecord(
            campaign_id=campaign_id,
            generation_id=generation_id,
            kind=ctx.spec.model.kind,
            level_hash=ctx.level.hash,
            hyperparameters=jsonable(model.hyperparameters),
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
        cache_model(record.checksum, model)
        return record.id

