"""extxyz import/export: round trip and malformed files (nothing stored on error)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase.build import molecule
from sqlalchemy import func, select

from alforge.data import labelled, read_labelled, write_labelled
from alforge.db import Calculation, Database
from alforge.db.exchange import export_extxyz, import_extxyz
from alforge.errors import DataError
from alforge.oracles.level_of_theory import LevelOfTheory

LEVEL = LevelOfTheory(code="test", method="HF", basis="sto-3g")


def write_frames(path: Path, n: int = 6) -> None:
    rng = np.random.default_rng(7)
    frames = []
    for _ in range(n):
        atoms = molecule("H2O")
        atoms.positions += rng.normal(scale=0.05, size=(3, 3))
        frames.append(labelled(atoms, rng.normal(-2000, 1), rng.normal(size=(3, 3))))
    write_labelled(path, frames)


def count(db: Database) -> int:
    with db.session(readonly=True) as session:
        return int(session.scalar(select(func.count()).select_from(Calculation)) or 0)


def test_extxyz_round_trip(db: Database, tmp_path: Path) -> None:
    source = tmp_path / "in.extxyz"
    write_frames(source)
    ids = import_extxyz(db, source, LEVEL)
    out = tmp_path / "out.extxyz"
    assert export_extxyz(db, ids, out) == 6
    for a, b in zip(read_labelled(source), read_labelled(out), strict=True):
        np.testing.assert_array_equal(a.positions, b.positions)
        np.testing.assert_array_equal(a.get_forces(), b.get_forces())
        assert a.get_potential_energy() == b.get_potential_energy()
    assert "energy=" in out.read_text().splitlines()[1]


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda t: t.replace("energy=", "e_other="), "no energy"),
        (lambda t: t.replace(":forces:R:3", ":f_other:R:3"), "no forces"),
        (lambda t: "garbage\n" + t, "cannot read"),
        (lambda t: t.replace(t.splitlines()[-1].split()[1], "nan", 1), "non-finite coordinates"),
    ],
)
def test_malformed_files_are_refused_and_nothing_is_stored(
    db: Database, tmp_path: Path, mutate, match: str  # type: ignore[no-untyped-def]
) -> None:
    good = tmp_path / "good.extxyz"
    write_frames(good, n=2)
    import_extxyz(db, good, LEVEL)
    bad = tmp_path / "bad.extxyz"
    write_frames(bad, n=3)
    bad.write_text(mutate(bad.read_text()))
    with pytest.raises(DataError, match=match) as info:
        import_extxyz(db, bad, LEVEL)
    assert "\n" not in str(info.value)
    assert count(db) == 2


def test_missing_file(db: Database, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        import_extxyz(db, tmp_path / "nope.extxyz", LEVEL)
