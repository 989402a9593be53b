"""Benchmark (issues 4 and 15): alforge's GP and committee against sGDML on ethanol (RHF/STO-3G, 500 K).

MD17 ethanol cannot be downloaded on this machine (no internet beyond package registries), so the
data are a PySCF-labelled trajectory instead: the script generates (once, kept in git in
``benchmarks/reference/``, about 3,400 RHF/STO-3G gradients, ~10 min on two cores) an ab initio
Langevin trajectory of ethanol at 500 K (1 fs steps, 200 steps of equilibration, every 4th step
kept, 800 frames), fits alforge's GP, alforge's committee and sGDML on the same training
structures, and scores them on the same 500 held-out structures. sGDML chooses its σ on 100
further validation structures, as ``sgdml all`` does; alforge fits its hyperparameters by marginal
likelihood on the training structures alone. ``--data FILE`` takes any labelled extxyz of one
molecule instead (split 5/8 test, 1/4 training pool, 1/8 validation).

Printed side by side, per training size:

- force and energy MAE (alforge's force MAE must be ≤ sGDML's);
- fit wall time, hyperparameters included, against sGDML's fit with its σ search (target ≤ 1×);
- an in-campaign refit with warm-started hyperparameters (the fitted ones, fixed) against sGDML's
  fit at its chosen σ (target ≤ 2×);
- energy + forces + std per structure through alforge's ASE calculator against energy + forces
  through sGDML's ASE calculator (``SGDMLCalculator``), single-structure calls (target ≤ 1×). The
  calculators take turns, one pass over the same 300 structures each per round, and the ratio is
  the median over rounds of the two passes' ratio: this VM's speed drifts by up to 2× within a
  minute, so timing them minutes apart (as the runs before 2026-11-29 22:00 did) compared two
  machines;
- Spearman(std, error) ≥ 0.5, and the committee's accuracy and calibration next to the GP's.

A missed target is printed as missed and the script exits 1.

Usage: python benchmarks/model_vs_sgdml.py [--quick] [--sizes 100 200] [--threads 2] [--data FILE]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms, units
from ase.build import molecule
from ase.calculators.calculator import Calculator, all_changes
from ase.io import read
from ase.md.langevin import Langevin
from ase.md.velocitydistribution import thermalize_momenta

sys.path.insert(0, str(Path(__file__).parent))
from _table import finish, print_table

if TYPE_CHECKING:
    from collections.abc import Callable

REFERENCE = Path(__file__).resolve().parent / "reference"  # the ab initio reference trajectory, in git
TRAJECTORY = REFERENCE / "ethanol_rhf_sto3g_500K.extxyz"
SPEARMAN_TARGET = 0.5
FIT_TARGET = 1.0  # × sGDML's fit with σ search
WARM_TARGET = 2.0  # × sGDML's fit at fixed σ
CALCULATOR_TARGET = 1.0  # × sGDML's ASE calculator
ROUNDS = 5


class PySCFRHF(Calculator):
    """Minimal RHF calculator (PySCF), energies in eV and forces in eV/Å; reuses the last density."""

    implemented_properties = ("energy", "forces")

    def __init__(self, basis: str = "sto-3g") -> None:
        super().__init__()
        self.basis = basis
        self._density = None

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes) -> None:
        from pyscf import gto, scf

        super().calculate(atoms, properties, system_changes)
        mol = gto.M(
            atom=list(zip(self.atoms.get_chemical_symbols(), self.atoms.positions.tolist(), strict=True)),
            basis=self.basis,
            unit="Angstrom",
            verbose=0,
        )
        mf = scf.RHF(mol)
        mf.conv_tol = 1e-10
        energy = mf.kernel(dm0=self._density)
        if not mf.converged:
            mf = scf.RHF(mol).newton()
            mf.conv_tol = 1e-10
            energy = mf.kernel()
        if not mf.converged:
            msg = "RHF did not converge"
            raise RuntimeError(msg)
        self._density = mf.make_rdm1()
        gradient = mf.nuc_grad_method().kernel()
        self.results = {"energy": energy * units.Hartree, "forces": -gradient * units.Hartree / units.Bohr}


def ethanol_trajectory(n_frames: int = 800, every: int = 4, equilibration: int = 200) -> list[Atoms]:
    """Labelled ethanol frames from RHF/STO-3G Langevin MD at 500 K (1 fs steps), kept in ``REFERENCE``."""
    if TRAJECTORY.exists():
        frames = read(TRAJECTORY, index=":")
        if len(frames) >= n_frames:
            return frames[:n_frames]
    from pyscf import lib

    from alforge.data import labelled, write_labelled

    lib.num_threads(1)
    REFERENCE.mkdir(parents=True, exist_ok=True)
    atoms = molecule("CH3CH2OH")
    atoms.calc = PySCFRHF()
    rng = np.random.default_rng(7)
    thermalize_momenta(atoms, 500, rng=rng)
    dyn = Langevin(atoms, 1.0 * units.fs, temperature_K=500, friction=0.02 / units.fs, rng=rng)
    frames: list[Atoms] = []
    start = time.perf_counter()

    def keep() -> None:
        if dyn.nsteps >= equilibration and (dyn.nsteps - equilibration) % every == 0:
            frame = labelled(Atoms(atoms.numbers, atoms.positions), atoms.get_potential_energy(), atoms.get_forces())
            frames.append(frame)
            if len(frames) % 50 == 0:
                print(f"  {len(frames)}/{n_frames} frames, {time.perf_counter() - start:.0f} s", flush=True)

    dyn.attach(keep, interval=1)
    while len(frames) < n_frames:
        dyn.run(every)
    partial = TRAJECTORY.with_suffix(".partial.extxyz")
    write_labelled(partial, frames)
    partial.replace(TRAJECTORY)
    return frames


def split(frames: list[Atoms], seed: int = 0) -> tuple[list[Atoms], list[Atoms], list[Atoms]]:
    """(training pool, sGDML validation set, held-out test structures): 200, 100, 500 of 800 frames."""
    order = np.random.default_rng(seed).permutation(len(frames))
    n_test, n_pool = 5 * len(frames) // 8, len(frames) // 4
    test = [frames[i] for i in order[:n_test]]
    pool = [frames[i] for i in order[n_test : n_test + n_pool]]
    valid = [frames[i] for i in order[n_test + n_pool :]]
    return pool, valid, test


def _arrays(frames: list[Atoms]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    positions = np.array([f.positions for f in frames])
    energies = np.array([f.get_potential_energy() for f in frames])
    forces = np.array([f.get_forces() for f in frames])
    return positions, energies, forces


def _sgdml_dataset(frames: list[Atoms]) -> dict:
    positions, energies, forces = _arrays(frames)
    return {
        "type": "d",
        "name": np.array("ethanol"),
        "theory": np.array("RHF/STO-3G (PySCF)"),
        "z": frames[0].numbers,
        "R": positions,
        "E": energies,
        "F": forces,
        "r_unit": np.array("Ang"),
        "e_unit": np.array("eV"),
    }


def score(energy: np.ndarray, forces: np.ndarray, frames: list[Atoms]) -> dict[str, float]:
    """Energy and force MAE of predictions against the reference labels."""
    _, ref_energy, ref_forces = _arrays(frames)
    return {
        "force_mae": float(np.abs(forces - ref_forces).mean()),
        "energy_mae": float(np.abs(energy - ref_energy).mean()),
    }


def per_call_ms(predict: Callable[[np.ndarray], object], inputs: np.ndarray, rounds: int = ROUNDS) -> dict:
    """Milliseconds per single-structure call: the median and the best of ``rounds`` passes.

    This VM shares its two cores; one pass over the inputs can take twice as long as the next. The
    median pass is the figure the target is checked against; the best pass (what ``timeit``
    recommends reporting) shows the cost without interference.
    """
    timing = interleaved_ms({"call": predict}, inputs, rounds)["call"]
    return {"ms": timing["ms"], "ms_best": timing["ms_best"]}


def interleaved_ms(calls: dict[str, Callable[[np.ndarray], object]], inputs: np.ndarray,
                   rounds: int = 2 * ROUNDS) -> dict[str, dict]:
    """Milliseconds per single-structure call of several calculators measured in turns.

    Each round times one pass over ``inputs`` per calculator, in an order that rotates from round
    to round, so every calculator sees the same machine. Returns, per name, the median and best
    pass and the passes themselves (to take per-round ratios).
    """
    names = list(calls)
    for name in names:
        for x in inputs[:20]:
            calls[name](x)
    passes: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(rounds):
        for name in names[round_ % len(names):] + names[: round_ % len(names)]:
            start = time.perf_counter()
            for x in inputs:
                calls[name](x)
            passes[name].append(1000 * (time.perf_counter() - start) / len(inputs))
    return {name: {"ms": float(np.median(p)), "ms_best": min(p), "passes": p} for name, p in passes.items()}


def run_sgdml(train: list[Atoms], valid: list[Atoms], test: list[Atoms], sigmas: list[int]) -> dict:
    """sGDML with its own σ search (validation force MAE), as ``sgdml all`` does it."""
    import logging

    from sgdml.predict import GDMLPredict
    from sgdml.train import GDMLTrain

    logging.getLogger("sgdml").setLevel(logging.ERROR)
    train_set, valid_set = _sgdml_dataset(train), _sgdml_dataset(valid)
    valid_r, _, valid_f = _arrays(valid)
    gdml = GDMLTrain(max_processes=2)
    best = None
    perms = None  # sGDML's permutation search runs once; every σ reuses its result
    start_all = time.perf_counter()
    for sigma in sigmas:
        start = time.perf_counter()
        task = gdml.create_task(train_set, len(train), valid_set, len(valid), sig=sigma, lam=1e-10, perms=perms)
        perms = task["perms"]
        model = gdml.train(task)
        fit_time = time.perf_counter() - start
        predictor = GDMLPredict(model, max_processes=1)
        _, forces = predictor.predict(valid_r.reshape(len(valid), -1))
        mae = float(np.abs(forces.reshape(valid_f.shape) - valid_f).mean())
        if best is None or mae < best[0]:
            best = (mae, sigma, model, fit_time)
    search_time = time.perf_counter() - start_all
    _, sigma, model, fit_time = best
    predictor = GDMLPredict(model, max_processes=1)
    test_r = np.array([f.positions for f in test])
    energy, forces = predictor.predict(test_r.reshape(len(test), -1))
    single = test_r[:100].reshape(100, 1, -1)
    ms = per_call_ms(predictor.predict, single)
    result = score(energy, forces.reshape(len(test), -1, 3), test)
    result.update(
        {
            "fit_s": fit_time,
            "fit_all_s": search_time,
            "raw_ms": ms["ms"],
            "calculator": sgdml_calculator(model, test),
            "note": f"σ={sigma}, {len(model['perms'])} perms; raw predict {ms['ms']:.2f} ms",
        }
    )
    return result


def sgdml_calculator(model: dict, test: list[Atoms]) -> Callable[[np.ndarray], np.ndarray]:
    """Energy + forces of one structure through sGDML's own ASE calculator (model in eV and Å)."""
    import tempfile

    from sgdml.intf.ase_calc import SGDMLCalculator

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.npz"
        np.savez_compressed(path, **model)
        calc = SGDMLCalculator(str(path), E_to_eV=1.0, F_to_eV_Ang=1.0)
    atoms = Atoms(test[0].numbers, test[0].positions)
    atoms.calc = calc

    def energy_forces(positions: np.ndarray) -> np.ndarray:
        atoms.positions = positions
        return atoms.get_forces()

    return energy_forces


