"""The learning loop's steps as plain functions over database ids, one phase per module (no Prefect).

::

    seed ─▶ label ─▶ ┌▶ train ─▶ plan ─▶ explore ─▶ select ─▶ label ─▶ evaluate ─▶ decide ─┐
                     └────────────────────────── running ◀──────────────────────────────────┘

- :mod:`~alforge.campaign.context`: campaign id → spec, level of theory, oracle, generations;
- :mod:`~alforge.campaign.artifacts`: build, save (content-addressed) and load models;
- :mod:`~alforge.campaign.seed`: generation 0, the start structures and rattled copies;
- :mod:`~alforge.campaign.train`: the training set and the (warm-started) fit;
- :mod:`~alforge.campaign.plan`: the threshold, label budgets and (:mod:`~alforge.campaign.starts`)
  walker starts, resolved once per generation;
- :mod:`~alforge.campaign.explore` and :mod:`~alforge.campaign.walker`: MD walkers on the model;
- :mod:`~alforge.campaign.select`: held-out frames, then the frames to label;
- :mod:`~alforge.campaign.label`: one reference calculation;
- :mod:`~alforge.campaign.evaluate`: held-out error, its MD-wide estimate, MD confidence;
- :mod:`~alforge.campaign.decide`: the pure verdict; :mod:`~alforge.campaign.state` feeds it.

``alforge/flows`` wraps each step in a Prefect task and orders them; a notebook can call them
directly. Every step reads what it needs from the database, writes what it made in short
transactions and returns ids or small values. Each is idempotent: rerun after a crash, it
recognises what the database already holds and does only the rest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the steps are imported on first use: `alforge status` needs only `decide`
    from alforge.campaign.context import (
        CampaignContext,
        build_oracle,
        load_context,
        open_generation,
        resume_campaign,
        set_state,
        start_campaign,
    )
    from alforge.campaign.evaluate import evaluate_step, phase_times
    from alforge.campaign.explore import explore_step
    from alforge.campaign.label import failed_calculations, label_step, mark_failed
    from alforge.campaign.plan import Plan, generation_plan, plan_step
    from alforge.campaign.seed import seed_step
    from alforge.campaign.select import select_step
    from alforge.campaign.state import decide_step, finish_generation, finished_state, record_flow_run
    from alforge.campaign.train import train_step

_HOME = {
    "CampaignContext": "context",
    "Plan": "plan",
    "build_oracle": "context",
    "decide_step": "state",
    "evaluate_step": "evaluate",
    "explore_step": "explore",
    "failed_calculations": "label",
    "finish_generation": "state",
    "finished_state": "state",
    "generation_plan": "plan",
    "label_step": "label",
    "load_context": "context",
    "mark_failed": "label",
    "open_generation": "context",
    "phase_times": "evaluate",
    "plan_step": "plan",
    "record_flow_run": "state",
    "resume_campaign": "context",
    "seed_step": "seed",
    "select_step": "select",
    "set_state": "context",
    "start_campaign": "context",
    "train_step": "train",
}


def __getattr__(name: str) -> Any:
    if name in _HOME:
        return getattr(importlib.import_module(f"alforge.campaign.{_HOME[name]}"), name)
    msg = f"module 'alforge.campaign' has no attribute {name!r}"
    raise AttributeError(msg)


__all__ = [
    "CampaignContext",
    "Plan",
    "build_oracle",
    "decide_step",
    "evaluate_step",
    "explore_step",
    "failed_calculations",
    "finish_generation",
    "finished_state",
    "generation_plan",
    "label_step",
    "load_context",
    "mark_failed",
    "open_generation",
    "phase_times",
    "plan_step",
    "record_flow_run",
    "resume_campaign",
    "seed_step",
    "select_step",
    "set_state",
    "start_campaign",
    "train_step",
]
