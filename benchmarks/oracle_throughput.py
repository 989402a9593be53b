"""PySCF oracle throughput with 1 and 2 parallel workers (target: speed-up ≥ 1.7× on 2 cores).

Labels a fixed set of perturbed water and ethanol geometries at HF/6-31G (seeded) with
``PySCFOracle.compute_many``, once with one worker and once with two, and prints calculations per
minute, the speed-up, and the per-call overhead of the worker processes (wall time of a warm call
minus the time PySCF spent inside the worker). Workers are started before the clock runs; the
guess cache is off so both runs do the same SCF work.

Usage: python benchmarks/oracle_throughput.py [--quick] [--target 1.7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule

sys.path.insert(0, str(Path(__file__).parent))
from _table import finish, print_table

from alforge.oracles import PySCFOracle

METHOD, BASIS = "HF", "6-31g"
SEED = 2024


def structures(n_per_molecule: int) -> list[Atoms]:
    """``n_per_molecule`` perturbed waters and ethanols (0.05 Å Gaussian noise), interleaved."""
    rng = np.random.default_rng(SEED)
    frames = []
    for _ in range(n_per_molecule):
        for name in ("H2O", "CH3CH2OH"):
            atoms = molecule(name)
            atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
            frames.append(atoms)
    return frames


def throughput(frames: list[Atoms], workers: int) -> tuple[float, int]:
    """Wall time (s) to label ``frames`` with ``workers`` parallel workers, and the ok count."""
    oracle = PySCFOracle(method=METHOD, basis=BASIS, reuse_guess=False)
    oracle.warm_up(workers)
    start = time.perf_counter()
    results = oracle.compute_many(frames, workers=workers)
    return time.perf_counter() - start, sum(result.ok for result in results)


def overhead_ms(calls: int = 20) -> float:
    """Median per-call overhead of a warm worker (caller's wall time minus PySCF's own), in ms."""
    oracle = PySCFOracle(method="HF", basis="sto-3g", reuse_guess=False)
    oracle.warm_up(1)
    h2 = molecule("H2")
    samples = []
    for _ in range(calls):
        result = oracle.compute(h2)
        inside = sum(step["seconds"] for step in result.details["ladder"])
        samples.append(result.wall_time_s - inside)
    return 1e3 * statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 structures instead of 24")
    parser.add_argument("--target", type=float, default=1.7, help="required speed-up with 2 workers")
    args = parser.parse_args()
    frames = structures(4 if args.quick else 12)
    timings = {workers: throughput(frames, workers) for workers in (1, 2)}
    serial_s = timings[1][0]
    rows = []
    for workers, (wall_s, ok) in timings.items():
        rows.append(
            (
                workers,
                f"{ok}/{len(frames)}",
                f"{wall_s:.2f}",
                f"{60 * len(frames) / wall_s:.1f}",
                f"{serial_s / wall_s:.2f}×",
            )
        )
    print_table(
        f"PySCF oracle throughput, {METHOD}/{BASIS}, water + ethanol ({os.cpu_count()} cores)",
        ["workers", "ok", "wall [s]", "calculations/min", "speed-up"],
        rows,
    )
    per_call_ms = overhead_ms()
    print(f"per-call overhead of a warm worker: {per_call_ms:.1f} ms (H2 HF/STO-3G, median of 20)")
    speed_up = serial_s / timings[2][0]
    failures = []
    if speed_up < args.target:
        failures.append(f"speed-up with 2 workers {speed_up:.2f}× < {args.target:.2f}×")
    if any(ok != len(frames) for _, ok in timings.values()):
        failures.append("some calculations were quarantined")
    if per_call_ms > 300:
        failures.append(f"per-call overhead {per_call_ms:.0f} ms > 300 ms")
    finish(failures)


if __name__ == "__main__":
    main()
