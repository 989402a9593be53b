"""Active vs random learning (issues 8, 14): labels to a target error, and is the campaign's verdict honest?

For ethanol and water at one cheap level of theory (PySCF HF/STO-3G) this script

1. takes a *reference*: independent ab initio Langevin trajectories at 500 K (seeds 7, 8, …),
   kept in git in ``benchmarks/reference/`` (see its README) and generated here when missing, with
   the ``PySCFOracle`` the campaigns use as the ASE calculator, so the labels are the campaigns'
   level of theory. Ethanol: four of 1 fs steps, every 4th of 1,800 kept, 400 frames (1.6 ps;
   7–13 min on one core) each. Water: twelve of 0.5 fs steps, every 6th of 3,800 kept, 600 frames
   (1.8 ps; ~2 min) each. A seeded random half of all frames is the test set, the other half the
   pool of arm (c). Until 2026-11-29 the
   reference was the first trajectory alone; the same final models then scored 1.5× (ethanol) and
   2.2–4.6× (water) apart on its two halves: water's error is dominated by rare wide-angle bends
   (HOH > 108°, 8 % of the first half, 1.7 % of the second), so one trajectory could not tell an
   honesty ratio of 0.67 from 1.5. With four water trajectories one final model still scored
   0.0006–0.0019 eV/Å on them (2026-12-05), so water has twelve since. The report shows the
   independent error on each trajectory next to the honesty ratio;
2. fits the GP hyperparameters once by marginal likelihood on 40 pool frames and fixes them for
   every model below, so that the three arms differ only in *which* frames they label;
3. fits (c) GPs on random frames of the reference trajectory (10 … 160 frames, 3 draws each) and
   sets the target error: 1.5 × the test error of the GP on 160 random reference frames. The
   issue asks for 1.5 × sGDML's error at 1,000 random frames; this 2-core machine affords 160
   (and ``model_vs_sgdml.py`` shows the GP at least as accurate as sGDML on the same frames);
4. runs (a) an alforge campaign with uncertainty selection and (b) the same spec with
   ``selection.method = "random"``, as a new user would (:func:`campaign_spec`): the molecule's
   equilibrium structure as the one start structure, 8 walkers × 300 MD steps at 500 K that
   continue across generations, same level of theory, the benchmark's target error as
   ``stopping.target_force_mae_eV_per_A`` (the uncertainty threshold is derived from it, not
   given), 8 held-out and 4 training labels per generation (a generation that would confirm
   "converged" draws 40 held-out labels over 16× longer MD: the defaults of
   ``validation.confirm_labels`` and ``confirm_steps_factor``; each generation judged on its own;
   held-out labels join the training set a generation later), label budget 160. Every oracle
   call counts as a label: seed structures, training and held-out. Every generation's model is
   scored on the test set. (With 4 held-out and 8 training labels, measured before, ethanol
   needed 129–142 calls to the target over four runs against 110–138 over five, and its
   per-generation verdicts had a median honesty of 0.54–0.82 against 0.61–0.92; water was alike
   either way);

and, as a bound on what selection alone can give, (d) uncertainty selection from the reference pool
itself (perfect exploration: 4 random pool frames to start, no held-out labels): 4 frames a round
with the largest per-atom force std under the GP of the frames before; and (e) two selections from
the pool that need no model: farthest-point sampling of the descriptors (space-filling) and the
pool frames nearest the k-means centres of the descriptors (representative). If none of (d) and
(e) reaches the target with 1/3 of random frames' labels, no selection rule we know does
(``studies/pool_selection_rules.py`` tries five more; ``studies/greedy_oracle_bound.py`` bounds what
any rule could reach by selecting with the test error itself: 0.70× random frames' labels for
ethanol, so 1/3 is out of this model's reach there however well the walkers explore, and 0.23× for
water, where it is a matter of the rule). It prints the force MAE on
the test set against the number of labels for each arm and the labels
each needs to reach the target error, interpolated log-log between measured points. For each
campaign it also labels the frames its walkers kept in the final generation (:func:`own_md_errors`)
and splits the honesty ratio into stated / own MD × own MD / independent. A PNG plot
goes to ``benchmarks/out/active_vs_random.png``. Finally it times ASE MD on the final model of the
ethanol uncertainty campaign against energy + gradient calls at the level the model learned.

Targets (exit 1 if missed):
- uncertainty selection reaches the target error with ≤ 1/3 of the labels that random reference
  frames need (checked for each molecule);
- honesty: the force MAE each campaign's final verdict states is 0.67–1.5× the same model's force
  MAE on the independent test trajectory (every arm and molecule);
- MD coverage: the walkers ran ≥ 90 % of the final generation's step budget (every arm);
- ASE MD on the final model of the ethanol campaign (energy + forces) runs ≥ 1,000× faster
  (steps/s × seconds per oracle gradient) than the PySCF level it learned. MD through the
  model's calculator, which also computes the uncertainty at every step (as the campaign's
  walkers do by default) or only every 5th step (``exploration.check_interval = 5``), is reported
  beside it.

Sizes: the default run takes 13–20 min on two cores with the references in place (1,180 s on
2026-11-30, 766 s on 2026-12-05; 964–1,151 s since the final generation's own MD is labelled,
by arithmetic about 2 min of it: 512 ethanol frames at 0.2 s on two workers per arm); rebuilding
a missing reference adds 7.3 min of one core per ethanol trajectory and 1.4–1.7 min per water
trajectory (29 and 18 min in all, 2026-12-06; ``--generate-only --only ethanol`` and ``--only
water`` can run side by side);
``--quick`` (200-frame trajectories, ≤ 40 labels, 4 walkers × 100 steps, 1 draw) takes ~4 min
and says little.

Usage: python benchmarks/active_vs_random.py [--quick] [--only ethanol|water] [--torch-threads 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta

sys.path.insert(0, str(Path(__file__).parent))
from _table import finish, print_table

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"  # derived data (hyperparameters), not in git
REFERENCE = HERE / "reference"  # the ab initio reference trajectories, in git
OUT = HERE / "out"
TEMPERATURE_K = 500.0
TARGET_FACTOR = 1.5
LABEL_RATIO_TARGET = 1 / 3
SPEED_TARGET = 1000.0
HONESTY_RANGE = (0.67, 1.5)
COVERAGE_TARGET = 0.9
POOL_RULES = ("farthest point", "k-means")  # arm (e)


@dataclass(frozen=True)
class System:
    """One molecule of the benchmark: its reference trajectory and its campaign settings."""

    key: str
    molecule: str
    method: str
    basis: str
    timestep_fs: float
    every: int  # keep every k-th MD step
    equilibration: int  # MD steps before the first kept frame
    frames: int  # frames kept (test set + random pool)
    sizes: tuple[int, ...]  # random-frame training set sizes of arm (c)
    walkers: int
    steps: int  # MD steps per walker and generation
    labels_per_generation: int  # training labels per generation
    held_out_per_generation: int
    segments: int = 1  # independent reference trajectories (seeds 7, 8, …) of ``frames`` frames each

    @property
    def level(self) -> str:
        return f"{self.method}/{self.basis.upper()}"

    @property
    def budget(self) -> int:
        return max(self.sizes)

    @property
    def cache_stem(self) -> str:
        return (
            f"avr_{self.key}_{self.method}_{self.basis}_{TEMPERATURE_K:.0f}K_"
            f"{self.timestep_fs:g}fs_every{self.every}".lower().replace("*", "s")
        )


SYSTEMS = {
    "ethanol": System(
        key="ethanol", molecule="CH3CH2OH", method="HF", basis="sto-3g", timestep_fs=1.0, every=4,
        equilibration=200, frames=400, sizes=(10, 20, 40, 80, 160), walkers=8, steps=300,
        labels_per_generation=4, held_out_per_generation=8, segments=4,
    ),
    "water": System(
        key="water", molecule="H2O", method="HF", basis="sto-3g", timestep_fs=0.5, every=6,
        equilibration=200, frames=600, sizes=(10, 20, 40, 80, 160), walkers=8, steps=300,
        labels_per_generation=4, held_out_per_generation=8, segments=12,
    ),
}


def quick(system: System) -> System:
    """A few-minute variant: fewer frames, smaller sets, shorter walkers."""
    return replace(system, frames=200, sizes=(5, 10, 20, 40), walkers=4, steps=100, labels_per_generation=2,
                   held_out_per_generation=4, segments=1)


# ---- 1. reference trajectory -------------------------------------------------------------------


class OracleCalculator(Calculator):
    """An alforge oracle as an ASE calculator (energy in eV, forces in eV/Å); raises if quarantined."""

    implemented_properties = ("energy", "forces")  # type: ignore[assignment]

    def __init__(self, oracle: Any) -> None:
        super().__init__()
        self.oracle = oracle
        self.seconds: list[float] = []

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:  # type: ignore[no-untyped-def]
        super().calculate(atoms, properties, system_changes)
        result = self.oracle.compute(self.atoms)
        result.raise_for_status()
        self.seconds.append(result.wall_time_s)
        self.results = {"energy": result.energy_eV, "forces": result.forces_eV_per_A}


def oracle_langevin(
    name: str | Atoms, oracle: Any, timestep_fs: float, seed: int, temperature_K: float = TEMPERATURE_K
) -> tuple[Atoms, Langevin]:
    """ASE molecule ``name`` (or a copy of a structure) on the oracle, thermalised, and its Langevin
    integrator (COM fixed).

    Until 2026-12-06 ``Stationary`` and ``ZeroRotation`` kept their default
    ``preserve_temperature=True``, which after removing translation and rotation rescales the
    kinetic energy of all 3N degrees of freedom into the vibrations: water started three times too
    hot (ethanol 1.3×). Every trajectory in ``REFERENCE`` but ``main_job``'s seeds 17–22 was made so.
    The 200 equilibration steps (two Langevin times) should drain it before the first kept frame, and
    a simulation agrees; the PBE water files' first 80 fs do not, unexplained (see the README there).
    """
    atoms = molecule(name) if isinstance(name, str) else Atoms(name.numbers, name.positions)
    atoms.calc = OracleCalculator(oracle)
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K, rng=rng)
    Stationary(atoms, preserve_temperature=False)
    ZeroRotation(atoms, preserve_temperature=False)
    atoms.set_constraint(FixCom())
    dyn = Langevin(
        atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=0.02 / units.fs, fixcm=False, rng=rng,
    )
    return atoms, dyn


def reference_trajectory(system: System) -> tuple[list[Atoms], dict[str, Any]]:
    """Labelled frames of ``system.segments`` independent PySCF Langevin trajectories at 500 K (each
    kept in ``REFERENCE``), concatenated; ``info["block"]`` numbers the contiguous stretches of time
    that :func:`block_maes` scores apart, and the metadata are the first segment's with totals."""
    parts = [reference_segment(system, k) for k in range(system.segments)]
    frames = [frame for part, _ in parts for frame in part]
    for k, (part, _) in enumerate(parts):
        for i, frame in enumerate(part):
            frame.info["block"] = k if system.segments > 1 else 2 * i // len(part)
    meta = dict(parts[0][1])
    meta.update(segments=system.segments, frames=len(frames),
                gradients=sum(m["gradients"] for _, m in parts), wall_s=sum(m["wall_s"] for _, m in parts))
    return frames, meta


