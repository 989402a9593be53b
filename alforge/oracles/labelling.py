"""Labelling a structure file with an oracle: ``alforge label IN.extxyz -o OUT.extxyz``.

Successful frames go to the output file (energy in ``info``, forces in ``arrays``: the labelled
extxyz that :func:`alforge.data.read_labelled` reads), quarantined ones to a failures file with
the reason in ``info["error"]``, so nothing is lost and a rerun can pick the failures up.

Example
-------
>>> from alforge.oracles import ASEOracle
>>> summary = label_file("in.extxyz", "out.extxyz", ASEOracle("EMT"))  # doctest: +SKIP
>>> summary["ok"], summary["quarantined"]  # doctest: +SKIP
(16, 0)
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ase import Atoms

from alforge.data import labelled, write_labelled
from alforge.errors import DataError
from alforge.oracles.base import Oracle, ProgressCallback

__all__ = ["failures_path_for", "label_file"]


def failures_path_for(out_path: str | Path) -> Path:
    """Default failures file of an output file: ``<out stem>.failed.extxyz`` beside it."""
    out = Path(out_path)
    return out.with_name(f"{out.stem}.failed.extxyz")


def _read_frames(path: Path) -> list[Atoms]:
    """Every frame of ``path``; frames with bad coordinates are kept (the oracle quarantines them)."""
    from ase.io import read

    if not path.exists():
        msg = f"{path}: no such file; check the path"
        raise DataError(msg)
    try:
        frames = read(path, index=":")
    except Exception as exc:  # ASE raises many types for malformed files
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        msg = f"{path}: cannot read as a structure file ({reason}); check that it is valid extxyz/xyz"
        raise DataError(msg) from exc
    frames = [frames] if isinstance(frames, Atoms) else list(frames)
    if not frames:
        msg = f"{path}: holds no structures; give a file with at least one frame"
        raise DataError(msg)
    return frames


def label_file(
    in_path: str | Path,
    out_path: str | Path,
    oracle: Oracle,
    workers: int = 1,
    failures_path: str | Path | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """Compute every structure of ``in_path`` and write labelled and failed frames.

    Parameters
    ----------
    in_path
        Structures (extxyz/xyz or anything ASE reads), positions in Å.
    out_path
        Labelled extxyz written here: energy (eV) in ``info``, forces (eV/Å) in ``arrays``,
        ``info["level_of_theory_hash"]`` and ``info["oracle_wall_time_s"]``. Always written
        (empty when nothing succeeded).
    oracle
        Any :class:`~alforge.oracles.base.Oracle`.
    workers
        Calculations run at the same time.
    failures_path
        Where quarantined frames go (default :func:`failures_path_for` of ``out_path``), each
        with the one-line reason in ``info["error"]``; written only if some failed.
    progress
        Optional ``progress(done, total)``.

    Returns
    -------
    dict
        ``total``, ``ok``, ``quarantined`` (counts), ``wall_time_s`` (s), ``output`` and
        ``failures`` (paths as strings; ``failures`` is ``None`` when nothing failed),
        ``level_of_theory`` (dict).

    Raises
    ------
    DataError
        If ``in_path`` cannot be read, or the failures path is the output path.
    OracleSetupError
        If the oracle cannot compute these elements at all (checked before any calculation).
    """
    start = time.perf_counter()
    in_path, out_path = Path(in_path), Path(out_path)
    failed_path = Path(failures_path) if failures_path is not None else failures_path_for(out_path)
    if failed_path.resolve() == out_path.resolve():
        msg = f"failures path {failed_path} is the output path; give a different failures_path"
        raise DataError(msg)
    frames = _read_frames(in_path)
    results = oracle.compute_many(frames, workers=workers, progress=progress)
    level_hash = oracle.level_of_theory.hash
    good: list[Atoms] = []
    bad: list[Atoms] = []
    for atoms, result in zip(frames, results, strict=True):
        if result.ok and result.energy_eV is not None and result.forces_eV_per_A is not None:
            frame = labelled(atoms, result.energy_eV, result.forces_eV_per_A)
            frame.info["level_of_theory_hash"] = level_hash
            frame.info["oracle_wall_time_s"] = round(result.wall_time_s, 4)
            good.append(frame)
        else:
            frame = atoms.copy()
            frame.calc = None
            frame.info["error"] = result.error or "quarantined"
            frame.info["level_of_theory_hash"] = level_hash
            bad.append(frame)
    write_labelled(out_path, good)
    if not good:
        out_path.write_text("")
    if bad:
        write_labelled(failed_path, bad)
    return {
        "total": len(frames),
        "ok": len(good),
        "quarantined": len(bad),
        "wall_time_s": time.perf_counter() - start,
        "output": str(out_path),
        "failures": str(failed_path) if bad else None,
        "level_of_theory": oracle.level_of_theory.to_dict(),
    }
