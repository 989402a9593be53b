"""label_file: labelled frames to the output, quarantined ones with their reason to a failures file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.io import read, write
from conftest import rattled

from alforge.data import energy_of, forces_of, read_labelled
from alforge.errors import DataError, OracleSetupError
from alforge.oracles import PySCFOracle, label_file
from alforge.oracles.labelling import failures_path_for


@pytest.fixture
def structures(tmp_path: Path) -> Path:
    """Four frames: three waters and one with two coincident hydrogens (frame 2)."""
    frames = [rattled("H2O", seed=s) for s in range(3)]
    broken = frames[0].copy()
    broken.positions[2] = broken.positions[1]
    frames.insert(2, broken)
    path = tmp_path / "in.extxyz"
    write(path, frames, format="extxyz")
    return path


@pytest.mark.parametrize("workers", [1, 2])
def test_label_file_writes_labelled_and_failed_frames(
    structures: Path, tmp_path: Path, hf_oracle: PySCFOracle, workers: int
) -> None:
    out = tmp_path / "out.extxyz"
    calls: list[tuple[int, int]] = []
    summary = label_file(structures, out, hf_oracle, workers=workers, progress=lambda d, t: calls.append((d, t)))
    assert (summary["total"], summary["ok"], summary["quarantined"]) == (4, 3, 1)
    assert summary["failures"] == str(tmp_path / "out.failed.extxyz")
    assert summary["level_of_theory"]["hash"] == hf_oracle.level_of_theory.hash
    assert calls[-1] == (4, 4)

    labelled = read_labelled(out)
    inputs = read(structures, index=":")
    assert len(labelled) == 3
    for frame, original in zip(labelled, [inputs[0], inputs[1], inputs[3]], strict=True):
        np.testing.assert_allclose(frame.positions, original.positions)
        result = hf_oracle.compute(original)
        assert energy_of(frame) == pytest.approx(result.energy_eV, abs=1e-6)
        np.testing.assert_allclose(forces_of(frame), result.forces_eV_per_A, atol=1e-5)
        assert frame.info["level_of_theory_hash"] == hf_oracle.level_of_theory.hash

    (failed,) = read(summary["failures"], index=":")
    assert "atoms 1 and 2 are 0 Å apart" in failed.info["error"]
    np.testing.assert_allclose(failed.positions, inputs[2].positions)


def test_no_failures_file_when_everything_succeeds(tmp_path: Path, hf_oracle: PySCFOracle) -> None:
    source = tmp_path / "in.xyz"
    write(source, [rattled("H2O")], format="extxyz")
    failures = tmp_path / "custom_failures.extxyz"
    summary = label_file(source, tmp_path / "sub" / "out.extxyz", hf_oracle, failures_path=failures)
    assert summary["quarantined"] == 0
    assert summary["failures"] is None
    assert not failures.exists()
    assert len(read_labelled(tmp_path / "sub" / "out.extxyz")) == 1


def test_nan_frame_is_quarantined_not_fatal(tmp_path: Path, hf_oracle: PySCFOracle) -> None:
    bad = rattled("H2O")
    bad.positions[0, 0] = np.nan
    source = tmp_path / "in.extxyz"
    write(source, [bad], format="extxyz")
    summary = label_file(source, tmp_path / "out.extxyz", hf_oracle)
    assert (summary["ok"], summary["quarantined"]) == (0, 1)
    assert (tmp_path / "out.extxyz").read_text() == ""
    (failed,) = read(failures_path_for(tmp_path / "out.extxyz"), index=":")
    assert "non-finite coordinates" in failed.info["error"]


def test_setup_error_stops_before_any_calculation(tmp_path: Path, hf_oracle: PySCFOracle) -> None:
    source = tmp_path / "in.extxyz"
    write(source, [rattled("H2O"), Atoms("OH", positions=[(0, 0, 0), (0, 0, 0.97)])], format="extxyz")
    with pytest.raises(OracleSetupError, match="9 electrons"):
        label_file(source, tmp_path / "out.extxyz", hf_oracle)
    assert not (tmp_path / "out.extxyz").exists()


def test_unreadable_input_is_a_data_error(tmp_path: Path, hf_oracle: PySCFOracle) -> None:
    with pytest.raises(DataError, match="no such file"):
        label_file(tmp_path / "missing.extxyz", tmp_path / "out.extxyz", hf_oracle)
    garbage = tmp_path / "garbage.extxyz"
    garbage.write_text("this is not\nan xyz file\n")
    with pytest.raises(DataError, match="cannot read as a structure file"):
        label_file(garbage, tmp_path / "out.extxyz", hf_oracle)
