"""Faults inside campaigns: oracle faults are quarantined, bad fits fall back, exploding MD is recorded.

Oracle faults are real (SIGKILLed worker, wall-time kill, unconverged SCF, an exception raised by
PySCF) and come from :class:`tests.support.faulty_oracle.FaultyOracle`, which only chooses
*which* calculations suffer them.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from alforge import Campaign, CampaignSpec
from alforge.db import Calculation, Candidate, Database, Generation, MDRun, ModelRecord
from alforge.errors import FitError
from alforge.oracles.registry import register_oracle

register_oracle("faulty-pyscf", "tests.support.faulty_oracle:FaultyOracle")


def spec(name: str, **sections: dict[str, Any]) -> CampaignSpec:
    data: dict[str, Any] = {
        "name": name,
        "seed": 3,
        "system": {"molecule": "H2O", "seed_structures": 5, "rattle_A": 0.05},
        "oracle": {"name": "pyscf", "method": "HF", "basis": "sto-3g", "wall_time_s": 60},
        "exploration": {"walkers": 2, "temperatures_K": [300.0, 500.0], "steps": 60, "sampled_frames": 4},
        "selection": {"threshold_eV_per_A": 0.15, "max_labels": 3},
        "validation": {"labels_per_generation": 2, "confirm_labels": 6, "confirm_steps_factor": 2},
        "stopping": {"max_labels": 60, "max_generations": 10, "target_force_mae_eV_per_A": 0.25,
                     "confident_fraction": 0.8},
        "compute": {"oracle_workers": 2, "device": "cpu"},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return CampaignSpec.from_dict(data)


def test_every_oracle_fault_is_quarantined_and_the_campaign_converges(e2e_db: Database) -> None:
    # Twelve seed structures: generation 0 alone makes the 12 oracle calls that inject each of
    # the four faults once (every third call), whatever the later generations do.
    faulty = spec("faults", oracle={"name": "faulty-pyscf", "options": {"every": 3}},
                  system={"seed_structures": 12}, stopping={"max_quarantine_fraction": 0.6})
    result = Campaign(faulty).run()
    assert result["state"] == "converged", result
    with e2e_db.session(readonly=True) as session:
        quarantined = session.execute(
            select(Calculation.id, Calculation.error, Calculation.details).where(Calculation.status == "quarantined")
        ).all()
        ok_ids = set(session.scalars(select(Calculation.id).where(Calculation.status == "ok")))
        trained_on = [set(ids) for ids in session.scalars(select(ModelRecord.training_ids))]
    kinds = {details["injected_fault"] for _, _, details in quarantined}
    assert kinds == {"nonconvergence", "killed", "timeout", "exception"}
    reasons = " | ".join(error for _, error, _ in quarantined)
    for expected in ("SCF not converged", "process died", "wall time", "PySCF failed"):
        assert expected in reasons
    assert all(ids <= ok_ids for ids in trained_on)  # quarantined results never train a model


def test_quarantine_rate_above_limit_stops_with_a_report(e2e_db: Database) -> None:
    doomed = spec("doomed", oracle={"name": "faulty-pyscf", "options": {"every": 1}},
                  stopping={"max_quarantine_fraction": 0.3})
    result = Campaign(doomed).run()
    assert result["state"] == "stopped"
    assert "quarantined" in result["reason"]
    assert "check the oracle settings" in result["reason"]
    status = Campaign.load("doomed").status()
    assert status["state"] == "stopped"
    assert "quarantined" in status["message"]
    assert len(status["generations"]) == 1  # it stopped instead of burning its budget


def test_failed_fit_falls_back_to_previous_model(e2e_db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # Injected fault: a fit that fails numerically on demand cannot be produced for real, so the
    # third fit raises the FitError a singular kernel matrix would raise.
    from alforge.models import GPPotential

    real_fit = GPPotential.fit
    calls = {"n": 0}

    def flaky_fit(self: GPPotential, frames: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            msg = "kernel matrix is singular (injected)"
            raise FitError(msg)
        return real_fit(self, frames)

    monkeypatch.setattr(GPPotential, "fit", flaky_fit)
    result = Campaign(spec("fallback", stopping={"max_generations": 4, "target_force_mae_eV_per_A": 1e-4})).run()
    assert result["state"] == "stopped"
    with e2e_db.session(readonly=True) as session:
        generations = session.scalars(select(Generation).order_by(Generation.index)).all()
        models = {m.generation_id: m.id for m in session.scalars(select(ModelRecord))}
    failed = [g for g in generations if "fit_error" in (g.metrics or {})]
    assert len(failed) == 1
    assert "singular" in failed[0].metrics["fit_error"]
    previous = generations[failed[0].index - 1]
    assert failed[0].metrics["model_id"] == models[previous.id]  # it explored with the previous model


def test_exploding_md_stops_the_walker_and_its_frame_is_labelled(e2e_db: Database) -> None:
    # three generations: the last one (2) draws held-out labels only, so generation 1 selects the guard frames
    guarded = spec("guarded", exploration={"min_distance_A": 1.2}, stopping={"max_generations": 3})
    Campaign(guarded).run()
    with e2e_db.session(readonly=True) as session:
        stops = session.scalars(select(MDRun.stop_reason)).all()
        guard_frames = session.execute(
            select(Candidate.selected_as, Calculation.status)
            .join(Calculation, Calculation.structure_id == Candidate.structure_id)
            .where(Candidate.origin == "guard")
        ).all()
    assert stops
    assert all(reason.startswith("guard: atoms") for reason in stops)
    assert guard_frames  # the frame where MD blew up was kept, selected and sent to the oracle
    assert all(selected_as == "uncertain" for selected_as, _ in guard_frames)
    assert {status for _, status in guard_frames} <= {"ok", "quarantined"}
