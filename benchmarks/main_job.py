"""The README's main job (`make run`, ``examples/water.toml``) judged on data it did not produce (issue 14).

Runs the water example exactly as ``make run`` does (PBE/def2-SVP from PySCF, SQLite in a
temporary ``ALFORGE_HOME``, Prefect's ephemeral API) and scores the model the campaign ended
with on independent reference trajectories at the same level of theory and at the walkers'
temperatures (300 and 600 K in the example): twelve ab initio Langevin MD runs of water per
temperature (seeds 11–22) with the campaign's own oracle as the ASE calculator (0.5 fs steps, 200
equilibration steps, then every 10th step kept, 80 frames: 0.4 ps each; kept in git in
``benchmarks/reference/``, generated when missing). The independent error is the mean over
temperatures weighted by the share of walkers at each, as the campaign's MD is. (Until
2026-12-05 the reference was one 0.4-ps trajectory at 500 K, which the 300/600 K campaign did not
sample and which was too short for water's rare large errors; then three per temperature, which
put the same final model at 0.0066 eV/Å against 0.0069 with six; six until 2026-12-06, when seeds
17–22 were added: with 0.4 ps each and a 50-fs Langevin time, six per temperature are few
samples of water's energy.)

The campaign runs at several seeds (``--seeds``, default 0, 1, 2; 0 is the example's own, the
``make run`` campaign): a seed sets the walkers' velocities and Langevin noise and the draws, and
one seed's honesty ratio is one draw of it. Until 2026-12-05 the benchmark ran seed 0 only, which
stated 1.35–1.56× in 13 runs while seeds 1–13 stated 0.67–1.38× (ad hoc, 2026-12-05).

For the first seed it prints the campaign's verdict, the final force MAE it states (the MD-wide
estimate, else the held-out MAE), the same model's force MAE on the reference trajectories and their
ratio (the honesty ratio), the stated error's 90 % interval and whether the independent error falls
inside it, the labels, the simulated MD time and the wall time; then one row per seed. The
independent error is itself measured on finite MD (12 × 0.4 ps per temperature), so it gets its own
90 % interval (:func:`independent_interval`, a bootstrap over the reference trajectories), and the
two are called in agreement when their difference is within both intervals (:func:`consistent`): a
point estimate of the independent error outside the stated interval does not by itself show the
stated interval too narrow, since the reference's own sampling error adds to the gap. To tell a
verdict that misjudged its own MD from MD that went elsewhere than the ab initio MD, it also labels
up to 256 of the frames the walkers kept in each last generation and splits the honesty ratio into
claimed / own MD and own MD / independent.

Targets (exit 1 if missed), for every seed: the honesty ratio (claimed / independent force MAE)
lies in 0.67–1.5; a campaign that says "converged" has an independent force MAE at or below its
target; the campaign takes ≤ 3 minutes (the issue's bound for ``make run``).

Sizes: each reference trajectory (80 frames, 990 PBE gradients) takes ~8–11 min on an idle core
the first time (24 of them: ~1 h 40 min on two cores), then comes from the cache; each seed ~2.5 min
(the campaign ~1.5 min, its own MD's labels ~1 min).

``--spec`` judges another example the same way (``examples/water_cluster.toml``: reference MD
from its start structure, at its temperatures, with its oracle; the cache is per campaign name).

Usage: python benchmarks/main_job.py [--frames N] [--trajectories K] [--seeds 0,1,2] [--spec TOML] [--save JSON]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms

sys.path.insert(0, str(Path(__file__).parent))
from _table import finish, print_table
from active_vs_random import REFERENCE, oracle_langevin, own_md_errors

HERE = Path(__file__).resolve().parent
SPEC = HERE.parent / "examples" / "water.toml"
HONESTY_RANGE = (0.67, 1.5)
WALL_TARGET_S = 180.0
INDEPENDENT_BLOCK = 16  # frames per stretch in :func:`block_ratio` (80 fs)


def reference_trajectory(spec, n_frames: int, temperature_K: float, seed: int = 11) -> list[Atoms]:  # type: ignore[no-untyped-def]
    """Labelled frames of Langevin MD from the spec's first start structure at ``temperature_K``, run
    with the campaign's own oracle (kept in ``REFERENCE`` per campaign name, level, temperature and seed)."""
    from alforge.campaign.context import build_oracle, start_structures
    from alforge.data import labelled, read_labelled, write_labelled

    level = f"{spec.oracle.method}_{spec.oracle.basis}".lower().replace("*", "s")
    path = REFERENCE / (f"main_job_{spec.name}_{level}_{temperature_K:.0f}K_every10"
                        f"{'' if seed == 11 else f'_seed{seed}'}.extxyz")
    if path.exists():
        frames = read_labelled(path)
        if len(frames) >= n_frames:
            return frames[:n_frames]
    start = start_structures(spec)[0]
    atoms, dyn = oracle_langevin(start, build_oracle(spec), 0.5, seed=seed, temperature_K=temperature_K)
    print(f"generating the {spec.name} reference trajectory ({spec.oracle.method}/{spec.oracle.basis}, "
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
    REFERENCE.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".partial.extxyz")
    write_labelled(scratch, frames)
    scratch.replace(path)
    return frames


