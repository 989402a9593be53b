"""`alforge db check`: a consistent database passes; each kind of damage is reported."""

from __future__ import annotations

import numpy as np
from ase.build import molecule
from sqlalchemy import delete, text
from typer.testing import CliRunner

from alforge.cli import app
from alforge.data import labelled
from alforge.db import Campaign, Database, Generation, ModelRecord, store_labelled
from alforge.db.integrity import check_integrity
from alforge.oracles.level_of_theory import LevelOfTheory

LEVEL = LevelOfTheory(code="test", method="HF", basis="sto-3g")


def populate(db: Database) -> tuple[int, list[int]]:
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):
        atoms = molecule("H2O")
        atoms.positions += rng.normal(scale=0.05, size=(3, 3))
        frames.append(labelled(atoms, -2000.0, rng.normal(size=(3, 3))))
    with db.session() as session:
        calc_ids = store_labelled(session, frames, LEVEL)
        campaign = Campaign(name="c", spec={}, state="running", level_hash=LEVEL.hash)
        session.add(campaign)
        session.flush()
        for index in range(2):
            session.add(Generation(campaign_id=campaign.id, index=index, state="complete"))
        session.flush()
        generation = session.query(Generation).filter_by(index=1).one()
        session.add(ModelRecord(campaign_id=campaign.id, generation_id=generation.id, kind="gp",
                                artifact_path="m", checksum="x", training_ids=calc_ids))
        return campaign.id, calc_ids


def test_consistent_database_passes(db: Database) -> None:
    populate(db)
    with db.session(readonly=True) as session:
        report = check_integrity(session)
    assert report["ok"], report["problems"]
    assert report["counts"]["calculations"] == 3
    result = CliRunner().invoke(app, ["db", "check"])
    assert result.exit_code == 0, result.output
    assert "consistent" in result.output


def test_damage_is_reported(db: Database) -> None:
    campaign_id, calc_ids = populate(db)
    with db.session() as session:
        if db.is_sqlite:
            session.execute(text("PRAGMA foreign_keys=OFF"))
        session.execute(text("DELETE FROM calculations WHERE id = :i"), {"i": calc_ids[0]})
        session.execute(delete(ModelRecord))
        session.add(ModelRecord(campaign_id=campaign_id, kind="gp", artifact_path="m", checksum="x",
                                training_ids=[calc_ids[0]]))
    with db.session(readonly=True) as session:
        problems = check_integrity(session)["problems"]
    joined = " | ".join(problems)
    assert "that do not exist" in joined
    assert "generation 1 is complete but has no model" in joined
    result = CliRunner().invoke(app, ["db", "check"])
    assert result.exit_code == 1
