"""Scale-out: a real Dask LocalCluster of two worker processes; oracle concurrency limits hold."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from alforge import Campaign, CampaignSpec
from alforge.db import Calculation, Database
from tests.support.labels import labels_by_generation


def spec(name: str, **compute: Any) -> CampaignSpec:
    return CampaignSpec.from_dict({
        "name": name,
        "seed": 11,
        "system": {"molecule": "H2O", "seed_structures": 4},
        "oracle": {"method": "HF", "basis": "sto-3g"},
        "exploration": {"walkers": 2, "temperatures_K": [400.0], "steps": 40, "sampled_frames": 3},
        "selection": {"threshold_eV_per_A": 0.05, "max_labels": 3},
        # the last generation (1) measures like a confirming one: kept small, as in tests/support/specs.py
        "validation": {"labels_per_generation": 2, "confirm_labels": 4, "confirm_steps_factor": 2},
        "stopping": {"max_generations": 2, "target_force_mae_eV_per_A": 0.0001},
        "compute": {"oracle_workers": 2, "device": "cpu", **compute},
    })


def labels(url: str, name: str) -> list[tuple[str, str]]:
    db = Database(url)
    with db.session(readonly=True) as session:
        rows = session.execute(select(Calculation.status, Calculation.level_hash).order_by(Calculation.id)).all()
    db.dispose()
    return [(status, level) for status, level in rows]


def max_overlap(url: str) -> int:
    db = Database(url)
    with db.session(readonly=True) as session:
        spans = session.execute(select(Calculation.started_at, Calculation.finished_at)).all()
    db.dispose()
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans], key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def test_dask_cluster_gives_the_same_labels_as_threads(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    results, structures = {}, {}
    for runner in ("threads", "dask"):
        url = f"sqlite:///{tmp_path / runner}.db"
        monkeypatch.setenv("ALFORGE_DATABASE_URL", url)
        outcome = Campaign(spec("scale", task_runner=runner, dask_workers=2)).run()
        assert outcome["state"] == "stopped", outcome
        results[runner] = labels(url, "scale")
        db = Database(url)
        structures[runner] = labels_by_generation(db)
        db.dispose()
    assert len(results["dask"]) == len(results["threads"]) > 4
    assert {level for _, level in results["dask"]} == {level for _, level in results["threads"]}
    assert {s for s, _ in results["dask"]} == {"ok"}
    # the walkers ran in other processes: the same structures and energies, bit for bit
    assert max(index for index, *_ in structures["threads"]) == 1
    assert structures["dask"] == structures["threads"]


def test_global_oracle_limit_holds(e2e_db_url: str) -> None:
    Campaign(spec("limited", oracle_workers=2, max_oracle_jobs=1)).run()
    statuses = [status for status, _ in labels(e2e_db_url, "limited")]
    assert len(statuses) > 4
    assert set(statuses) == {"ok"}, statuses
    assert max_overlap(e2e_db_url) == 1


def test_per_campaign_limit_allows_its_workers_in_parallel(e2e_db_url: str) -> None:
    Campaign(spec("parallel", oracle_workers=2)).run()
    statuses = [status for status, _ in labels(e2e_db_url, "parallel")]
    assert len(statuses) > 4
    assert set(statuses) == {"ok"}, statuses
    assert max_overlap(e2e_db_url) <= 2
