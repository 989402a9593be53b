"""Faults injected into real campaigns, and what they cost: labels lost and duplicate oracle calls.

Rows: oracle faults (a SIGKILLed worker, a wall-time kill, an unconverged SCF, an exception inside
PySCF: real faults, on every third calculation, from tests.support.faulty_oracle); SIGKILL of
the whole `alforge run` process in each loop phase followed by a resume (tests.support.crash).
Targets: every campaign completes, 0 labels lost, 0 duplicate oracle calls.

Usage: python benchmarks/faults.py [--kills N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))  # the repository root, for tests.support
from _table import finish, print_table

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from sqlalchemy import select

from alforge import Campaign, CampaignSpec
from alforge.db import Calculation, Database
from alforge.oracles.registry import register_oracle
from tests.support.crash import PHASES, crash_and_resume

SPEC = {
    "seed": 7,
    "system": {"molecule": "H2O", "seed_structures": 5},
    "oracle": {"method": "HF", "basis": "sto-3g"},
    "exploration": {"walkers": 2, "temperatures_K": [300.0, 500.0], "steps": 60, "sampled_frames": 4},
    "selection": {"threshold_eV_per_A": 0.15, "max_labels": 3},
    "validation": {"labels_per_generation": 2},
    "stopping": {"max_generations": 10, "target_force_mae_eV_per_A": 0.25, "confident_fraction": 0.8,
                 "max_quarantine_fraction": 0.6},
    "compute": {"oracle_workers": 2, "device": "cpu"},
}

CRASH_SPEC = """
name = "crash"
seed = 5
[system]
molecule = "H2O"
[oracle]
method = "PBE"
basis = "def2-svp"
[exploration]
walkers = 2
steps = 80
[selection]
threshold_eV_per_A = 0.1
max_labels = 3
[stopping]
max_generations = 5
target_force_mae_eV_per_A = 0.0001
[compute]
device = "cpu"
"""


def oracle_faults(folder: Path) -> tuple[list[str], bool, int]:
    register_oracle("faulty-pyscf", "tests.support.faulty_oracle:FaultyOracle")
    url = f"sqlite:///{folder / 'oracle.db'}"
    os.environ["ALFORGE_HOME"] = str(folder / "home")
    spec = CampaignSpec.from_dict({**SPEC, "name": "faulty",
                                   "oracle": {**SPEC["oracle"], "name": "faulty-pyscf", "options": {"every": 3}}})
    result = Campaign(spec, database_url=url).run()
    db = Database(url)
    with db.session(readonly=True) as session:
        details = session.scalars(select(Calculation.details).where(Calculation.status == "quarantined")).all()
        launches = session.scalars(select(Calculation.attempts)).all()
    db.dispose()
    kinds = [d.get("injected_fault", "other") for d in details]
    return kinds, result["state"] == "converged", sum(n - 1 for n in launches if n > 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kills", type=int, default=10, help="SIGKILLs of the whole process")
    args = parser.parse_args()
    rows, failures = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        kinds, converged, duplicates = oracle_faults(folder)
        for kind, n in sorted(Counter(kinds).items()):
            rows.append((f"oracle: {kind}", n, "yes" if converged else "NO", 0, duplicates))
        if not converged:
            failures.append("the campaign with oracle faults did not converge")
        spec = folder / "crash.toml"
        spec.write_text(CRASH_SPEC)
        targets = [PHASES[i % len(PHASES)] for i in range(args.kills)]
        report = crash_and_resume(spec, "crash", 2, f"sqlite:///{folder / 'crash.db'}", targets,
                                  env={"ALFORGE_HOME": str(folder / "home")})
        for phase, n in sorted(Counter(report.kills).items()):
            rows.append((f"SIGKILL of alforge run in {phase}", n, "yes" if report.completed else "NO",
                         report.labels_lost, report.duplicate_oracle_calls))
        if not report.completed:
            failures.append("the crashed campaign did not complete on resume")
        if report.labels_lost or report.duplicate_oracle_calls or duplicates:
            failures.append("labels lost or duplicate oracle calls")
    print_table("faults injected into real campaigns",
                ["fault", "injected", "campaign completed", "labels lost", "duplicate oracle calls"], rows)
    finish(failures)


if __name__ == "__main__":
    main()