def run_alforge(train: list[Atoms], test: list[Atoms], kind: str = "gp") -> dict:
    """alforge's GP or committee as ``alforge fit`` builds it (hyperparameters by marginal likelihood),
    and, for the GP, the warm refit a campaign makes with the previous hyperparameters fixed."""
    from alforge.model_spec import parse_model_spec
    from alforge.models import evaluate

    spec = parse_model_spec({"kind": kind})
    model = spec.build(device="cpu", seed=0)
    began = time.perf_counter()
    report = model.fit(train)
    fit_s = time.perf_counter() - began
    scores = evaluate(model, test)
    atoms = Atoms(test[0].numbers, test[0].positions)
    atoms.calc = model.calculator()

    def energy_forces_std(positions: np.ndarray) -> np.ndarray:
        atoms.positions = positions
        atoms.get_forces()
        return atoms.calc.results["forces_std"]

    result = {
        "force_mae": scores["force_mae_eV_per_A"],
        "energy_mae": scores["energy_mae_eV"],
        "fit_s": fit_s,
        "fit_all_s": fit_s,
        "calculator": energy_forces_std,
        "batch_ms": scores["predict_ms_per_structure"],
        "spearman": scores["spearman_std_error"],
        "within_1sigma": scores["within_1sigma"],
        "within_2sigma": scores["within_2sigma"],
        "timings": report.timings_s,
    }
    if kind == "gp":
        hyper = report.hyperparameters
        warm_hyper = spec.warm_start(model.hyperparameters, 1, [])[0]
        warm = spec.with_hyperparameters(warm_hyper).build(device="cpu", seed=0)
        began = time.perf_counter()
        warm.fit(train)
        result["warm_s"] = time.perf_counter() - began
        result["note"] = (
            f"ℓ={hyper['lengthscale_per_A']:.3g}/Å, σF={hyper['force_noise_eV_per_A']:.3g} eV/Å, "
            f"{report.solver}, variance {report.variance}, {hyper['n_symmetries']} perms; fit: "
            + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings_s.items())
        )
    else:
        result["note"] = f"{model.hyperparameters['n_members']} members, calibration α={model.calibration:.3g}"
    return result


