"""End-to-end campaigns: real PySCF, real Prefect, real SQLite (and PostgreSQL).

The campaigns are small (water, HF/STO-3G, short walkers) so that each converges in well under
a minute, but nothing is stubbed: every label is a PySCF calculation, every step a Prefect task.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from ase.build import molecule
from ase.io import write
from rich.console import Console
from sqlalchemy import func, select

from alforge import Campaign, CampaignSpec
from alforge.api import run_spec_file
from alforge.campaign.conformers import seed_structures
from alforge.campaign.decide import GenerationVerdict, criterion_met
from alforge.campaign.plan import verdict_reserve
from alforge.db import Calculation, Candidate, Database, Generation, MDRun, WalkerStart
from alforge.db.structures import get_atoms
from alforge.errors import SpecError
from tests.support.labels import labels_by_generation
from tests.support.specs import water_spec


def oracle_launches(db: Database) -> dict[int, int]:
    with db.session(readonly=True) as session:
        return dict(session.execute(select(Calculation.id, Calculation.attempts)).tuples().all())


def assert_walkers_continue(db: Database) -> int:
    """Every walker of generation g ≥ 2 starts where the same walker of generation g - 1 ended; returns the pairs."""
    with db.session(readonly=True) as session:
        rows = session.execute(
            select(Generation.index, MDRun.walker, MDRun.start_structure_id, MDRun.end_structure_id,
                   MDRun.end_velocities_A_per_fs, MDRun.stop_reason)
            .join(Generation, Generation.id == MDRun.generation_id)
        ).all()
    runs = {(index, walker): (start, end, velocities, stop) for index, walker, start, end, velocities, stop in rows}
    pairs = 0
    for (index, walker), (start, _, _, _) in runs.items():
        previous = runs.get((index - 1, walker))
        if previous is None:
            continue
        assert previous[1] is not None, "every walker records where it ended"
        assert start == previous[1], f"walker {walker} of generation {index} did not continue"
        if previous[3] == "budget":
            assert previous[2] is not None
            assert previous[2].shape[1] == 3
        pairs += 1
    with db.session(readonly=True) as session:
        planned = session.execute(
            select(Generation.index, WalkerStart.walker, WalkerStart.structure_id, WalkerStart.velocities_A_per_fs)
            .join(Generation, Generation.id == WalkerStart.generation_id)
        ).all()
    # the plan stored every walker's start before it ran, velocities included, and the walker used it
    assert {(index, walker) for index, walker, _, _ in planned} == set(runs)
    for index, walker, structure_id, velocities in planned:
        assert runs[(index, walker)][0] == structure_id
        previous = runs.get((index - 1, walker))
        if previous is not None and previous[3] == "budget":
            np.testing.assert_array_equal(velocities, previous[2])
    return pairs


def test_campaign_converges_below_target(e2e_db: Database, tmp_path: Path) -> None:
    spec = CampaignSpec.from_dict(water_spec("water-converge"))
    result = Campaign(spec).run()
    assert result["state"] == "converged", result
    loaded = Campaign.load("water-converge")
    generations = loaded.generations
    final = generations[-1]["metrics"]
    assert final["estimated_force_mae_eV_per_A"] <= spec.stopping.target_force_mae_eV_per_A
    assert final["confident_fraction"] >= spec.stopping.confident_fraction
    assert loaded.state == "converged"
    # the stated error comes with its interval, and the reason the user reads gives both
    low, high = final["estimated_force_mae_interval_eV_per_A"]
    assert low <= final["estimated_force_mae_eV_per_A"] <= high
    assert low < high
    assert f"90 % interval {low:.3g}–{high:.3g}" in loaded.status()["message"]
    # ... and so does the generation's Prefect artifact, with the simulated time
    markdown = _artifact(f"water-converge-generation-{generations[-1]['index']}")
    assert f"| 90 % interval of that estimate (eV/Å) | {low:.4g} – {high:.4g} |" in markdown
    assert f"| simulated time, campaign total (ps) | {final['simulated_ps_total']:.4g} |" in markdown
    # converged means the criterion held in two consecutive generations, over the whole MD budget
    before = generations[-2]["metrics"]
    assert before["confident_fraction"] >= spec.stopping.confident_fraction
    assert before["estimated_force_mae_eV_per_A"] <= spec.stopping.target_force_mae_eV_per_A
    # every held-out frame of an MD generation was drawn among the kept frames with a known probability
    drawn = [row for g in generations[1:] for row in g["metrics"]["held_out_own"]]
    # ... as many as planned: the usual draw, and a larger one in a generation that would confirm
    verdicts = [GenerationVerdict.from_metrics(g["index"], g["metrics"]) for g in generations]
    usual, confirming = spec.validation.labels_per_generation, spec.validation.confirm_labels
    wanted = [confirming if criterion_met(v, spec.stopping) else usual for v in verdicts[:-1]]
    assert [len(g["metrics"]["held_out_own"]) for g in generations[1:]] == wanted
    assert wanted[-1] == confirming > usual  # the converged verdict rests on the larger draw
    assert all(0.0 < pi <= 1.0 for _, _, pi in drawn)
    assert final["md_completed_fraction"] == 1.0
    assert assert_walkers_continue(e2e_db) >= 2
    total_ps = final["simulated_ps_total"]
    assert total_ps == pytest.approx(sum(final["walker_ps"].values()))
    # ... and a generation that would confirm runs its walkers confirm_steps_factor times longer
    steps = [spec.exploration.steps * (spec.validation.confirm_steps_factor if criterion_met(v, spec.stopping) else 1)
             for v in verdicts[:-1]]
    assert steps[-1] > spec.exploration.steps
    assert total_ps == pytest.approx(sum(steps) * spec.exploration.walkers * spec.exploration.timestep_fs / 1e3)
    # every label was a real oracle call, made once
    assert set(oracle_launches(e2e_db).values()) == {1}
    with e2e_db.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(MDRun)) >= 2
        flow_runs = session.scalars(select(Generation.flow_run_id)).all()
        assert all(flow_runs)
    calc = loaded.calculator()
    atoms = molecule("H2O")
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())
    assert calc.results["forces_std"].shape == (3,)
    # a rerun of a converged campaign does nothing, and `alforge run` says that what it shows is stored
    assert "already_finished" not in result
    before = oracle_launches(e2e_db)
    again = Campaign(spec).run()
    assert again["state"] == "converged"
    assert again["already_finished"] is True
    assert oracle_launches(e2e_db) == before
    spec_file = tmp_path / "water.toml"
    spec_file.write_text(_toml(water_spec("water-converge")))
    console = Console(record=True, width=200)
    assert run_spec_file(spec_file, console=console)["already_finished"] is True
    assert "had already converged when this run began, so nothing ran" in console.export_text()
    assert oracle_launches(e2e_db) == before


def test_a_campaign_that_runs_out_of_labels_spends_its_last_generation_on_the_verdict(e2e_db: Database) -> None:
    """Stopped by the label budget: it says so, and its last generation only holds out, over longer MD."""
    spec = CampaignSpec.from_dict(water_spec("water-budget", validation={"confirm_labels": 8}, stopping={
        "max_labels": 32, "target_force_mae_eV_per_A": 0.001, "max_generations": 8,
    }))
    result = Campaign(spec).run()
    assert result["state"] == "stopped", result
    assert "label budget of 32 used before convergence: force MAE" in result["reason"]
    generations = Campaign.load("water-budget").generations
    before, last = generations[-2]["metrics"], generations[-1]["metrics"]
    per_generation = spec.validation.labels_per_generation + spec.selection.max_labels
    left = spec.stopping.max_labels - before["labels_total"]
    reserve = verdict_reserve(spec.validation, spec.stopping.max_labels)
    assert reserve <= left < reserve + per_generation  # the budget ends here, with the verdict's reserve left
    # every label the budget left was held out: no training label that no judged model would learn from
    assert last["train_labels"] == before["train_labels"]
    assert len(last["held_out_own"]) == left == last["labels_total"] - before["labels_total"]
    # ... over MD as long as a confirming generation's, and the error it states rests on those frames
    assert last["simulated_ps"] == pytest.approx(
        spec.exploration.steps * spec.validation.confirm_steps_factor * spec.exploration.walkers
        * spec.exploration.timestep_fs / 1e3)
    assert before["simulated_ps"] < last["simulated_ps"]
    assert last["estimated_force_mae_eV_per_A"] > spec.stopping.target_force_mae_eV_per_A


def test_a_molecule_with_torsions_is_seeded_and_explored_from_its_conformers(e2e_db: Database) -> None:
    """Ethanol: the seeds are rattled conformers, and generation 1's walkers start from the conformers."""
    spec = CampaignSpec.from_dict(water_spec(
        "ethanol-conformers", system={"molecule": "CH3CH2OH", "seed_structures": 4, "rattle_A": 0.02},
        exploration={"walkers": 4, "steps": 10}, stopping={"max_generations": 2},
    ))
    Campaign(spec).run()
    conformers, first = seed_structures([molecule("CH3CH2OH")], 4, spec.seed)
    assert first == [0, 1, 2, 3]
    torsions = [c.get_dihedral(3, 2, 1, 0) for c in conformers]  # H–O–C–C
    assert max(abs((t - torsions[0] + 180.0) % 360.0 - 180.0) for t in torsions) > 30.0
    with e2e_db.session(readonly=True) as session:
        seed_ids = session.scalars(
            select(Candidate.structure_id).where(Candidate.origin == "seed").order_by(Candidate.id)
        ).all()
        seeds = get_atoms(session, seed_ids)
        starts = session.execute(
            select(WalkerStart.walker, WalkerStart.structure_id).join(Generation)
            .where(Generation.index == 1).order_by(WalkerStart.walker)
        ).tuples().all()
        walker_starts = get_atoms(session, [structure_id for _, structure_id in starts])
    # each seed is its conformer, rattled (0.02 Å): the rattle moves no atom by 0.2 Å
    for seed, conformer in zip(seeds, conformers, strict=True):
        assert np.abs(seed.positions - conformer.positions).max() < 0.2
    # the first walkers start from the conformers themselves, not from the one start structure
    assert [w for w, _ in starts] == [0, 1, 2, 3]
    for walker, atoms in enumerate(walker_starts):
        np.testing.assert_allclose(atoms.positions, conformers[walker].positions, atol=1e-9)


