"""Security: no database password in any output or log; specs cannot reach outside what they name.

HTML escaping of user text and the write token of the dashboard API are tested in
tests/dashboard (test_dashboard_api.py, test_dashboard_writes.py, the browser tests).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from alforge.cli import app
from alforge.config import CampaignSpec
from alforge.data import read_structures
from alforge.errors import DataError, SpecError

SECRET = "hunter2-s3cret"


def test_password_is_never_printed_or_logged(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The throwaway server trusts local connections, so a password in the URL is accepted and ignored.
    url = make_url(postgres_url).set(password=SECRET).render_as_string(hide_password=False)
    monkeypatch.setenv("ALFORGE_DATABASE_URL", url)
    spec = tmp_path / "tiny.toml"
    spec.write_text(
        'name = "tiny"\n[system]\nmolecule = "H2"\nseed_structures = 2\n'
        '[stopping]\nmax_generations = 1\n[compute]\ndevice = "cpu"\n'
    )
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)
    outputs = [
        runner.invoke(app, ["db", "upgrade"]),
        runner.invoke(app, ["run", str(spec), "--no-progress"]),
        runner.invoke(app, ["status"]),
        runner.invoke(app, ["status", "tiny", "--json"]),
        runner.invoke(app, ["db", "check"]),
        runner.invoke(app, ["export", "nope", "-o", str(tmp_path / "x.extxyz")]),
    ]
    assert outputs[1].exit_code == 0, outputs[1].output
    assert "***" in outputs[2].output  # the URL is shown, redacted
    for result in outputs:
        assert SECRET not in result.output
    assert SECRET not in caplog.text
    unreachable = url.replace(str(make_url(url).port), "1")
    monkeypatch.setenv("ALFORGE_DATABASE_URL", unreachable)
    failure = runner.invoke(app, ["status"])
    assert failure.exit_code == 1
    assert SECRET not in failure.output


@pytest.mark.parametrize("name", ["../escape", "a/b", "/abs", "..", "x\\y", ""])
def test_campaign_names_cannot_be_paths(name: str) -> None:
    with pytest.raises(SpecError, match="`name`"):
        CampaignSpec.from_dict({"name": name, "system": {"molecule": "H2O"}})


@pytest.mark.parametrize("path", ["/etc/passwd", "/etc/shadow", "../../../etc/hosts", "secrets.env"])
def test_structure_paths_must_be_structure_files(path: str) -> None:
    with pytest.raises(SpecError, match=r"`system.structures`.*not a structure file"):
        CampaignSpec.from_dict({"name": "x", "system": {"structures": path}})


def test_parse_errors_do_not_echo_file_contents(tmp_path: Path) -> None:
    leaked = tmp_path / "notes.xyz"
    leaked.write_text(f"password={SECRET}\nmore private text\n")
    with pytest.raises(DataError) as info:
        read_structures(leaked)
    assert SECRET not in str(info.value)
    assert "private" not in str(info.value)
