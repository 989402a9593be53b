"""The README's main job (`make run`, ``examples/water.toml``) judged on data it did not produce (issue 14).

Runs the water example exactly as ``make run`` does (PBE/def2-SVP from PySCF, SQLite in a
temporary ``ALFORGE_HOME``, Prefect's ephemeral API) and scores the model the campaign ended
with on independent reference trajectories at the same level of theory and at the walkers'
temperatures (300 and 600 K in the example): six ab initio Langevin MD runs of water per
temperature (seeds 11–16) with the campaign's own oracle as the ASE calculator (0.5 fs steps, 200
equilibration steps, then every 10th step kept, 80 frames: 0.4 ps each; cached in
``benchmarks/.cache/``). The independent error is the mean over temperatures weighted by the
share of walkers at each, as the campaign's MD is. (Until 2026-12-05 the reference was one 0.4-ps
trajectory at 500 K, which the 300/600 K campaign did not sample and which was too short for
water's rare large errors; then three per temperature, which put the same final model at
0.0066 eV/Å against 0.0069 with six.)

Prints the campaign's verdict, the final force MAE it states (the MD-wide estimate, else
the held-out MAE), the same model's force MAE on the reference trajectory and their ratio (the
honesty ratio), the labels, the simulated MD time and the wall time. To tell a verdict that
misjudged its own MD from MD that went elsewhere than the ab initio MD, it also labels every
frame the walkers kept in the last generation (256 in the example; the benchmark took 102–111 s
with it against 51–53 s without, 2026-12-05) and splits the honesty ratio into claimed / own MD
and own MD / independent.

Targets (exit 1 if missed): the honesty ratio (claimed / independent force MAE) lies in
0.67–1.5; a campaign that says "converged" has an independent force MAE at or below its target;
the run takes ≤ 3 minutes (the issue's bound for ``make run``).

Sizes: each reference trajectory (80 frames, 990 PBE gradients) takes ~8–11 min on an idle core
the first time (12 of them: ~1 h on two cores), then comes from the cache; the campaign ~1 min.

Usage: python benchmarks/main_job.py [--frames N] [--trajectories K]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from ase import Atoms

sys.path.insert(0, str(Path(__file__).parent))
from _table import finish, print_table
from active_vs_random import oracle_langevin, own_md_errors

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent / "examples" / "water.toml"
CACHE = HERE / ".cache"
HONESTY_RANGE = (0.67, 1.5)
WALL_TARGET_S = 180.0


def reference_trajectory(spec, n_frames: int, temperature_K: float, seed: int = 11) -> list[Atoms]:  # type: ignore[no-untyped-def]
    """Labelled water frames of Langevin MD at ``temperature_K`` run with the campaign's own oracle (cached)."""
    from alforge.campaign.context import build_oracle
    from alforge.data import labelled, read_labelled, write_labelled

    level = f"{spec.oracle.method}_{spec.oracle.basis}".lower().replace("*", "s")
    path = CACHE / f"main_job_water_{level}_{temperature_K:.0f}K_every10{'' if seed == 11 else f'_seed{seed}'}.extxyz"
    if path.exists():
        frames = read_labelled(path)
        if len(frames) >= n_frames:
            return frames[:n_frames]
    atoms, dyn = oracle_langevin("H2O", build_oracle(spec), 0.5, seed=seed, temperature_K=temperature_K)
    print(f"generating the water reference trajectory ({spec.oracle.method}/{spec.oracle.basis}, "
          f"{temperature_K:.0f} K, seed {seed}) ...", flush=True)
    began = time.perf_counter()
    dyn.run(200)
    frames: list[Atoms] = []
    while len(frames) < n_frames:
        dyn.run(10)
        forces = atoms.get_forces(apply_constraint=False)
        frames.append(labelled(Atoms(atoms.numbers, atoms.positions), atoms.get_potential_energy(), forces))
        if len(frames) % 20 == 0:
            print(f"  {len(frames)}/{n_frames} frames, {time.perf_counter() - began:.0f} s", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".partial.extxyz")
    write_labelled(scratch, frames)
    scratch.replace(path)
    return frames


