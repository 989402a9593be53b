"""The command line: help for every command, one-line errors, label/status/export/db upgrade."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
