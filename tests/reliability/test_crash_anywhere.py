"""SIGKILL a running campaign in every phase of the loop, resume each time, then audit the database."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from alforge import Campaign
from alforge.cli import app
from alforge.db import Database
from tests.support.crash import PHASES, crash_and_resume
from tests.support.labels import labels_by_generation

SPEC = """
name = "crashy"
seed = 5
[system]
molecule = "H2O"
seed_structures = 4
[oracle]
method = "PBE"
basis = "def2-svp"
[exploration]
walkers = 2
temperatures_K = [300.0, 500.0]
steps = 80
sampled_frames = 4
[selection]
threshold_eV_per_A = 0.1
max_labels = 3
[validation]
labels_per_generation = 1
confirm_labels = 4
confirm_steps_factor = 2
[stopping]
max_generations = 5
max_labels = 40
target_force_mae_eV_per_A = 0.0001
[compute]
oracle_workers = 2
device = "cpu"
"""


def test_kill_in_every_phase_then_resume(e2e_db_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "crashy.toml"
    spec.write_text(SPEC)
    # every phase once, then the two where a kill can lose work (a walker's MD, oracle calls in flight)
    # again in a later generation; a full second round cost CI about a minute more for little more cover
    targets = [*PHASES, "explore", "label"]
    report = crash_and_resume(spec, "crashy", walkers=2, database_url=e2e_db_url, targets=targets,
                              phase_timeout_s=45)
    assert len(report.kills) >= len(targets), report
    assert len(set(report.kills)) >= 4, report  # kills landed in at least four different phases
    assert report.completed, report
    assert report.final_state == "stopped"
    assert report.labels_lost == 0
    assert report.duplicate_oracle_calls == 0
    check = CliRunner().invoke(app, ["db", "check"])
    assert check.exit_code == 0, check.output
    # ... and it labelled what the same campaign labels when nothing stops it, bit for bit
    killed = Database(e2e_db_url)
    labels = labels_by_generation(killed)
    killed.dispose()
    url = f"sqlite:///{tmp_path / 'uninterrupted.db'}"
    Campaign(spec, database_url=url).run()
    uninterrupted = Database(url)
    assert labels_by_generation(uninterrupted) == labels
    uninterrupted.dispose()
