"""The command line: help for every command, one-line errors, label/status/export/db upgrade, fit/evaluate."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule
from ase.io import write
from typer.testing import CliRunner

from alforge.cli import app
from alforge.data import read_labelled

runner = CliRunner()
COMMANDS = [
    ["run"], ["status"], ["fit"], ["evaluate"], ["label"], ["export"], ["db", "upgrade"], ["db", "check"],
    ["server"], ["serve"], ["dashboard"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_console_script_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "alforge", "--help"], capture_output=True, text=True, check=False)
    assert result.returncode == 0
    assert "label" in result.stdout


def test_label_writes_labels_and_failures(tmp_path: Path) -> None:
    good, shifted, broken = molecule("H2O"), molecule("H2O"), molecule("H2O")
    shifted.positions[0] += 0.05
    broken.positions[1] = broken.positions[0]
    write(tmp_path / "in.extxyz", [good, shifted, broken])
    out = tmp_path / "out.extxyz"
    result = runner.invoke(app, ["label", str(tmp_path / "in.extxyz"), "-o", str(out), "--method", "HF",
                                 "--basis", "sto-3g", "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert len(read_labelled(out)) == 2
    failed = (tmp_path / "out.failed.extxyz").read_text()
    assert "apart" in failed


def test_label_bad_setup_is_one_line(tmp_path: Path) -> None:
    write(tmp_path / "in.extxyz", [molecule("H2O")])
    result = runner.invoke(app, ["label", str(tmp_path / "in.extxyz"), "-o", str(tmp_path / "o.extxyz"),
                                 "--spin", "1"])
    assert result.exit_code == 1
    assert "error:" in result.output
    assert "Traceback" not in result.output


def test_status_export_and_db_upgrade_on_empty_database(tmp_path: Path) -> None:
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    status = runner.invoke(app, ["status"])
    assert status.exit_code == 0
    assert "no campaigns" in status.output
    missing = runner.invoke(app, ["export", "nope", "-o", str(tmp_path / "x.extxyz")])
    assert missing.exit_code == 1
    assert "no campaign named 'nope'" in missing.output


def test_bad_database_url_is_one_line_without_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALFORGE_DATABASE_URL", "postgresql://user:hunter2@127.0.0.1:1/none")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert "cannot open database" in result.output
    assert "hunter2" not in result.output


# ---- alforge fit: every kind, its options, labels under other keys --------------------------------
@pytest.fixture(scope="module")
def methane_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Rattled CH4 labelled by ASE's EMT: the usual extxyz, and one with REF_energy / REF_forces keys."""
    from ase import Atoms
    from ase.calculators.emt import EMT

    from alforge.data import labelled, write_labelled

    rng = np.random.default_rng(0)
    reference = molecule("CH4")
    frames, renamed = [], []
    for _ in range(14):
        atoms = Atoms(reference.numbers, reference.positions + rng.normal(scale=0.06, size=(5, 3)))
        atoms.calc = EMT()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        frames.append(labelled(atoms, energy, forces))
        plain = Atoms(atoms.numbers, atoms.positions)
        plain.info["REF_energy"] = energy
        plain.arrays["REF_forces"] = forces
        renamed.append(plain)
    folder = tmp_path_factory.mktemp("methane")
    paths = {"train": folder / "train.extxyz", "test": folder / "test.extxyz", "ref": folder / "ref.extxyz"}
    write_labelled(paths["train"], frames[:10])
    write_labelled(paths["test"], frames[10:])
    write(paths["ref"], renamed[:10], format="extxyz")
    return paths


@pytest.mark.parametrize(
    ("kind", "settings", "expected"),
    [
        ("gp", ["--set", "max_iterations=8", "--set", "kernel=rbf"], {"kernel": "rbf"}),
        ("committee", ["--set", "n_members=3", "--set", "max_iterations=8"], {"n_members": 3}),
        ("local", ["--set", "pair_cutoff_A=3.5", "--set", "n_pair_inducing=16"], {"pair_cutoff_A": 3.5}),
    ],
)
def test_fit_every_kind_with_options_then_evaluate(
    kind: str, settings: list[str], expected: dict[str, object], methane_files: dict[str, Path], tmp_path: Path
) -> None:
    from alforge.models import load_model

    out = tmp_path / f"{kind}.model"
    result = runner.invoke(
        app, ["fit", str(methane_files["train"]), "-o", str(out), "--kind", kind, "--device", "cpu", *settings]
    )
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.kind == kind
    for key, value in expected.items():
        assert model.hyperparameters[key] == value
    scored = runner.invoke(app, ["evaluate", str(out), str(methane_files["test"]), "--json"])
    assert scored.exit_code == 0, scored.output
    assert '"force_mae_eV_per_A"' in scored.output


def test_fit_reads_a_model_file_and_other_label_keys(methane_files: dict[str, Path], tmp_path: Path) -> None:
    from alforge.models import load_model

    spec = tmp_path / "model.toml"
    spec.write_text('[model]\nkind = "committee"\ncommittee_size = 2\n\n[model.options]\nmax_iterations = 6\n')
    out = tmp_path / "committee.model"
    result = runner.invoke(
        app,
        ["fit", str(methane_files["ref"]), "-o", str(out), "--model", str(spec), "--device", "cpu",
         "--energy-key", "REF_energy", "--forces-key", "REF_forces"],
    )
    assert result.exit_code == 0, result.output
    assert load_model(out).hyperparameters["n_members"] == 2
    unlabelled = runner.invoke(app, ["fit", str(methane_files["ref"]), "-o", str(out), "--model", str(spec)])
    assert unlabelled.exit_code == 1
    assert "energy=<eV>" in unlabelled.output


@pytest.mark.parametrize(
    ("arguments", "names"),
    [
        (["--kind", "local", "--set", "cutoff=8.5"], ["--set cutoff", "pair_cutoff_A", "n_pair_inducing"]),
        (["--kind", "gp", "--set", "n_members=8"], ["--set n_members", "kernel", "max_iterations"]),
        (["--kind", "committee", "--set", "n_members=1"], ["n_members", "greater than or equal to 2"]),
        (["--kind", "committee", "--set", "kernel=cosine"], ["kernel", "'matern52' or 'rbf'"]),
        (["--kind", "local", "--set", "pair_cutoff_A"], ["KEY=VALUE"]),
        (["--kind", "neural"], ["gp, committee or local"]),
    ],
)
def test_fit_refuses_bad_options_in_one_line(
    arguments: list[str], names: list[str], methane_files: dict[str, Path], tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "alforge", "fit", str(methane_files["train"]), "-o", str(tmp_path / "m"), *arguments],
        capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "400"},
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:")
    for name in names:
        assert name in lines[0], lines[0]
    assert not (tmp_path / "m").exists()