def reference_segment(system: System, k: int) -> tuple[list[Atoms], dict[str, Any]]:
    """Segment ``k`` of the reference (seed ``7 + k``): labelled frames and the run's metadata (kept in
    ``REFERENCE``)."""
    from alforge.data import labelled, read_labelled, write_labelled
    from alforge.oracles import PySCFOracle

    path = REFERENCE / f"{system.cache_stem}{'' if k == 0 else f'_seed{7 + k}'}.extxyz"
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        frames = read_labelled(path)
        if len(frames) >= system.frames:
            return frames[: system.frames], json.loads(meta_path.read_text())
    REFERENCE.mkdir(parents=True, exist_ok=True)
    oracle = PySCFOracle(method=system.method, basis=system.basis, wall_time_s=300)
    oracle.warm_up(1)
    atoms, dyn = oracle_langevin(system.molecule, oracle, system.timestep_fs, seed=7 + k)
    print(f"generating {system.key} reference trajectory {k + 1} of {system.segments} ({system.level}, "
          f"{TEMPERATURE_K:.0f} K) ...", flush=True)
    began = time.perf_counter()
    dyn.run(system.equilibration)
    frames: list[Atoms] = []
    while len(frames) < system.frames:
        dyn.run(system.every)
        # raw forces: with FixCom set, get_forces() would return them projected (ASE's FixCom.adjust_forces)
        forces = atoms.get_forces(apply_constraint=False)
        frames.append(labelled(Atoms(atoms.numbers, atoms.positions), atoms.get_potential_energy(), forces))
        if len(frames) % 100 == 0:
            print(f"  {len(frames)}/{system.frames} frames, {time.perf_counter() - began:.0f} s", flush=True)
    seconds = atoms.calc.seconds
    meta = {
        "molecule": system.molecule,
        "level": system.level,
        "temperature_K": TEMPERATURE_K,
        "timestep_fs": system.timestep_fs,
        "every": system.every,
        "equilibration_steps": system.equilibration,
        "frames": len(frames),
        "gradients": len(seconds),
        "median_s_per_gradient": statistics.median(seconds),
        "wall_s": time.perf_counter() - began,
        "cpu_count": os.cpu_count(),
    }
    scratch = path.with_suffix(".partial.extxyz")
    write_labelled(scratch, frames)
    scratch.replace(path)
    meta_path.write_text(json.dumps(meta, indent=1))
    return frames, meta


