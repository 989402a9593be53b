"""Scale-out: label throughput with 1 and 2 Dask workers; GP fit time on CPU vs GPU.

Part 1 (every machine): a fixed set of perturbed ethanol geometries is stored in a fresh SQLite
campaign database and labelled at HF/6-31G by alforge's own ``label`` Prefect task, fanned out by
prefect-dask over a ``LocalCluster`` of 1 and then 2 single-threaded worker processes, exactly as
``compute.task_runner = "dask"`` runs a campaign's labelling phase (workers write their results
to the database themselves). The clock runs inside the flow, after the cluster has started; each
worker first labels one warm-up structure so PySCF's import is not timed. Target: ≥ 1.7× with
2 workers.

Part 2 (only where ``torch.cuda.is_available()``): fit time of the GP on 1,000 and 5,000 ethanol
structures (sparse solver, fixed hyperparameters) on CPU and on CUDA; target: GPU ≥ 10× faster
at 5,000. The training structures are GP-free synthetic labels (a harmonic model around
ethanol's geometry) because only the fit time is measured; on a machine without a GPU the table
says so and the target is not applicable.

Usage: python benchmarks/scaling.py [--quick] [--target 1.7] [--gpu-target 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.build import molecule

sys.path.insert(0, str(Path(__file__).parent))
from _table import finish, print_table

SEED = 7


def perturbed_ethanol(n: int, seed: int) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    frames = []
    for _ in range(n):
        atoms = molecule("CH3CH2OH")
        atoms.positions += rng.normal(scale=0.05, size=atoms.positions.shape)
        frames.append(atoms)
    return frames


def label_throughput(workers: int, n_structures: int, workdir: Path) -> tuple[float, int]:
    """Seconds to label ``n_structures`` through Dask with ``workers`` processes, and the ok count."""
    url = f"sqlite:///{workdir / f'scaling-{workers}.db'}"
    os.environ["ALFORGE_DATABASE_URL"] = url
    from prefect import flow

    from alforge import CampaignSpec
    from alforge import campaign as steps
    from alforge.db import Database
    from alforge.db.calculations import ensure_calculations
    from alforge.db.structures import add_structures
    from alforge.flows import tasks
    from alforge.flows.dask import dask_task_runner

    spec = CampaignSpec.from_dict({
        "name": f"scaling-{workers}",
        "system": {"molecule": "CH3CH2OH"},
        "oracle": {"method": "HF", "basis": "6-31g"},
        "compute": {"task_runner": "dask", "dask_workers": workers, "oracle_workers": workers},
    })
    db = Database(url)
    campaign_id = steps.start_campaign(db, spec)
    level = steps.build_oracle(spec).level_of_theory
    frames = perturbed_ethanol(workers + n_structures, SEED)
    with db.session() as session:
        structure_ids = add_structures(session, frames)
        calc_ids = list(ensure_calculations(session, structure_ids, level).values())
    db.dispose()
    warm_ids, timed_ids = calc_ids[:workers], calc_ids[workers:]

    @flow(task_runner=dask_task_runner(spec.compute), name=f"scaling-{workers}")
    def label_all() -> tuple[float, list[str]]:
        for future in [tasks.label.submit(campaign_id, cid) for cid in warm_ids]:
            future.result()
        start = time.perf_counter()
        statuses = [f.result() for f in [tasks.label.submit(campaign_id, cid) for cid in timed_ids]]
        return time.perf_counter() - start, statuses

    wall_s, statuses = label_all()
    return wall_s, sum(status == "ok" for status in statuses)


def gpu_fit_times(sizes: tuple[int, ...]) -> list[tuple[int, float, float]]:
    """(size, CPU seconds, GPU seconds) of a sparse GP fit with fixed hyperparameters."""
    from alforge.data import labelled
    from alforge.models import GPPotential

    reference = molecule("CH3CH2OH")
    rng = np.random.default_rng(SEED)
    frames = []
    for _ in range(max(sizes)):
        displacement = rng.normal(scale=0.05, size=reference.positions.shape)
        forces = -2.0 * displacement  # harmonic, 1 eV/Å² per coordinate
        energy = float((displacement**2).sum())
        frames.append(labelled(Atoms(reference.numbers, reference.positions + displacement), energy, forces))
    options = {"optimize": False, "lengthscale": 2.0, "signal_variance_eV2": 10.0, "energy_noise_eV": 0.01,
               "force_noise_eV_per_A": 0.01, "solver": "sparse", "n_inducing": 500}
    rows = []
    for size in sizes:
        times = {}
        for device in ("cpu", "cuda"):
            model = GPPotential(device=device, **options)
            start = time.perf_counter()
            model.fit(frames[:size])
            times[device] = time.perf_counter() - start
        rows.append((size, times["cpu"], times["cuda"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="12 structures instead of 32; GPU sizes 500, 1,000")
    parser.add_argument("--target", type=float, default=1.7, help="required Dask speed-up with 2 workers")
    parser.add_argument("--gpu-target", type=float, default=10.0, help="required GPU speed-up at the largest size")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    n_structures = 12 if args.quick else 32
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="alforge-scaling-") as tmp:
        os.environ.setdefault("PREFECT_HOME", str(Path(tmp) / "prefect"))
        timings = {workers: label_throughput(workers, n_structures, Path(tmp)) for workers in (1, 2)}
    serial_s, n = timings[1][0], n_structures
    print_table(
        f"Dask label throughput, ethanol HF/6-31G, {n} structures ({os.cpu_count()} cores)",
        ["Dask workers", "ok", "wall [s]", "labels/min", "speed-up"],
        [
            (workers, f"{ok}/{n}", f"{wall:.1f}", f"{60 * n / wall:.1f}", f"{serial_s / wall:.2f}×")
            for workers, (wall, ok) in timings.items()
        ],
    )
    speed_up = serial_s / timings[2][0]
    if speed_up < args.target:
        failures.append(f"Dask speed-up with 2 workers {speed_up:.2f}× < {args.target:.2f}×")
    if any(ok != n_structures for _, ok in timings.values()):
        failures.append("some calculations were quarantined")

    import torch

    if torch.cuda.is_available():
        sizes = (500, 1000) if args.quick else (1000, 5000)
        rows = gpu_fit_times(sizes)
        print_table(
            f"GP fit time, ethanol, sparse solver, CPU vs {torch.cuda.get_device_name()}",
            ["structures", "CPU [s]", "GPU [s]", "GPU speed-up"],
            [(n, f"{cpu:.1f}", f"{gpu:.2f}", f"{cpu / gpu:.1f}×") for n, cpu, gpu in rows],
        )
        gpu_speed_up = rows[-1][1] / rows[-1][2]
        if gpu_speed_up < args.gpu_target:
            failures.append(f"GPU speed-up at {rows[-1][0]} structures {gpu_speed_up:.1f}× < {args.gpu_target:.0f}×")
    else:
        print("GP fit time CPU vs GPU: no CUDA device on this machine; not measured (target not applicable).")
    finish(failures)


if __name__ == "__main__":
    main()