def table_row(name: str, r: dict, sgdml: dict) -> tuple[object, ...]:
    fit_ratio = r["fit_all_s"] / sgdml["fit_all_s"]
    warm = f"{r['warm_s']:.1f} ({r['warm_s'] / sgdml['fit_s']:.2f}×)" if "warm_s" in r else "-"
    return (
        name, f"{r['force_mae']:.4f}", f"{1000 * r['energy_mae']:.2f}",
        f"{r['fit_all_s']:.1f} ({fit_ratio:.2f}×)" if r is not sgdml else f"{r['fit_all_s']:.1f}",
        warm if r is not sgdml else f"{r['fit_s']:.1f}",
        f"{r['ms']:.2f} ({r['ms_best']:.2f})" + (f", {r['ms_ratio']:.2f}×" if r is not sgdml else ""),
        f"{r['spearman']:.2f}" if "spearman" in r else "-",
        f"{r['within_1sigma']:.2f} / {r['within_2sigma']:.2f}" if "within_1sigma" in r else "-", r["note"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate-only", action="store_true", help="only build the reference trajectory if missing")
    parser.add_argument("--quick", action="store_true", help="50 and 100 training structures, 4 sGDML σ values")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="training set sizes (default 100 200)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--sigmas", type=int, nargs="+", default=None, help="sGDML σ grid (default 2 5 10 … 90)")
    parser.add_argument("--data", type=Path, default=None, help="labelled extxyz instead of the reference trajectory")
    parser.add_argument("--no-committee", action="store_true", help="skip the committee rows")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([50, 100] if args.quick else [100, 200])
    sigmas = args.sigmas or ([5, 10, 20, 40] if args.quick else [2, 5, *range(10, 100, 10)])
    frames = read(args.data, index=":") if args.data else ethanol_trajectory()
    print(f"{len(frames)} labelled frames from {args.data or TRAJECTORY}")
    if args.generate_only:
        return 0
    import torch

    torch.set_num_threads(args.threads)
    pool, valid, test = split(frames)
    failures = []
    for size in sizes:  # one table per size, printed as soon as it is measured
        train = pool[:size]
        print(f"fitting on {size} structures ...", flush=True)
        theirs = run_sgdml(train, valid, test, sigmas)
        measured = [("alforge GP", run_alforge(train, test))]
        if not args.no_committee:
            measured.append(("alforge committee", run_alforge(train, test, "committee")))
        timing = interleaved_ms({name: r["calculator"] for name, r in [*measured, ("sGDML", theirs)]},
                                np.array([f.positions for f in test[:300]]))
        for name, r in [*measured, ("sGDML", theirs)]:
            r.update(timing[name])
            r["ms_ratio"] = float(np.median(np.divide(r["passes"], timing["sGDML"]["passes"])))
        print_table(
            f"alforge vs sGDML on the same {size} training structures, {len(test)} held-out structures",
            ["model", "force MAE (eV/Å)", "energy MAE (meV)", "fit incl. hyperparameters [s] (× sGDML σ search)",
             "warm refit [s] (× sGDML fixed σ)", "ASE calculator ms/structure (best), × sGDML", "Spearman(std, error)",
             "within 1σ / 2σ", "notes"],
            [*(table_row(name, r, theirs) for name, r in measured), table_row("sGDML", theirs, theirs)],
        )
        ours = measured[0][1]
        checks = [
            (ours["force_mae"] <= theirs["force_mae"],
             f"force MAE {ours['force_mae']:.4f} vs sGDML {theirs['force_mae']:.4f} eV/Å (target ≤)"),
            (ours["spearman"] >= SPEARMAN_TARGET, f"Spearman(std, error) {ours['spearman']:.2f} (target ≥ 0.5)"),
            (ours["fit_all_s"] <= FIT_TARGET * theirs["fit_all_s"],
             f"fit {ours['fit_all_s']:.1f} s vs sGDML with σ search {theirs['fit_all_s']:.1f} s (target ≤ 1×)"),
            (ours["warm_s"] <= WARM_TARGET * theirs["fit_s"],
             f"warm refit {ours['warm_s']:.1f} s vs sGDML at fixed σ {theirs['fit_s']:.1f} s (target ≤ 2×)"),
            (ours["ms_ratio"] <= CALCULATOR_TARGET,
             f"calculator {ours['ms']:.2f} ms vs sGDML's {theirs['ms']:.2f} ms per structure, median of "
             f"per-round ratios {ours['ms_ratio']:.2f}× (target ≤ 1×)"),
        ]
        for met, text in checks:
            print(f"n={size}: {'met' if met else 'MISSED'}: {text}")
            if not met:
                failures.append(f"n={size}: {text}")
    print(f"ms/structure: median (best) of {2 * ROUNDS} passes of single-structure ASE calculator calls, the")
    print("calculators taking turns; × sGDML: median of the per-round ratios (alforge: energy, forces and")
    print("uncertainty; sGDML: SGDMLCalculator, energy and forces). sGDML's σ is chosen from")
    print(f"{sigmas} on {len(valid)} validation structures (alforge: marginal likelihood on the training structures).")
    finish(failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