def split(frames: list[Atoms]) -> tuple[list[Atoms], list[Atoms]]:
    """(test set, random pool): a seeded random half each."""
    order = np.random.default_rng(0).permutation(len(frames))
    half = len(frames) // 2
    return [frames[i] for i in order[:half]], [frames[i] for i in order[half:]]


# ---- 2. fixed hyperparameters ------------------------------------------------------------------


def hyperparameters(system: System, pool: list[Atoms]) -> dict[str, float]:
    """GP hyperparameters by marginal likelihood on 40 pool frames (cached), as fixed model options."""
    from alforge.models import build_model

    path = CACHE / f"{system.cache_stem}.hyperparameters-pool{len(pool)}.json"  # the pool depends on --quick
    if path.exists():
        return json.loads(path.read_text())
    n = min(40, len(pool))
    print(f"fitting {system.key} GP hyperparameters on {n} reference frames ...", flush=True)
    model = build_model("gp", kernel="matern52")
    model.fit(pool[:n])
    h = model.hyperparameters
    fixed = {
        "lengthscale": float(h["lengthscale_per_A"]),
        "signal_variance_eV2": float(h["signal_variance_eV2"]),
        "energy_noise_eV": float(h["energy_noise_eV"]),
        "force_noise_eV_per_A": float(h["force_noise_eV_per_A"]),
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fixed, indent=1))
    return fixed


def fixed_gp(hyper: dict[str, float]) -> Any:
    from alforge.models import build_model

    return build_model("gp", kernel="matern52", optimize=False, **hyper)


def force_mae(model: Any, test: list[Atoms]) -> float:
    from alforge.models import evaluate

    return float(evaluate(model, test)["force_mae_eV_per_A"])


def block_maes(model: Any, test: list[Atoms]) -> list[float]:
    """Force MAE of ``model`` on the test frames of each independent stretch of the reference
    (``info["block"]``: each trajectory, or each half of a single one): how far the independent
    error itself moves with the stretch of MD it is measured on."""
    blocks = sorted({f.info["block"] for f in test})
    return [force_mae(model, [f for f in test if f.info["block"] == b]) for b in blocks]


# ---- 3. campaigns ----------------------------------------------------------------------------------


def campaign_spec(
    system: System, method: str, hyper: dict[str, float], target: float, seed: int = 0,
    check_interval: int | None = None, converge_on: str | None = None,
) -> dict[str, Any]:
    """The campaign of arm (a) (``method="uncertainty"``) or (b) (``"random"``), as a new user would run it.

    One start structure (the equilibrium geometry) and walkers at 500 K; the threshold is not
    given but derived from the target force MAE (the benchmark's target) and the model's own
    calibration; held-out labels are on and, like the seed structures, count against the label
    budget. Both arms are judged by the same honest verdict. Only the GP hyperparameters are
    fixed, so that the arms differ in *which* frames they label. ``seed``, ``check_interval`` and
    ``converge_on`` (``None``: the product's default) are the command line's ``--seed``,
    ``--check-interval`` and ``--converge-on``.
    """
    exploration = {} if check_interval is None else {"check_interval": check_interval}
    judged = {} if converge_on is None else {"converge_on": converge_on}
    return {
        "name": f"avr-{system.key}-{method}",
        "seed": seed,
        "system": {"molecule": system.molecule, "seed_structures": 4, "rattle_A": 0.05},
        "oracle": {"name": "pyscf", "method": system.method, "basis": system.basis, "wall_time_s": 300},
        "model": {"kind": "gp", "kernel": "matern52", "hyperparameters": {
            "lengthscale_per_A": hyper["lengthscale"], "signal_variance_eV2": hyper["signal_variance_eV2"],
            "energy_noise_eV": hyper["energy_noise_eV"], "force_noise_eV_per_A": hyper["force_noise_eV_per_A"],
        }},
        "exploration": {
            "walkers": system.walkers, "temperatures_K": [TEMPERATURE_K], "timestep_fs": system.timestep_fs,
            "steps": system.steps, "thermostat": "langevin", **exploration,
        },
        "selection": {"method": method, "max_labels": system.labels_per_generation, "diversity": "fps"},
        "validation": {"labels_per_generation": system.held_out_per_generation},
        "stopping": {
            "max_labels": system.budget, "max_generations": 4 * system.budget // system.labels_per_generation + 4,
            "target_force_mae_eV_per_A": target, "confident_fraction": 0.95, **judged,
        },
        "compute": {"oracle_workers": 2, "device": "cpu"},
    }


