"""Property-based fuzzing of campaign specs and structure files (Hypothesis).

Every invalid input must give the package's own one-line error naming the field, never another
exception type, and never a partial write to the database.
"""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from ase.build import molecule
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from typer.testing import CliRunner

from alforge.cli import app
from alforge.config import CampaignSpec
from alforge.data import labelled, write_labelled
from alforge.db import Calculation, Campaign, Database
from alforge.db.exchange import import_extxyz
from alforge.errors import AlforgeError, DataError, SpecError
from alforge.oracles.level_of_theory import LevelOfTheory

VALID: dict[str, Any] = {
    "name": "fuzz",
    "system": {"molecule": "H2O", "charge": 0, "spin": 0},
    "oracle": {"name": "pyscf", "method": "HF", "basis": "sto-3g"},
    "exploration": {"walkers": 2, "temperatures_K": [300.0], "steps": 10, "timestep_fs": 0.5},
    "selection": {"method": "uncertainty", "max_labels": 2, "threshold_eV_per_A": 0.1},
    "validation": {"labels_per_generation": 1},
    "stopping": {"max_labels": 10, "max_generations": 2, "confident_fraction": 0.9},
    "compute": {"oracle_workers": 1, "device": "cpu"},
}

junk = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12), st.lists(st.integers(-5, 5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def leaves(tree: dict[str, Any], prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for key, value in tree.items():
        out.extend(leaves(value, (*prefix, key)) if isinstance(value, dict) else [(*prefix, key)])
    return out


PATHS = leaves(VALID)


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from(PATHS), value=junk, extra=st.one_of(st.none(), st.text(min_size=1, max_size=8)))
def test_mutated_specs_are_valid_or_name_the_field(path: tuple[str, ...], value: Any, extra: str | None) -> None:
    data = copy.deepcopy(VALID)
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    if extra is not None and extra not in data:
        data[extra] = value
    try:
        spec = CampaignSpec.from_dict(data)
    except SpecError as exc:
        message = str(exc)
        assert "\n" not in message
        assert "`" in message  # names the offending key
        named = message.split("`")[1]
        assert named.split(".")[0] in data or named == "spec"
    else:
        assert spec.name == data["name"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=junk)
def test_bad_spec_files_write_nothing(path: tuple[str, ...], value: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/db.sqlite"
        data = copy.deepcopy(VALID)
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
        try:
            CampaignSpec.from_dict(data)
        except SpecError:
            pass
        else:
            return  # still valid: nothing to check here
        spec_file = Path(folder) / "spec.json"
        import json

        spec_file.write_text(json.dumps(data, default=str))
        result = CliRunner().invoke(app, ["run", str(spec_file), "--no-progress"], env={"ALFORGE_DATABASE_URL": url})
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        db = Database(url)
        with db.session(readonly=True) as session:
            assert session.scalar(select(func.count()).select_from(Campaign)) == 0
        db.dispose()


def good_file(path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = []
    for _ in range(3):
        atoms = molecule("H2O")
        atoms.positions += rng.normal(scale=0.05, size=(3, 3))
        frames.append(labelled(atoms, -2000.0, rng.normal(size=(3, 3))))
    write_labelled(path, frames)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_corrupted_structure_files_are_refused_atomically(data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "good.extxyz"
        good_file(source)
        text = source.read_text()
        kind = data.draw(st.sampled_from(["replace", "delete", "insert", "truncate"]))
        position = data.draw(st.integers(0, len(text) - 1))
        if kind == "replace":
            token = data.draw(st.sampled_from(["nan", "inf", "x", "", "1e999", "-", "=", '"', "\n", "9" * 30]))
            text = text[:position] + token + text[position + 1 :]
        elif kind == "delete":
            text = text[:position] + text[position + data.draw(st.integers(1, 40)) :]
        elif kind == "insert":
            text = text[:position] + data.draw(st.text(max_size=10)) + text[position:]
        else:
            text = text[:position]
        bad = Path(folder) / "bad.extxyz"
        bad.write_text(text)
        db = Database(f"sqlite:///{folder}/db.sqlite")
        level = LevelOfTheory(code="test", method="HF")
        import_extxyz(db, source, level)
        try:
            import_extxyz(db, bad, level)
        except DataError as exc:
            message = str(exc)
            assert "\n" not in message
            with db.session(readonly=True) as session:
                assert session.scalar(select(func.count()).select_from(Calculation)) == 3
        except AlforgeError as exc:  # pragma: no cover - any other alforge error is a wrong category
            raise AssertionError(f"wrong error type {type(exc).__name__}: {exc}") from exc
        db.dispose()