def test_a_campaign_run_twice_at_one_seed_labels_the_same_structures(
    e2e_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bit for bit, although its walkers and labels run in parallel and finish in any order.

    (Before 2026-12-06 two runs parted in the first MD generation: the draws read the frames in
    the order the walkers happened to finish, and each SCF started from the orbitals of whichever
    label had finished before it.)
    """
    spec = water_spec("water-twice", exploration={"walkers": 4, "temperatures_K": [300.0, 500.0], "steps": 60},
                      stopping={"max_generations": 4, "max_labels": 30})
    first = Campaign(CampaignSpec.from_dict(spec)).run()
    other = Database(f"sqlite:///{tmp_path / 'again.db'}")
    monkeypatch.setenv("ALFORGE_DATABASE_URL", other.url)
    second = Campaign(CampaignSpec.from_dict(spec)).run()
    labels = labels_by_generation(e2e_db)
    assert max(index for index, *_ in labels) >= 2, "the campaign ran MD generations"
    assert labels_by_generation(other) == labels
    assert second["reason"] == first["reason"]
    other.dispose()


def test_level_of_theory_cannot_change_on_resume(e2e_db: Database) -> None:
    Campaign(CampaignSpec.from_dict(water_spec("water-level", stopping={"max_generations": 1}))).run()
    changed = water_spec("water-level", oracle={"method": "PBE"})
    with pytest.raises(SpecError, match="level of theory cannot change"):
        Campaign(CampaignSpec.from_dict(changed)).run()


def test_quarantined_calculation_does_not_stop_the_campaign(e2e_db: Database, tmp_path: Path) -> None:
    good = molecule("H2O")
    bad = molecule("H2O")
    bad.positions[1] = bad.positions[0] + [0.05, 0.0, 0.0]  # H on top of O: the oracle refuses it
    write(tmp_path / "start.xyz", [good, bad])
    spec = water_spec(
        "water-quarantine",
        system={"molecule": None, "structures": str(tmp_path / "start.xyz"), "seed_structures": 4},
        exploration={"walkers": 1},
        stopping={"max_quarantine_fraction": 0.9, "max_generations": 4},
    )
    spec["system"].pop("molecule")
    result = Campaign(CampaignSpec.from_dict(spec)).run()
    assert result["state"] in ("converged", "stopped")
    with e2e_db.session(readonly=True) as session:
        statuses = dict(
            session.execute(select(Calculation.status, func.count()).group_by(Calculation.status)).tuples().all()
        )
        errors = session.scalars(select(Calculation.error).where(Calculation.status == "quarantined")).all()
        generations = session.scalar(select(func.count()).select_from(Generation))
    assert statuses.get("quarantined", 0) >= 1
    assert statuses.get("ok", 0) >= 2
    assert generations >= 2
    assert any("apart" in (e or "") for e in errors)


def test_failed_label_tasks_stop_the_campaign_and_are_retried_when_it_runs_again(
    e2e_db: Database, tmp_path: Path
) -> None:
    """A broken oracle environment, for real: a ``pyscf`` module shadowing PySCF on the path.

    The oracle workers cannot start, so every label task fails (after its retries) before the
    oracle answers: the campaign stops after that generation and says why, instead of running
    empty generations to its limit. Fixed and run again, it labels the failed structures first
    and goes on; no structure gets a second calculation row.
    """
    import pyscf  # noqa: F401  # the real one, in this process; the shadow only reaches fresh workers

    from alforge.oracles.worker_pool import shutdown_shared_pool

    shadow = tmp_path / "shadow"
    shadow.mkdir()
    (shadow / "pyscf.py").write_text("raise ImportError('shadowing pyscf: a broken environment')\n")
    spec = water_spec("water-broken-oracle", stopping={"max_generations": 2})
    shutdown_shared_pool()  # warm workers from earlier tests would hide the broken environment
    with pytest.MonkeyPatch.context() as environment:
        environment.syspath_prepend(str(shadow))
        broken = Campaign(CampaignSpec.from_dict(spec)).run()
    assert broken["state"] == "stopped"
    assert broken["reason"].startswith("all 4 label tasks of generation 0 failed before the oracle answered")
    assert "shadowing pyscf: a broken environment" in broken["reason"]
    with e2e_db.session(readonly=True) as session:
        assert session.scalar(select(func.count()).select_from(Generation)) == 1  # no empty generations
        failed = dict(session.execute(
            select(Calculation.id, Calculation.attempts).where(Calculation.status == "failed")
        ).tuples().all())
    assert len(failed) == 4
    shutdown_shared_pool()  # the environment is fixed: the shadow is off the path
    fixed = Campaign(CampaignSpec.from_dict(spec)).run()
    assert fixed["state"] in ("converged", "stopped")
    assert not fixed["reason"].startswith("all")
    with e2e_db.session(readonly=True) as session:
        retried = {cid: (status, attempts) for cid, status, attempts in session.execute(
            select(Calculation.id, Calculation.status, Calculation.attempts).where(Calculation.id.in_(list(failed)))
        )}
        generations = session.scalar(select(func.count()).select_from(Generation))
        rows = session.scalar(select(func.count()).select_from(Calculation))
        structures = session.scalar(select(func.count(func.distinct(Calculation.structure_id))))
    assert {status for status, _ in retried.values()} == {"ok"}  # the same rows, labelled now
    assert all(attempts > failed[cid] for cid, (_, attempts) in retried.items())
    assert generations == 2
    assert rows == structures


@pytest.mark.postgres
def test_random_baseline_arm_on_postgres(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALFORGE_DATABASE_URL", postgres_url)
    spec = water_spec("water-random", selection={"method": "random"}, stopping={"max_generations": 3})
    result = Campaign(CampaignSpec.from_dict(spec)).run()
    assert result["state"] in ("converged", "stopped")
    db = Database(postgres_url)
    with db.session(readonly=True) as session:
        selections = set(session.scalars(select(Candidate.selected_as).where(Candidate.selected.is_(True))).all())
    assert "random" in selections
    assert "uncertain" not in selections
    db.dispose()


def test_sigkill_during_labelling_then_resume(e2e_db_url: str, tmp_path: Path) -> None:
    spec = water_spec("water-kill", oracle={"method": "PBE", "basis": "def2-svp"},
                      stopping={"max_generations": 3, "target_force_mae_eV_per_A": 0.001})
    spec_file = tmp_path / "water.toml"
    spec_file.write_text(_toml(spec))
    env = {**os.environ, "ALFORGE_DATABASE_URL": e2e_db_url}
    command = [sys.executable, "-m", "alforge", "run", str(spec_file), "--no-progress"]
    # Its own session: the kill takes the whole process group (the campaign, its oracle workers
    # and Prefect's ephemeral API server), as a batch scheduler or a node failure would.
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               start_new_session=True)
    db = Database(e2e_db_url)
    deadline = time.monotonic() + 240
    in_flight: list[int] = []
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with db.session(readonly=True) as session:
                in_flight = list(session.scalars(
                    select(Calculation.id).where(Calculation.started_at.is_not(None), Calculation.finished_at.is_(None))
                ))
                done = session.scalar(select(func.count()).where(Calculation.status == "ok"))
            if in_flight and done and done >= 4:
                break
            time.sleep(0.05)
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    with db.session(readonly=True) as session:  # the process is dead: these rows are the state at the kill
        in_flight = list(session.scalars(
            select(Calculation.id).where(Calculation.started_at.is_not(None), Calculation.finished_at.is_(None))
        ))
        labelled_before = set(session.scalars(select(Calculation.id).where(Calculation.status == "ok")))
    assert in_flight, "the kill did not land during labelling"
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    launches = oracle_launches(db)
    with db.session(readonly=True) as session:
        labelled_after = set(session.scalars(select(Calculation.id).where(Calculation.status == "ok")))
        state = session.scalar(select(Generation.state).order_by(Generation.id.desc()).limit(1))
    assert labelled_before <= labelled_after  # no lost labels
    repeated = {cid for cid, n in launches.items() if n > 1}
    assert repeated <= set(in_flight)  # only calculations in flight at the kill were run again
    assert all(n >= 1 for n in launches.values())
    assert state == "complete"
    # walkers went on across the kill: each resumed generation continued the one before
    assert assert_walkers_continue(db) >= 2
    db.dispose()


def _toml(data: dict[str, Any]) -> str:
    lines = []
    for key, value in data.items():
        if not isinstance(value, dict):
            lines.append(f"{key} = {_value(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines.extend(f"{k} = {_value(v)}" for k, v in value.items() if v is not None)
    return "\n".join(lines) + "\n"


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return repr(value)


def _artifact(key: str) -> str:
    """The markdown of the newest Prefect artifact called ``key``, read back from Prefect's API."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert found, f"no Prefect artifact {key!r}"
    return str(max(found, key=lambda a: a.created).data)
