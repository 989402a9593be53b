"""Prefect tasks: thin, typed wrappers of :mod:`alforge.campaign` that pass ids and small values."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from prefect import task
from prefect.concurrency.sync import concurrency

from alforge import campaign as steps
from alforge.db import Database
from alforge.flows.limits import LEASE_S, TRAINING_TAG
from alforge.settings import get_settings


@lru_cache(maxsize=4)
def _database(url: str) -> Database:
    return Database(url)


def database() -> Database:
    """The campaign database of this process (one engine per URL)."""
    return _database(get_settings().database_url)


@task(retries=2, retry_delay_seconds=2, task_run_name="train-g{index}", tags=[TRAINING_TAG])
def train(campaign_id: int, generation_id: int, index: int) -> int | None:
    """Fit the generation's model; returns the model id (the previous one if the fit failed)."""
    return steps.train_step(database(), campaign_id, generation_id)


@task(retries=1, retry_delay_seconds=1, task_run_name="seed-g{index}")
def seed(campaign_id: int, generation_id: int, index: int) -> int:
    """Generation 0: start structures and rattled copies become the first training candidates."""
    return steps.seed_step(database(), campaign_id, generation_id)


@task(retries=2, retry_delay_seconds=1, task_run_name="plan-g{index}")
def plan(campaign_id: int, generation_id: int, model_id: int, index: int) -> float:
    """Resolve the generation's uncertainty threshold once (eV/Å) before its walkers start."""
    return steps.plan_step(database(), campaign_id, generation_id, model_id).threshold_eV_per_A


@task(retries=1, retry_delay_seconds=1, task_run_name="walker-{walker}-g{index}")
def explore(campaign_id: int, generation_id: int, model_id: int, walker: int, index: int) -> int:
    """Run one MD walker on the model; returns its md_run id."""
    return steps.explore_step(database(), campaign_id, generation_id, model_id, walker)


@task(retries=2, retry_delay_seconds=1, task_run_name="select-g{index}")
def select(campaign_id: int, generation_id: int, model_id: int | None, index: int) -> list[int]:
    """Choose frames to label; returns the generation's calculation ids."""
    return steps.select_step(database(), campaign_id, generation_id, model_id)


@task(retries=2, retry_delay_seconds=2, task_run_name="label-{calculation_id}")
def label(campaign_id: int, calculation_id: int, limits: list[str] | None = None) -> str:
    """Run the oracle on one structure, holding a slot of each concurrency limit in ``limits``.

    Returns ok or quarantined (failures are quarantined, not raised).
    """
    if not limits:
        return steps.label_step(database(), campaign_id, calculation_id)
    with concurrency(limits, occupy=1, strict=True, lease_duration=LEASE_S):
        return steps.label_step(database(), campaign_id, calculation_id)


@task(retries=2, retry_delay_seconds=1, task_run_name="evaluate-g{index}")
def evaluate(campaign_id: int, generation_id: int, model_id: int | None, index: int) -> dict[str, Any]:
    """Held-out errors and MD confidence of the generation's model."""
    return steps.evaluate_step(database(), campaign_id, generation_id, model_id)