@dataclass
class CampaignOutcome:
    """A finished campaign arm: its learning curve on the test set, its own verdict and how honest it was."""

    name: str
    curve: list[tuple[int, float]]  # (oracle calls when the model was fitted, test force MAE eV/Å)
    labels: int  # every oracle call of the campaign: seeds, training and held-out
    generations: int
    state: str
    reason: str
    wall_s: float
    final_model: Any  # the last generation's model, the one its verdict is about
    claimed_mae: float | None  # the force MAE the final verdict states (the MD-wide estimate, else held-out)
    held_out_mae: float | None  # the final generation's held-out force MAE alone
    test_mae: float  # the same model on the independent test trajectory
    test_block_maes: list[float]  # the same on each independent stretch of it (block_maes)
    coverage: float | None  # share of the MD step budget the walkers ran in the final generation
    confident: float | None  # share of budgeted MD steps below the threshold in the final generation
    simulated_ps: float
    labels_frames: list[Atoms]
    # (generation index, stated, independent force MAE) of every generation with a verdict, the final
    # one included, and the stated error's 90 % interval (None where the generation has none)
    history: list[tuple[int, float, float, tuple[float, float] | None]] = field(default_factory=list)
    own_md_mae: float | None = None  # the final model on its own last generation's MD frames (own_md_errors)
    own_md_frames: int = 0

    @property
    def honesty_factors(self) -> str:
        """The honesty ratio as (claimed / own MD) × (own MD / independent), or ``-``."""
        if self.claimed_mae is None or not self.own_md_mae:
            return "-"
        return f"{self.claimed_mae / self.own_md_mae:.2f} × {self.own_md_mae / self.test_mae:.2f}"

    @property
    def honesty(self) -> float | None:
        """Claimed / independent force MAE (1 is honest; below 1 overclaims)."""
        return None if self.claimed_mae is None else self.claimed_mae / self.test_mae