def walker_shares(spec) -> dict[float, float]:  # type: ignore[no-untyped-def]
    """Share of the walkers at each temperature (walker ``w`` runs at ``temperatures_K[w % len]``)."""
    e = spec.exploration
    temperatures = [e.temperatures_K[w % len(e.temperatures_K)] for w in range(e.walkers)]
    return {t: temperatures.count(t) / len(temperatures) for t in sorted(set(temperatures))}


def seeded(spec, seed: int):  # type: ignore[no-untyped-def]
    """``spec`` with campaign seed ``seed`` (the walkers' velocities and noise, the draws)."""
    from alforge import CampaignSpec

    return CampaignSpec.model_validate({**spec.model_dump(), "seed": seed})


def frame_errors(model: Any, frames: list[Atoms]) -> np.ndarray:
    """Mean absolute force error of ``model`` on each labelled frame (eV/Å); their mean is the force MAE."""
    from alforge.models.common.frames import stack_labelled

    _, _, _, forces = stack_labelled(frames, model.numbers)
    predicted = np.asarray(model.predict(frames).forces_eV_per_A)
    return np.abs(predicted - np.asarray(forces)).reshape(len(frames), -1).mean(axis=1)


def independent_interval(
    per_frame: dict[float, np.ndarray], shares: dict[float, float], trajectory_frames: int,
    level: float = 0.9, resamples: int = 2000, seed: int = 0,
) -> tuple[float, float]:
    """90 % interval of the independent force MAE itself, from its finite reference MD.

    A bootstrap over whole trajectories, the independent units: each temperature's trajectories
    (consecutive runs of ``trajectory_frames`` frames) are redrawn with replacement and the
    resampled per-temperature means weighted by the walkers' shares, as the independent error is.
    (Until 2026-12-06 it redrew 80-fs stretches, ``INDEPENDENT_BLOCK`` frames; on twelve trajectories
    per temperature and twenty final models the trajectories' mean errors varied 1.6× more, in
    variance, than independent stretches would make them: the stretches were too short for water's
    slow energy exchange, and the interval too narrow.)
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(resamples)
    for t, errors in per_frame.items():
        means = errors.reshape(-1, trajectory_frames).mean(axis=1)
        total += shares[t] * means[rng.integers(0, len(means), (resamples, len(means)))].mean(axis=1)
    low, high = np.quantile(total, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def block_ratio(per_frame: dict[float, np.ndarray], trajectory_frames: int) -> float:
    """Variance of the trajectories' mean errors over the variance 80-fs stretches would give them if
    they were independent (1 if they are; larger when the error stays correlated for longer)."""
    ratios = []
    for errors in per_frame.values():
        trajectories = errors.reshape(-1, trajectory_frames)
        if len(trajectories) < 2:
            continue
        blocks = trajectories[:, : trajectory_frames - trajectory_frames % INDEPENDENT_BLOCK]
        blocks = blocks.reshape(len(trajectories), -1, INDEPENDENT_BLOCK).mean(axis=2)
        ratios.append(trajectories.mean(axis=1).var(ddof=1) / (blocks.var(ddof=1) / blocks.shape[1]))
    return float(np.mean(ratios)) if ratios else float("nan")


def consistent(run: dict[str, Any]) -> bool | None:
    """Do the stated and the independent error agree within both 90 % intervals?

    Each interval read as a normal one on a log scale (half-width 1.645 σ): the two agree when
    ``|ln stated − ln independent| ≤ 1.645 √(σ_stated² + σ_independent²)``, a two-sided test at 10 %
    that counts the reference's own sampling error as well as the campaign's.
    """
    if run["interval"] is None or run["claimed"] is None:
        return None
    z = 1.6449
    sigma = [(np.log(high) - np.log(low)) / (2 * z) for low, high in (run["interval"], run["independent_interval"])]
    return bool(abs(np.log(run["claimed"] / run["independent"])) <= z * np.hypot(*sigma))


def run_seed(spec, references: dict[float, list[Atoms]], trajectory_frames: int,  # type: ignore[no-untyped-def]
             own_md_frames: int = 256) -> dict[str, Any]:
    """Run ``spec`` as ``make run`` does, in a temporary home; score its model on ``references`` (each
    temperature's trajectories of ``trajectory_frames`` frames, one after the other)."""
    from alforge import Campaign
    from alforge.campaign.context import build_oracle
    from alforge.campaign.decide import GenerationVerdict
    from alforge.reports import stated_force_mae

    shares = walker_shares(spec)
    with tempfile.TemporaryDirectory(prefix="alforge-main-job-") as home:
        os.environ["ALFORGE_HOME"] = home
        url = f"sqlite:///{home}/alforge.db"
        began = time.perf_counter()
        result = Campaign(spec, database_url=url).run()
        wall_s = time.perf_counter() - began
        campaign = Campaign.load(spec.name, database_url=url)
        generations = campaign.generations
        model = campaign.model()
        per_frame = {t: frame_errors(model, frames) for t, frames in references.items()}
        own_per_temperature, own_frames = (
            own_md_errors(url, spec.name, build_oracle(spec), model, max_frames=own_md_frames))
    per_temperature = {t: float(errors.mean()) for t, errors in per_frame.items()}
    last = generations[-1]["metrics"]
    claimed = stated_force_mae(last)
    independent = sum(shares[t] * mae for t, mae in per_temperature.items())
    return {
        "seed": spec.seed, "result": result, "last": last, "generations": len(generations), "wall_s": wall_s,
        "claimed": claimed, "independent": independent, "per_temperature": per_temperature, "per_frame": per_frame,
        "independent_interval": independent_interval(per_frame, shares, trajectory_frames),
        "block_ratio": block_ratio(per_frame, trajectory_frames),
        "ratio": None if claimed is None else claimed / independent,
        "interval": GenerationVerdict.from_metrics(0, last).interval_eV_per_A,
        "own": sum(shares[t] * own_per_temperature.get(t, float("nan")) for t in shares) if own_frames else None,
        "own_per_temperature": own_per_temperature, "own_frames": own_frames,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=80, help="frames per reference trajectory (every 10th MD step)")
    parser.add_argument("--trajectories", type=int, default=12,
                        help="independent reference trajectories per temperature (seeds 11, 12, …)")
    parser.add_argument("--seeds", default="0,1,2",
                        help="campaign seeds, comma-separated; the example's own (0) is the `make run` campaign")
    parser.add_argument("--spec", type=Path, default=SPEC,
                        help="another example to judge the same way (its start structure, temperatures and oracle)")
    parser.add_argument("--save", type=Path, default=None,
                        help="also write each seed's figures and per-frame independent errors to this JSON file")
    args = parser.parse_args()

    from alforge import CampaignSpec

    spec = CampaignSpec.from_toml(args.spec)
    references = {
        t: [f for k in range(args.trajectories) for f in reference_trajectory(spec, args.frames, t, seed=11 + k)]
        for t in walker_shares(spec)
    }
    seeds = [int(s) for s in args.seeds.split(",")]
    runs = [run_seed(seeded(spec, seed), references, args.frames) for seed in seeds]
    if args.save is not None:
        save_runs(args.save, runs, args.frames)
    first = runs[0]
    last = first["last"]
    temperatures = ", ".join(f"{t:.0f} K" for t in references)
    print_table(
        f"{'Main job (`make run`, ' if args.spec == SPEC else '('}{args.spec.name}, seed {first['seed']}) "
        "scored on independent "
        f"{spec.oracle.method}/{spec.oracle.basis} trajectories at its walkers' temperatures ({temperatures}; "
        f"{args.trajectories} × {args.frames} frames each)",
        ["quantity", "value"],
        [
            ("verdict", f"{first['result']['state']}: {first['result'].get('reason', '')}"),
            ("labels (all oracle calls) / generations", f"{last.get('labels_total')} / {first['generations']}"),
            ("simulated MD time (ps)", f"{last.get('simulated_ps_total', 0.0):.2f}"),
            ("final force MAE the verdict states (eV/Å)", _fmt(first["claimed"])),
            ("  of which held-out / estimated over the MD (eV/Å)",
             f"{_fmt(last.get('force_mae_eV_per_A'))} / {_fmt(last.get('estimated_force_mae_eV_per_A'))}"),
            ("same model on the independent trajectories, weighted by walkers (eV/Å)",
             f"{first['independent']:.4f} ({_per_temperature(first['per_temperature'])})"),
            ("honesty ratio (claimed / independent; target 0.67–1.5)", _fmt(first["ratio"], 2)),
            ("90 % interval of the stated error (eV/Å): where the independent error falls", _interval(first)),
            ("90 % interval of the independent error itself (its finite reference MD; eV/Å)",
             _independent_interval(first)),
            ("stated and independent agree within both intervals (two-sided, 10 %)", _agree(first)),
            (f"same model on its own last generation's MD ({first['own_frames']} kept frames labelled here; eV/Å)",
             f"{_fmt(first['own'])} ({_per_temperature(first['own_per_temperature'])})"),
            ("  claimed / own MD (how well the campaign measured its MD)", _split(first)[0]),
            ("  own MD / independent (the model's MD against the ab initio ensemble)", _split(first)[1]),
            ("target force MAE (eV/Å)", spec.stopping.target_force_mae_eV_per_A),
            ("wall time of the campaign (s)", f"{first['wall_s']:.0f}"),
        ],
    )
    print_table(
        f"The same campaign at {len(runs)} seeds (walker velocities, Langevin noise, draws): honesty over seeds",
        ["seed", "verdict", "labels / generations", "MD ps", "stated (eV/Å)",
         f"independent (eV/Å; {temperatures})", "honesty (0.67–1.5)", "90 % interval of the stated (eV/Å)",
         "90 % interval of the independent (eV/Å)", "agree within both", "stated / own MD", "own MD / independent",
         "wall (s)"],
        [
            (r["seed"], r["result"]["state"], f"{r['last'].get('labels_total')} / {r['generations']}",
             f"{r['last'].get('simulated_ps_total', 0.0):.1f}", _fmt(r["claimed"]),
             f"{r['independent']:.4f} ({' / '.join(f'{v:.4f}' for v in r['per_temperature'].values())})",
             _fmt(r["ratio"], 2), _interval(r), _independent_interval(r), _agree(r), *_split(r),
             f"{r['wall_s']:.0f}")
            for r in runs
        ],
    )
    bounded = [r for r in runs if r["interval"] is not None]
    print(f"The independent force MAE lies inside the stated error's 90 % interval for "
          f"{sum(r['interval'][0] <= r['independent'] <= r['interval'][1] for r in bounded)} of {len(bounded)} "
          f"seeds with an interval and above its upper end for "
          f"{sum(r['independent'] > r['interval'][1] for r in bounded)} (shown, not a target: the interval "
          "covers the held-out draw and the walkers' stretch of MD, not a part of the ensemble they never "
          "reached). Counting the independent error's own sampling error too (its interval from the "
          f"finite reference MD), the two agree in {sum(consistent(r) is True for r in bounded)} of "
          f"{len(bounded)} (about 90 % of them if both intervals are right, though not as independent trials: "
          "the seeds share one reference).")
    ratios = [r["block_ratio"] for r in runs if np.isfinite(r["block_ratio"])]
    if ratios:
        print(f"The reference trajectories' mean errors vary {np.mean(ratios):.2f}× (in variance, mean over "
              "seeds) what independent 80-fs stretches would give them, which is why the independent error's "
              "interval redraws whole trajectories.")
    target = spec.stopping.target_force_mae_eV_per_A
    failures = []
    for r in runs:
        ratio = r["ratio"]
        if ratio is None or not HONESTY_RANGE[0] <= ratio <= HONESTY_RANGE[1]:
            stated_own, own_independent = _split(r)
            cause = "" if r["claimed"] is None else (
                f": the campaign stated {stated_own}× the error the same model has on its own MD, which is "
                f"{own_independent}× its error on the ab initio trajectories")
            failures.append(f"seed {r['seed']}: honesty ratio {_fmt(ratio, 2)} outside "
                            f"{HONESTY_RANGE[0]}–{HONESTY_RANGE[1]}{cause}")
        if r["result"]["state"] == "converged" and target is not None and r["independent"] > target:
            failures.append(f"seed {r['seed']}: said converged, but the independent force MAE "
                            f"{r['independent']:.4f} exceeds the target {target}")
        if r["wall_s"] > WALL_TARGET_S:
            failures.append(f"seed {r['seed']}: the campaign took {r['wall_s']:.0f} s (target ≤ {WALL_TARGET_S:.0f} s)")
    finish(failures)


def save_runs(path: Path, runs: list[dict[str, Any]], trajectory_frames: int) -> None:
    """Each seed's figures and its per-frame errors on the reference (for analysis beyond the tables)."""
    keys = ("seed", "generations", "wall_s", "claimed", "independent", "ratio", "interval", "independent_interval",
            "own")
    path.write_text(json.dumps({
        "trajectory_frames": trajectory_frames,
        "runs": [{**{k: r[k] for k in keys}, "state": r["result"]["state"],
                  "per_temperature": {f"{t:.0f}": v for t, v in r["per_temperature"].items()},
                  "per_frame": {f"{t:.0f}": v.tolist() for t, v in r["per_frame"].items()}} for r in runs],
    }, indent=1))


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _interval(run: dict[str, Any]) -> str:
    """The stated error's interval and where the independent error falls: below, inside or above it."""
    if run["interval"] is None:
        return "-"
    low, high = run["interval"]
    where = "below" if run["independent"] < low else "above" if run["independent"] > high else "inside"
    return f"{low:.4f}–{high:.4f} ({where})"


def _independent_interval(run: dict[str, Any]) -> str:
    low, high = run["independent_interval"]
    return f"{low:.4f}–{high:.4f}"


def _agree(run: dict[str, Any]) -> str:
    agree = consistent(run)
    return "-" if agree is None else "yes" if agree else "no"


def _per_temperature(maes: dict[float, float]) -> str:
    return ", ".join(f"{t:.0f} K: {mae:.4f}" for t, mae in maes.items())


def _split(run: dict[str, Any]) -> tuple[str, str]:
    """(stated / own MD, own MD / independent) of one run, as text."""
    own, claimed = run["own"], run["claimed"]
    if own is None:
        return "-", "-"
    return ("-" if claimed is None else f"{claimed / own:.2f}"), f"{own / run['independent']:.2f}"


if __name__ == "__main__":
    main()
