"""Which labels train generation g's model: the training split, plus held-out labels no verdict reads any more."""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule

from alforge.campaign.context import CampaignContext
from alforge.campaign.train import training_ids
from alforge.config import CampaignSpec
from alforge.db import Database
from alforge.db import campaigns as store
from alforge.db.calculations import finish_calculation
from alforge.oracles.level_of_theory import LevelOfTheory
from tests.support.specs import water_spec

LEVEL = LevelOfTheory(code="test", method="HF", basis="sto-3g")


def five_generations(db: Database, spec: CampaignSpec) -> tuple[int, dict[int, tuple[int, int]]]:
    """Generations 0–4, each with one training and one held-out label; {index: (train id, held-out id)}."""
    rng = np.random.default_rng(0)
    out = {}
    with db.session() as session:
        campaign = store.open_campaign(session, spec.name, {**spec.to_json_dict(), "_level": LEVEL.to_dict()}, LEVEL)
        for index in range(5):
            generation = store.open_generation(session, campaign.id, {})
            frames = [molecule("H2O") for _ in range(2)]
            for atoms in frames:
                atoms.positions += rng.normal(scale=0.05, size=(3, 3))
            reasons = ["uncertain", "sampled"]
            train, held_out = store.add_candidates(session, generation.id, frames, [None, None], reasons)
            store.mark_selected(session, {train: ("train", "uncertain"), held_out: ("validation", "held-out")})
            calcs = store.generation_calculations(session, generation.id, LEVEL)
            for cid in calcs.values():
                finish_calculation(session, cid, status="ok", energy_eV=-2000.0, forces_eV_per_A=np.zeros((3, 3)))
            store.finish_generation(session, generation.id, metrics={}, timings={}, state="complete")
            out[index] = (calcs[train], calcs[held_out])
        return campaign.id, out


@pytest.mark.parametrize("window", [1, 2, 3])
def test_held_out_labels_train_only_once_no_verdict_reads_them(db: Database, window: int) -> None:
    spec = CampaignSpec.from_dict(water_spec("retire", validation={"window_generations": window}))
    campaign_id, ids = five_generations(db, spec)
    ctx = CampaignContext(campaign_id, spec.name, spec, LEVEL)
    with db.session(readonly=True) as session:
        trained = set(training_ids(session, ctx, 4))
    assert {train for train, _ in ids.values()} <= trained
    # generation 4's verdict reads held-out labels of 4 - window + 1 … 4
    retired = {held_out for index, (_, held_out) in ids.items() if index <= 4 - window}
    assert trained - {train for train, _ in ids.values()} == retired
    assert len(retired) == 5 - window


def test_without_retirement_held_out_labels_never_train(db: Database) -> None:
    spec = CampaignSpec.from_dict(water_spec("keep", validation={"retire_to_training": False}))
    campaign_id, ids = five_generations(db, spec)
    with db.session(readonly=True) as session:
        trained = set(training_ids(session, CampaignContext(campaign_id, spec.name, spec, LEVEL), 4))
    assert trained == {train for train, _ in ids.values()}
