"""A committee campaign end to end: real PySCF (water, HF/STO-3G), real Prefect, real SQLite.

Also checks the warm start: the second generation's committee reuses the first one's
hyperparameters instead of searching them again.
"""

from __future__ import annotations

import numpy as np
import pytest
from ase.build import molecule
from sqlalchemy import select

from alforge import Campaign, CampaignSpec
from alforge.db import Database, Generation, ModelRecord
from alforge.models import CommitteePotential
from tests.support.specs import water_spec


def test_committee_campaign_runs_and_warm_starts(e2e_db: Database) -> None:
    spec = CampaignSpec.from_dict(
        water_spec(
            "water-committee",
            model={"kind": "committee", "committee_size": 3, "options": {"max_iterations": 15}},
            stopping={"max_generations": 3, "target_force_mae_eV_per_A": 1e-6},
        )
    )
    result = Campaign(spec).run()
    assert result["state"] == "stopped", result
    with e2e_db.session(readonly=True) as session:
        records = session.execute(
            select(Generation.index, ModelRecord.kind, ModelRecord.metrics, ModelRecord.hyperparameters)
            .join(Generation, Generation.id == ModelRecord.generation_id)
            .order_by(Generation.index)
        ).all()
    assert len(records) == 2  # generation 0 only labels the seed structures
    assert {r.kind for r in records} == {"committee"}
    assert "full search" in records[0].metrics["hyperparameter_search"]
    assert "warm start" in records[1].metrics["hyperparameter_search"]
    first, second = records[0].hyperparameters, records[1].hyperparameters
    assert len(second["members"]) == 3
    # reused, not searched: equal up to the round trip through the length scale's positivity constraint
    assert second["members"][0]["lengthscale_per_A"] == pytest.approx(first["members"][0]["lengthscale_per_A"],
                                                                      rel=1e-12)
    loaded = Campaign.load("water-committee")
    calc = loaded.calculator()
    assert isinstance(calc.model, CommitteePotential)
    atoms = molecule("H2O")
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())
    assert calc.results["forces_std"].shape == (3,)
    assert calc.results["energy_std"] > 0
    final = loaded.generations[-1]["metrics"]
    assert np.isfinite(final["force_mae_eV_per_A"])