def own_md_errors(
    url: str, name: str, oracle: Any, model: Any, max_frames: int = 512
) -> tuple[dict[float, float], int]:
    """Force MAE of ``model`` on campaign ``name``'s own last-generation MD, per walker temperature.

    The frames the walkers kept evenly in time in the last generation (the population the
    verdict's estimate extends to; at most ``max_frames``, evenly strided) are labelled here with
    ``oracle``, two at a time. The honesty ratio then splits into stated / own MD (how well the
    campaign measured its own MD) and own MD / independent (how far the model's MD ensemble lies
    from the ab initio one). Returns ``({temperature_K: force MAE}, frames labelled)``.
    """
    from sqlalchemy import select

    from alforge.db import Candidate, Database, Generation, MDRun
    from alforge.db.campaigns import campaign_by_name
    from alforge.db.structures import get_atoms

    db = Database(url)
    with db.session(readonly=True) as session:
        campaign_id = campaign_by_name(session, name).id  # type: ignore[union-attr]
        generation_id = session.scalars(
            select(Generation.id).where(Generation.campaign_id == campaign_id).order_by(Generation.index.desc())
        ).first()
        rows = session.execute(
            select(Candidate.structure_id, MDRun.temperature_K)
            .join(MDRun, MDRun.id == Candidate.md_run_id)
            .where(Candidate.generation_id == generation_id, Candidate.origin == "sampled")
            .order_by(Candidate.id)
        ).all()
        rows = rows[:: max(1, -(-len(rows) // max_frames))]
        frames = get_atoms(session, [structure for structure, _ in rows])
    if not frames:
        return {}, 0
    oracle.warm_up(2)
    results = oracle.compute_many(frames, workers=2)
    predicted = model.predict(frames).forces_eV_per_A
    errors: dict[float, list[float]] = {}
    for (_, temperature), result, forces in zip(rows, results, predicted, strict=True):
        if result.ok:
            errors.setdefault(temperature, []).append(float(np.mean(np.abs(forces - result.forces_eV_per_A))))
    return {t: float(np.mean(e)) for t, e in sorted(errors.items())}, sum(len(e) for e in errors.values())


def run_campaign(
    system: System, method: str, hyper: dict[str, float], target: float, test: list[Atoms], url: str,
    args: argparse.Namespace,
) -> CampaignOutcome:
    """Run arm (a) or (b) and score every generation's model on the test set."""
    from sqlalchemy import select

    from alforge import Campaign
    from alforge.db import Database, Generation, ModelRecord
    from alforge.db.calculations import labelled_frames
    from alforge.db.campaigns import campaign_by_name
    from alforge.db.exchange import campaign_calculation_ids
    from alforge.models import load_model
    from alforge.reports import stated_force_mae

    spec = campaign_spec(system, method, hyper, target, args.seed, args.check_interval, args.converge_on)
    print(f"running campaign {spec['name']} ...", flush=True)
    began = time.perf_counter()
    result = Campaign(spec, database_url=url).run()
    wall_s = time.perf_counter() - began
    db = Database(url)
    with db.session(readonly=True) as session:
        campaign_id = campaign_by_name(session, spec["name"]).id  # type: ignore[union-attr]
        generations = list(session.execute(
            select(Generation.index, Generation.metrics)
            .where(Generation.campaign_id == campaign_id).order_by(Generation.index)
        ))
        paths = dict(session.execute(
            select(ModelRecord.id, ModelRecord.artifact_path).where(ModelRecord.campaign_id == campaign_id)
        ).tuples().all())
        all_ids = campaign_calculation_ids(session, campaign_id, split=None)
        frames = labelled_frames(session, all_ids)
    curve: list[tuple[int, float]] = []
    models: dict[int, Any] = {}
    test_maes: dict[int, float] = {}  # each model scored on the test set once
    calls_before = 0
    for _, metrics in generations:
        model_id = (metrics or {}).get("model_id")
        if model_id is not None and model_id in paths and model_id not in models:
            models[model_id] = load_model(paths[model_id])
            test_maes[model_id] = force_mae(models[model_id], test)
            curve.append((calls_before, test_maes[model_id]))
        calls_before = int((metrics or {}).get("labels_total", calls_before))
    history = []
    for index, metrics in generations:
        stated = stated_force_mae(metrics or {})
        if index > 0 and stated is not None and (metrics or {}).get("model_id") in models:
            interval = metrics.get("estimated_force_mae_interval_eV_per_A")
            history.append((index, stated, test_maes[metrics["model_id"]], tuple(interval) if interval else None))
    last = generations[-1][1] or {}
    final_id = last["model_id"] if last.get("model_id") in models else next(reversed(models))
    final = models[final_id]
    from alforge.oracles import PySCFOracle

    own, own_frames = own_md_errors(url, spec["name"], PySCFOracle(method=system.method, basis=system.basis), final)
    return CampaignOutcome(
        name=spec["name"], curve=curve, labels=len(all_ids), generations=len(generations),
        state=result["state"], reason=str(result.get("reason", "")), wall_s=wall_s, final_model=final,
        claimed_mae=stated_force_mae(last),
        held_out_mae=last.get("force_mae_eV_per_A"), test_mae=test_maes[final_id],
        test_block_maes=block_maes(final, test),
        coverage=last.get("md_completed_fraction"), confident=last.get("confident_fraction"),
        simulated_ps=float(last.get("simulated_ps_total") or 0.0), labels_frames=frames, history=history,
        own_md_mae=float(np.mean(list(own.values()))) if own else None, own_md_frames=own_frames,
    )


def hocc_torsions_deg(frames: list[Atoms]) -> np.ndarray:
    """The H–O–C–C torsion (degrees) of ethanol frames, atoms found by connectivity in the first frame."""
    first = frames[0]
    numbers = first.numbers
    o = int(np.flatnonzero(numbers == 8)[0])
    distances = first.get_all_distances()
    h = min((i for i in np.flatnonzero(numbers == 1)), key=lambda i: distances[o, i])
    carbons = sorted(np.flatnonzero(numbers == 6), key=lambda i: distances[o, i])
    c1, c2 = int(carbons[0]), int(carbons[1])
    return np.array([f.get_dihedral(int(h), o, c1, c2) for f in frames])


def torsion_coverage(labels: list[Atoms], reference: list[Atoms], width_deg: float = 20.0) -> float:
    """Share of reference frames whose H–O–C–C torsion lies within ``width_deg`` of some label's."""
    ours, theirs = hocc_torsions_deg(labels), hocc_torsions_deg(reference)
    gap = np.abs(((theirs[:, None] - ours[None, :]) + 180.0) % 360.0 - 180.0).min(axis=1)
    return float(np.mean(gap <= width_deg))


# ---- 4. random reference frames -------------------------------------------------------------------


def random_curve(
    sizes: tuple[int, ...], pool: list[Atoms], test: list[Atoms], hyper: dict[str, float], repeats: int
) -> list[tuple[int, float, float]]:
    """(size, mean test force MAE, std over draws) of GPs fitted on random pool frames."""
    rows = []
    for size in sizes:
        maes = []
        for draw in range(repeats if size < len(pool) else 1):
            picks = np.random.default_rng([size, draw]).choice(len(pool), size=size, replace=False)
            model = fixed_gp(hyper)
            model.fit([pool[i] for i in picks])
            maes.append(force_mae(model, test))
        rows.append((size, float(np.mean(maes)), float(np.std(maes))))
        print(f"  {size} random reference frames: force MAE {rows[-1][1]:.4f} eV/Å", flush=True)
    return rows


def pool_greedy_curve(
    pool: list[Atoms], test: list[Atoms], hyper: dict[str, float], batch: int, budget: int, target: float,
) -> list[tuple[int, float]]:
    """Arm (d), a bound on what selection alone can give: uncertainty selection from the reference pool.

    Perfect exploration (the candidates are the reference frames themselves) and no held-out
    labels: from 4 random pool frames, add the ``batch`` frames with the largest per-atom force
    std under the current GP, refit, repeat; stop at ``budget`` labels or once the test error is
    below 0.8 × ``target`` (enough to interpolate the crossing).
    """
    chosen = [int(i) for i in np.random.default_rng(100).choice(len(pool), size=4, replace=False)]
    curve: list[tuple[int, float]] = []
    while True:
        model = fixed_gp(hyper)
        model.fit([pool[i] for i in chosen])
        curve.append((len(chosen), force_mae(model, test)))
        if curve[-1][1] < 0.8 * target or len(chosen) >= budget:
            return curve
        rest = [i for i in range(len(pool)) if i not in set(chosen)]
        stds = np.asarray(model.predict([pool[i] for i in rest]).forces_std_eV_per_A).reshape(len(rest), -1)
        chosen += [rest[i] for i in np.argsort(-stds.max(axis=1))[:batch]]


def pool_rule_curve(
    pool: list[Atoms], test: list[Atoms], hyper: dict[str, float], rule: str, budget: int, target: float,
) -> list[tuple[int, float]]:
    """Arm (e): ``rule`` (``"farthest point"`` or ``"k-means"``) picks ``n`` pool frames from their
    descriptors alone, for n = 10, 20, 30, … up to ``budget``, until the test error is below
    0.8 × ``target``.

    Farthest point: greedy max-min distance from pool frame 0. k-means: k-means++ centres
    (SciPy, seeded), then the pool frame nearest each centre.
    """
    from scipy.cluster.vq import kmeans2

    from alforge.models.common.farthest_point import farthest_point_indices

    probe = fixed_gp(hyper)
    probe.fit(pool[:4])  # only for its descriptor (inverse distances)
    descriptors = probe.descriptor(pool)
    curve: list[tuple[int, float]] = []
    for n in (*range(10, 40, 10), *range(40, budget + 1, 20)):
        if rule == "farthest point":
            picks = farthest_point_indices(descriptors, n, first=0).tolist()
        else:
            centres, _ = kmeans2(descriptors, n, minit="++", seed=0)
            picks = []
            for centre in centres:
                order = np.argsort(((descriptors - centre) ** 2).sum(1))
                picks.append(next(int(i) for i in order if int(i) not in picks))
        model = fixed_gp(hyper)
        model.fit([pool[i] for i in picks])
        curve.append((n, force_mae(model, test)))
        if curve[-1][1] < 0.8 * target:
            break
    return curve


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> float | None:
    """Labels at the first crossing of ``target``, interpolated log-log; ``None`` if never reached."""
    points = sorted(curve)
    for i, (n, mae) in enumerate(points):
        if mae <= target:
            if i == 0:
                return float(n)
            n0, m0 = points[i - 1]
            fraction = (np.log(m0) - np.log(target)) / (np.log(m0) - np.log(mae))
            return float(np.exp(np.log(n0) + fraction * (np.log(n) - np.log(n0))))
    return None


# ---- 5. speed ------------------------------------------------------------------------------------


def md_steps_per_s(calculator: Calculator, start: Atoms, steps: int, check_interval: int = 0) -> float:
    """ASE Langevin steps per second at 500 K (0.5 fs steps) on ``calculator``, after 10 warm-up steps;
    with ``check_interval``, reading ``forces_std`` every that many steps as a walker does."""
    atoms = Atoms(start.numbers, start.positions)
    atoms.calc = calculator
    atoms.set_constraint(FixCom())
    rng = np.random.default_rng(1)
    thermalize_momenta(atoms, TEMPERATURE_K, rng=rng)
    dyn = Langevin(atoms, 0.5 * units.fs, temperature_K=TEMPERATURE_K, friction=0.02 / units.fs, fixcm=False, rng=rng)
    if check_interval:
        dyn.attach(lambda: calculator.get_property("forces_std", atoms), interval=check_interval)
    dyn.run(10)
    began = time.perf_counter()
    dyn.run(steps)
    return steps / (time.perf_counter() - began)


def md_speed(model: Any, frames: list[Atoms], steps: int = 300) -> tuple[float, float, float, float]:
    """ASE Langevin steps/s on the model (energy + forces only; with the uncertainty at every step,
    as the campaign's walkers read it by default; with it every 5th step, on request, as walkers
    with ``exploration.check_interval = 5`` do) and the median time of the mean prediction alone
    for one structure (s)."""
    start = frames[0]
    positions = start.positions[None]
    times = []
    for _ in range(steps):
        began = time.perf_counter()
        model.predict_positions(positions, with_std=False)
        times.append(time.perf_counter() - began)
    return (md_steps_per_s(model.calculator(uncertainty=False), start, steps),
            md_steps_per_s(model.calculator(), start, steps),
            md_steps_per_s(model.calculator(uncertainty="on_request"), start, steps, check_interval=5),
            statistics.median(times))


def oracle_seconds(system: System, frames: list[Atoms], calls: int = 10) -> float:
    """Median wall time (s) of one energy + gradient at the reference level (warm worker, MD frames)."""
    from alforge.oracles import PySCFOracle

    oracle = PySCFOracle(method=system.method, basis=system.basis)
    oracle.warm_up(1)
    oracle.compute(frames[0])
    return statistics.median(oracle.compute(f).wall_time_s for f in frames[1 : calls + 1])


# ---- report ------------------------------------------------------------------------------------


def fmt_labels(value: float | None, budget: int) -> str:
    return f"not reached (> {budget})" if value is None else f"{value:.0f}"


def plot(results: dict[str, dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4.5), squeeze=False)
    for ax, (key, r) in zip(axes[0], results.items(), strict=True):
        sizes, means, stds = zip(*r["random_reference"], strict=True)
        ax.errorbar(sizes, means, yerr=stds, marker="o", label="(c) random reference frames", color="tab:gray")
        for arm, colour, label in (("uncertainty", "tab:blue", "(a) campaign, uncertainty"),
                                   ("random", "tab:orange", "(b) campaign, random")):
            if arm in r["campaigns"]:
                n, mae = zip(*r["campaigns"][arm].curve, strict=True)
                ax.plot(n, mae, marker=".", color=colour, label=label)
        n, mae = zip(*r["pool_greedy"], strict=True)
        ax.plot(n, mae, marker=".", linestyle=":", color="tab:green", label="(d) uncertainty selection from the pool")
        for (rule, curve), colour in zip(r["pool_rules"].items(), ("tab:purple", "tab:brown"), strict=True):
            n, mae = zip(*curve, strict=True)
            ax.plot(n, mae, marker=".", linestyle=":", color=colour, label=f"(e) {rule} selection from the pool")
        ax.axhline(r["target"], color="k", linestyle="--", linewidth=1, label=f"target {r['target']:.3g} eV/Å")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("labels (reference calculations)")
        ax.set_ylabel("test force MAE (eV/Å)")
        ax.set_title(f"{key}, {r['level']}, {TEMPERATURE_K:.0f} K ({r['n_test']} test frames)")
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def benchmark(system: System, args: argparse.Namespace, url: str) -> dict[str, Any]:
    frames, meta = reference_trajectory(system)
    test, pool = split(frames)
    hyper = hyperparameters(system, pool)
    print(f"{system.key}: {len(test)} test frames, pool {len(pool)}; fixed hyperparameters {hyper}", flush=True)
    reference = random_curve(system.sizes, pool, test, hyper, args.repeats)
    target = TARGET_FACTOR * reference[-1][1]
    print(f"{system.key}: target force MAE {target:.4f} eV/Å (the campaigns derive their thresholds from it)",
          flush=True)
    bound = pool_greedy_curve(pool, test, hyper, system.labels_per_generation, system.budget, target)
    print(f"{system.key}: (d) uncertainty selection from the reference pool: {bound[-1][1]:.4f} eV/Å at "
          f"{bound[-1][0]} labels", flush=True)
    rules = {rule: pool_rule_curve(pool, test, hyper, rule, system.budget, target) for rule in POOL_RULES}
    for rule, curve in rules.items():
        print(f"{system.key}: (e) {rule} selection from the reference pool: {curve[-1][1]:.4f} eV/Å at "
              f"{curve[-1][0]} labels", flush=True)
    campaigns = {
        method: run_campaign(system, method, hyper, target, test, url, args) for method in ("uncertainty", "random")
    }
    return {
        "system": system, "meta": meta, "n_test": len(test), "level": system.level, "hyper": hyper,
        "random_reference": reference, "pool_greedy": bound, "pool_rules": rules, "target": target,
        "campaigns": campaigns, "test": test, "frames": frames,
    }


def report(key: str, r: dict[str, Any], failures: list[str]) -> None:
    """Print one molecule's tables and add its missed targets to ``failures``."""
    system = r["system"]
    rows: list[tuple[object, ...]] = [
        ("(c) random reference frames", n, f"{mae:.4f} ± {sd:.4f}") for n, mae, sd in r["random_reference"]
    ]
    for arm, outcome in r["campaigns"].items():
        label = "(a) campaign, uncertainty" if arm == "uncertainty" else "(b) campaign, random"
        rows += [(label, n, f"{mae:.4f}") for n, mae in outcome.curve]
    rows += [("(d) uncertainty selection from the reference pool", n, f"{mae:.4f}") for n, mae in r["pool_greedy"]]
    for rule, curve in r["pool_rules"].items():
        rows += [(f"(e) {rule} selection from the reference pool", n, f"{mae:.4f}") for n, mae in curve]
    print_table(
        f"Active vs random, {key} {r['level']} {TEMPERATURE_K:.0f} K: test force MAE (eV/Å) vs oracle calls "
        f"({r['n_test']} test frames; a campaign's calls include seeds and held-out labels)",
        ["arm", "oracle calls", "test force MAE"],
        rows,
    )
    reference_needs = labels_to_reach([(n, m) for n, m, _ in r["random_reference"]], r["target"])
    summary = [("(c) random reference frames", *["-"] * 7, fmt_labels(reference_needs, system.budget), "1")]
    bound_needs = labels_to_reach(r["pool_greedy"], r["target"])
    bound_ratio = None if bound_needs is None or reference_needs is None else bound_needs / reference_needs
    summary.append(("(d) uncertainty selection from the reference pool (no MD, no held-out labels)",
                    *["-"] * 7, fmt_labels(bound_needs, system.budget),
                    "-" if bound_ratio is None else f"{bound_ratio:.2f}"))
    selection_only = [f"{fmt_labels(bound_needs, system.budget)} (d, uncertainty)"]
    for rule, curve in r["pool_rules"].items():
        needs = labels_to_reach(curve, r["target"])
        ratio = "-" if needs is None or reference_needs is None else f"{needs / reference_needs:.2f}"
        summary.append((f"(e) {rule} selection from the reference pool (no model)", *["-"] * 7,
                        fmt_labels(needs, system.budget), ratio))
        selection_only.append(f"{fmt_labels(needs, system.budget)} ({rule})")
    for arm, outcome in r["campaigns"].items():
        needs = labels_to_reach(outcome.curve, r["target"])
        ratio = "-" if needs is None or reference_needs is None else f"{needs / reference_needs:.2f}"
        honesty = outcome.honesty
        claimed = "-" if outcome.claimed_mae is None else f"{outcome.claimed_mae:.4f}"
        held_out = "-" if outcome.held_out_mae is None else f"{outcome.held_out_mae:.4f}"
        low, high = min(outcome.test_block_maes), max(outcome.test_block_maes)
        spread = f"{low:.4f}–{high:.4f}"
        if outcome.claimed_mae is not None:
            spread += f" ({outcome.claimed_mae / high:.2f}–{outcome.claimed_mae / low:.2f})"
        summary.append((
            f"({'a' if arm == 'uncertainty' else 'b'}) campaign, {arm}",
            f"{outcome.labels} in {outcome.generations} gens, {outcome.state}",
            f"{claimed} ({held_out}) / {outcome.test_mae:.4f}",
            "-" if honesty is None else f"{honesty:.2f}",
            spread,
            f"{'-' if outcome.own_md_mae is None else f'{outcome.own_md_mae:.4f}'} ({outcome.honesty_factors})",
            "-" if outcome.coverage is None else f"{outcome.coverage:.0%}",
            f"{outcome.simulated_ps:.2f}",
            fmt_labels(needs, system.budget),
            ratio,
        ))
        name = f"{key}, {arm} arm"
        if arm == "uncertainty" and (needs is None or reference_needs is None
                                     or needs > LABEL_RATIO_TARGET * reference_needs):
            failures.append(
                f"{name}: needs {fmt_labels(needs, system.budget)} oracle calls for {r['target']:.3g} eV/Å, random "
                f"reference frames {fmt_labels(reference_needs, system.budget)} (target ≤ 1/3); selection alone, "
                f"from the reference frames themselves, needs {', '.join(selection_only)}"
            )
        if outcome.state == "converged" and outcome.test_mae > r["target"]:
            failures.append(
                f"{name}: FALSE VERDICT: 'converged' while the independent force MAE is {outcome.test_mae:.4f} "
                f"> target {r['target']:.4f} eV/Å"
            )
        if honesty is None or not HONESTY_RANGE[0] <= honesty <= HONESTY_RANGE[1]:
            failures.append(
                f"{name}: claimed force MAE {claimed} vs {outcome.test_mae:.4f} eV/Å on the independent "
                f"trajectory (honesty ratio {'-' if honesty is None else f'{honesty:.2f}'}, target "
                f"{HONESTY_RANGE[0]}–{HONESTY_RANGE[1]}); the independent MAE itself is {spread} eV/Å "
                f"on the reference's {len(outcome.test_block_maes)} independent stretches; claimed / own MD × "
                f"own MD / independent = {outcome.honesty_factors} (the first factor is how well the campaign "
                f"measured its own MD, the second how far that MD lies from the ab initio ensemble)"
            )
        if outcome.coverage is None or outcome.coverage < COVERAGE_TARGET:
            failures.append(f"{name}: walkers ran {outcome.coverage} of the final generation's MD budget "
                            "(target ≥ 90 %)")
    print_table(
        f"Labels to reach {r['target']:.3g} eV/Å ({TARGET_FACTOR}× the MAE of a GP on {system.budget} random "
        f"reference frames), honesty and MD coverage, {key} {r['level']}",
        ["arm", "oracle calls, generations, state", "final claimed (held-out only) / independent force MAE",
         "honesty ratio", "independent MAE per stretch of the reference, min–max (honesty against them)",
         "final model on its own last MD, labelled here (claimed / own × own / independent)",
         "MD coverage (final gen)", "simulated ps", "calls to target", "vs (c)"],
        summary,
    )
    for arm, outcome in r["campaigns"].items():
        print(f"  {arm} arm verdict: {outcome.state}: {outcome.reason}")
    rows = []
    for arm, outcome in r["campaigns"].items():
        ratios = np.array([stated / test for _, stated, test, _ in outcome.history])
        where = {g: int(test > i[1]) - int(test < i[0]) for g, _, test, i in outcome.history if i is not None}
        outside = {side: ", ".join(str(g) for g, w in where.items() if w == sign) or "-"
                   for side, sign in (("above", 1), ("below", -1))}
        if ratios.size:
            rows.append((arm, ratios.size, f"{np.median(ratios):.2f}", f"{ratios.min():.2f}–{ratios.max():.2f}",
                         f"{np.mean(ratios < HONESTY_RANGE[0]):.0%}", f"{np.mean(ratios > HONESTY_RANGE[1]):.0%}",
                         f"{list(where.values()).count(0)} of {len(where)}",
                         f"{outside['above']} / {outside['below']}"))
    print_table(f"Honesty of every generation's verdict, {key}: stated / independent force MAE of its model "
                "(shown, not a target: the target reads the final generation), and where the independent error "
                "falls against the stated error's 90 % interval",
                ["arm", "generations", "median", "range", f"below {HONESTY_RANGE[0]}", f"above {HONESTY_RANGE[1]}",
                 "independent inside the interval", "generations above / below it"],
                rows)
    if key == "ethanol":
        rows = [(arm, f"{torsion_coverage(o.labels_frames, r['frames']):.0%}") for arm, o in r["campaigns"].items()]
        print_table("Ethanol: share of reference frames whose H–O–C–C torsion lies within 20° of a label's",
                    ["arm", "torsion coverage"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200-frame trajectories, ≤ 40 labels, short walkers")
    parser.add_argument("--only", choices=sorted(SYSTEMS), help="one molecule only")
    parser.add_argument("--generate-only", action="store_true", help="only build the missing reference trajectories")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the campaigns' database and models in this (new) folder for inspection")
    parser.add_argument("--repeats", type=int, default=None, help="random draws per size of arm (c)")
    parser.add_argument("--seed", type=int, default=0,
                        help="the campaigns' seed (walkers' velocities and noise, draws)")
    parser.add_argument("--check-interval", type=int, default=None,
                        help="the campaigns' exploration.check_interval (default: the product's)")
    parser.add_argument("--converge-on", choices=["estimate", "upper"], default=None,
                        help="the campaigns' stopping.converge_on (default: the product's)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="torch threads (default 1: single-structure MD is fastest so on a shared 2-core box)")
    args = parser.parse_args()
    args.repeats = args.repeats or (1 if args.quick else 3)
    import torch

    torch.set_num_threads(args.torch_threads)
    systems = [SYSTEMS[args.only]] if args.only else list(SYSTEMS.values())
    if args.quick:
        systems = [quick(s) for s in systems]
    if args.generate_only:
        for system in systems:
            frames, meta = reference_trajectory(system)
            hyperparameters(system, split(frames)[1])
            print(f"{system.key}: {len(frames)} frames, {meta}")
        return
    began = time.perf_counter()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="alforge-avr-") as scratch:
        home = str(args.keep.resolve()) if args.keep else scratch
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=False)
        os.environ["ALFORGE_HOME"] = home
        url = f"sqlite:///{home}/alforge.db"
        for system in systems:
            results[system.key] = benchmark(system, args, url)
        failures: list[str] = []
        for key, r in results.items():
            report(key, r, failures)
        if "ethanol" in results:
            r = results["ethanol"]
            model = r["campaigns"]["uncertainty"].final_model
            steps_per_s, with_std_per_s, walker_per_s, predict_s = md_speed(model, r["test"])
            seconds = oracle_seconds(r["system"], r["test"])
            speedup = steps_per_s * seconds
            print_table(
                f"MD speed: final model of the ethanol uncertainty campaign vs PySCF {r['level']} "
                f"(torch threads {args.torch_threads})",
                ["quantity", "value"],
                [
                    ("training labels of the model", r["campaigns"]["uncertainty"].curve[-1][0]),
                    ("ASE Langevin MD on the model, energy + forces (calculator(uncertainty=False))",
                     f"{steps_per_s:.1f} steps/s"),
                    ("of which the GP's mean prediction, one structure (median)", f"{1e3 * predict_s:.2f} ms"),
                    ("ASE Langevin MD on the model's calculator (+ uncertainty every step, as walkers run)",
                     f"{with_std_per_s:.1f} steps/s ({with_std_per_s * seconds:.0f}× the reference)"),
                    ("... + uncertainty every 5th step (on request; exploration.check_interval = 5)",
                     f"{walker_per_s:.1f} steps/s ({walker_per_s * seconds:.0f}× the reference)"),
                    (f"PySCF {r['level']} energy + gradient (median of 10, warm worker)", f"{seconds:.3f} s"),
                    ("speed-up of model MD (energy + forces) over MD at the reference level", f"{speedup:.0f}×"),
                ],
            )
            if speedup < SPEED_TARGET:
                failures.append(
                    f"ethanol model MD is {speedup:.0f}× faster than PySCF {r['level']} (target ≥ 1000×): a "
                    f"step takes {1e3 / steps_per_s:.2f} ms, {1e3 * predict_s:.2f} ms of it the GP's mean, the "
                    f"rest ASE's Langevin step; PySCF at this minimal level takes only {seconds:.3f} s"
                )
    plot(results, OUT / "active_vs_random.png")
    print(f"plot: {OUT / 'active_vs_random.png'}; total {time.perf_counter() - began:.0f} s "
          f"(CPU shared with other jobs: timings are depressed)")
    finish(failures)


if __name__ == "__main__":
    main()
