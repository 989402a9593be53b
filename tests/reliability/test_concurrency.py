"""Two campaigns at once on one database while the dashboard reads: no lost or duplicated rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from alforge.dashboard import create_app
from alforge.db import Calculation, Campaign, Candidate, Database, Generation, Structure
from alforge.db.integrity import check_integrity


def spec(name: str, seed: int) -> dict[str, Any]:
    return {
        "name": name,
        "seed": seed,
        "system": {"molecule": "H2O", "seed_structures": 4},
        "oracle": {"method": "HF", "basis": "sto-3g"},
        "exploration": {"walkers": 2, "temperatures_K": [400.0], "steps": 40, "sampled_frames": 3},
        "selection": {"threshold_eV_per_A": 0.1, "max_labels": 3},
        "validation": {"labels_per_generation": 1, "confirm_labels": 4, "confirm_steps_factor": 2},
        "stopping": {"max_generations": 3, "target_force_mae_eV_per_A": 0.0001},
        "compute": {"oracle_workers": 2, "device": "cpu"},
    }


def test_two_campaigns_and_a_reader(db_url: str, tmp_path: Path) -> None:
    processes = []
    for name, seed in (("alpha", 1), ("beta", 2)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(spec(name, seed)))
        env = {**os.environ, "ALFORGE_DATABASE_URL": db_url, "PREFECT_HOME": tempfile.mkdtemp(prefix="pf-")}
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "alforge", "run", str(path), "--no-progress"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        ))
    reads: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        client = TestClient(create_app(db_url))
        while not stop.is_set():
            for path in ("/api/campaigns", "/api/campaigns/alpha", "/api/campaigns/beta/labels"):
                reads.append(client.get(path).status_code)
            time.sleep(0.1)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        errors = [process.communicate(timeout=600)[1] for process in processes]
    finally:
        stop.set()
        thread.join(timeout=30)
    for process, stderr in zip(processes, errors, strict=True):
        assert process.returncode == 0, stderr[-2000:]
        assert "database is locked" not in stderr
    assert reads
    assert set(reads) <= {200, 404}  # 404 only before a campaign's row exists
    assert reads.count(200) > len(reads) // 2

    db = Database(db_url)
    with db.session(readonly=True) as session:
        assert check_integrity(session)["ok"]
        states = dict(session.execute(select(Campaign.name, Campaign.state)).tuples().all())
        hashes = session.scalars(select(Structure.hash)).all()
        unfinished = session.scalar(
            select(func.count()).where(
                Calculation.structure_id.in_(select(Candidate.structure_id).where(Candidate.selected.is_(True))),
                Calculation.status.in_(("pending", "failed")),
            )
        )
        launches = session.scalars(select(Calculation.attempts)).all()
        generations = dict(
            session.execute(
                select(Campaign.name, func.count(Generation.id)).join(Generation).group_by(Campaign.name)
            ).tuples().all()
        )
    db.dispose()
    assert states == {"alpha": "stopped", "beta": "stopped"}
    assert generations == {"alpha": 3, "beta": 3}
    assert len(hashes) == len(set(hashes))
    assert unfinished == 0  # every selected structure was labelled (or quarantined): nothing lost
    assert set(launches) == {1}  # no structure went to the oracle twice, even the shared start structure