def walker_shares(spec) -> dict[float, float]:  # type: ignore[no-untyped-def]
    """Share of the walkers at each temperature (walker ``w`` runs at ``temperatures_K[w % len]``)."""
    e = spec.exploration
    temperatures = [e.temperatures_K[w % len(e.temperatures_K)] for w in range(e.walkers)]
    return {t: temperatures.count(t) / len(temperatures) for t in sorted(set(temperatures))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=80, help="frames per reference trajectory (every 10th MD step)")
    parser.add_argument("--trajectories", type=int, default=6,
                        help="independent reference trajectories per temperature (seeds 11, 12, …)")
    args = parser.parse_args()

    from alforge import Campaign, CampaignSpec
    from alforge.campaign.context import build_oracle
    from alforge.models import evaluate
    from alforge.reports import stated_force_mae

    spec = CampaignSpec.from_toml(SPEC)
    shares = walker_shares(spec)
    references = {
        t: [f for k in range(args.trajectories) for f in reference_trajectory(spec, args.frames, t, seed=11 + k)]
        for t in shares
    }
    with tempfile.TemporaryDirectory(prefix="alforge-main-job-") as home:
        os.environ["ALFORGE_HOME"] = home
        url = f"sqlite:///{home}/alforge.db"
        began = time.perf_counter()
        result = Campaign(spec, database_url=url).run()
        wall_s = time.perf_counter() - began
        campaign = Campaign.load(spec.name, database_url=url)
        generations = campaign.generations
        last = generations[-1]["metrics"]
        model = campaign.model()
        per_temperature = {t: float(evaluate(model, frames)["force_mae_eV_per_A"]) for t, frames in references.items()}
        independent = sum(shares[t] * mae for t, mae in per_temperature.items())
        own_per_temperature, own_frames = own_md_errors(url, spec.name, build_oracle(spec), model)
        own = sum(shares[t] * own_per_temperature.get(t, float("nan")) for t in shares)
    claimed = stated_force_mae(last)
    ratio = None if claimed is None else claimed / independent
    target = spec.stopping.target_force_mae_eV_per_A
    print_table(
        f"Main job (`make run`, {SPEC.name}) scored on independent {spec.oracle.method}/{spec.oracle.basis} "
        f"trajectories at its walkers' temperatures ({', '.join(f'{t:.0f} K' for t in shares)}; "
        f"{args.trajectories} × {args.frames} frames each)",
        ["quantity", "value"],
        [
            ("verdict", f"{result['state']}: {result.get('reason', '')}"),
            ("labels (all oracle calls) / generations", f"{last.get('labels_total')} / {len(generations)}"),
            ("simulated MD time (ps)", f"{last.get('simulated_ps_total', 0.0):.2f}"),
            ("final force MAE the verdict states (eV/Å)", "-" if claimed is None else f"{claimed:.4f}"),
            ("  of which held-out / estimated over the MD (eV/Å)",
             " / ".join("-" if v is None else f"{v:.4f}" for v in
                        (last.get("force_mae_eV_per_A"), last.get("estimated_force_mae_eV_per_A")))),
            ("same model on the independent trajectories, weighted by walkers (eV/Å)",
             f"{independent:.4f} (" + ", ".join(f"{t:.0f} K: {mae:.4f}" for t, mae in per_temperature.items()) + ")"),
            ("honesty ratio (claimed / independent; target 0.67–1.5)", "-" if ratio is None else f"{ratio:.2f}"),
            (f"same model on its own last generation's MD ({own_frames} kept frames labelled here; eV/Å)",
             f"{own:.4f} (" + ", ".join(f"{t:.0f} K: {mae:.4f}" for t, mae in own_per_temperature.items()) + ")"),
            ("  claimed / own MD (how well the campaign measured its MD)",
             "-" if claimed is None else f"{claimed / own:.2f}"),
            ("  own MD / independent (the model's MD ensemble against the ab initio one)", f"{own / independent:.2f}"),
            ("target force MAE (eV/Å)", target),
            ("wall time of the campaign (s)", f"{wall_s:.0f}"),
        ],
    )
    failures = []
    if ratio is None or not HONESTY_RANGE[0] <= ratio <= HONESTY_RANGE[1]:
        cause = "" if claimed is None else (
            f": the campaign stated {claimed / own:.2f}× the error the same model has on its own MD, which "
            f"is {own / independent:.2f}× its error on the ab initio trajectories")
        shown = "none (no error stated)" if ratio is None else f"{ratio:.2f}"
        failures.append(f"honesty ratio {shown} outside {HONESTY_RANGE[0]}–{HONESTY_RANGE[1]}{cause}")
    if result["state"] == "converged" and target is not None and independent > target:
        failures.append(f"said converged, but the independent force MAE {independent:.4f} exceeds the target {target}")
    if wall_s > WALL_TARGET_S:
        failures.append(f"the campaign took {wall_s:.0f} s (target ≤ {WALL_TARGET_S:.0f} s)")
    finish(failures)


if __name__ == "__main__":
    main()
