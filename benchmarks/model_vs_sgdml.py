"""Benchmark (issue 4): alforge's gradient-domain GP against sGDML on ethanol (RHF/STO-3G, 500 K).

MD17 ethanol cannot be downloaded on this machine (no internet beyond package registries), so the
data are a PySCF-labelled trajectory instead: the script generates (once, cached in
``benchmarks/.cache/``, about 3,400 RHF/STO-3G gradients, ~10 min on two cores) an ab initio
Langevin trajectory of ethanol at 500 K (1 fs steps, 200 steps of equilibration, every 4th step
kept, 800 frames), fits alforge's GP and sGDML on the same 100 and 200 structures, and scores both
on the same 500 held-out structures. sGDML chooses its σ on 100 further validation structures,
as ``sgdml all`` does; alforge's GP fits its hyperparameters by marginal likelihood on the
training structures alone. The same cached trajectory is the ethanol test set of
``benchmarks/active_vs_random.py``. A run takes about 3 minutes on two idle cores (measured:
183 s), most of it the GP's marginal-likelihood fits; 6 to 20 minutes when other jobs share them.

Usage: python benchmarks/model_vs_sgdml.py [--quick] [--sizes 100 200] [--threads 2]

Targets (exit 1 if missed): alforge's force MAE ≤ sGDML's at every size; Spearman(std, error)
≥ 0.5; ≤ 5 ms per structure for energy + forces + uncertainty (single-structure calculator
calls) with 200 training structures. ``--quick`` (50 and 100 structures, 4 σ values) checks
the first two.
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
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

sys.path.insert(0, str(Path(__file__).parent))
from _table import finish, print_table

if TYPE_CHECKING:
    from collections.abc import Callable

CACHE = Path(__file__).resolve().parent / ".cache"
TRAJECTORY = CACHE / "ethanol_rhf_sto3g_500K.extxyz"
SPEARMAN_TARGET = 0.5
MS_TARGET = 5.0
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
    """Labelled ethanol frames from RHF/STO-3G Langevin MD at 500 K (1 fs steps), cached."""
    if TRAJECTORY.exists():
        frames = read(TRAJECTORY, index=":")
        if len(frames) >= n_frames:
            return frames[:n_frames]
    from pyscf import lib

    from alforge.data import labelled, write_labelled

    lib.num_threads(1)
    CACHE.mkdir(parents=True, exist_ok=True)
    atoms = molecule("CH3CH2OH")
    atoms.calc = PySCFRHF()
    rng = np.random.default_rng(7)
    MaxwellBoltzmannDistribution(atoms, temperature_K=500, rng=rng)
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
    """(training pool of 200, sGDML validation set of 100, 500 held-out test structures)."""
    order = np.random.default_rng(seed).permutation(len(frames))
    test = [frames[i] for i in order[:500]]
    pool = [frames[i] for i in order[500:700]]
    valid = [frames[i] for i in order[700:800]]
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
    for x in inputs[:20]:
        predict(x)
    passes = []
    for _ in range(rounds):
        start = time.perf_counter()
        for x in inputs:
            predict(x)
        passes.append(1000 * (time.perf_counter() - start) / len(inputs))
    return {"ms": float(np.median(passes)), "ms_best": min(passes)}


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
        {"fit_s": fit_time, "fit_all_s": search_time, **ms, "note": f"σ={sigma}, {len(model['perms'])} perms"}
    )
    return result


def run_alforge(train: list[Atoms], test: list[Atoms]) -> dict:
    """alforge's GP, hyperparameters by marginal likelihood (no validation set)."""
    from alforge.models import GPPotential, evaluate

    model = GPPotential("matern52", seed=0)
    report = model.fit(train)
    scores = evaluate(model, test)
    atoms = Atoms(test[0].numbers, test[0].positions)
    atoms.calc = model.calculator()

    def energy_forces_std(positions: np.ndarray) -> np.ndarray:
        atoms.positions = positions
        atoms.get_forces()
        return atoms.calc.results["forces_std"]

    ms = per_call_ms(energy_forces_std, np.array([f.positions for f in test[:300]]))
    hyper = report.hyperparameters
    return {
        "force_mae": scores["force_mae_eV_per_A"],
        "energy_mae": scores["energy_mae_eV"],
        "fit_s": report.fit_time_s,
        "fit_all_s": report.fit_time_s,
        **ms,
        "batch_ms": scores["predict_ms_per_structure"],
        "spearman": scores["spearman_std_error"],
        "within_1sigma": scores["within_1sigma"],
        "within_2sigma": scores["within_2sigma"],
        "note": (
            f"ℓ={hyper['lengthscale_per_A']:.3g}/Å, σF={hyper['force_noise_eV_per_A']:.3g} eV/Å, "
            f"{report.solver}, variance {report.variance}, {hyper['n_symmetries']} perms"
        ),
    }


def table_row(name: str, r: dict) -> tuple[object, ...]:
    return (
        name, f"{r['force_mae']:.4f}", f"{1000 * r['energy_mae']:.2f}", f"{r['fit_s']:.1f}", f"{r['fit_all_s']:.1f}",
        f"{r['ms']:.2f} ({r['ms_best']:.2f})", f"{r['spearman']:.2f}" if "spearman" in r else "-",
        f"{r['within_1sigma']:.2f} / {r['within_2sigma']:.2f}" if "within_1sigma" in r else "-", r["note"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generate-only", action="store_true", help="only build the cached trajectory")
    parser.add_argument("--quick", action="store_true", help="50 and 100 training structures, 4 sGDML σ values")
    parser.add_argument("--sizes", type=int, nargs="+", default=None, help="training set sizes (default 100 200)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--sigmas", type=int, nargs="+", default=None, help="sGDML σ grid (default 2 5 10 … 90)")
    args = parser.parse_args(argv)
    sizes = args.sizes or ([50, 100] if args.quick else [100, 200])
    sigmas = args.sigmas or ([5, 10, 20, 40] if args.quick else [2, 5, *range(10, 100, 10)])
    frames = ethanol_trajectory()
    print(f"{len(frames)} labelled ethanol frames in {TRAJECTORY}")
    if args.generate_only:
        return 0
    import torch

    torch.set_num_threads(args.threads)
    pool, valid, test = split(frames)
    rows = []
    for size in sizes:  # one table per size, printed as soon as it is measured
        train = pool[:size]
        print(f"fitting on {size} structures ...", flush=True)
        ours = run_alforge(train, test)
        measured = [(size, "alforge GP", ours), (size, "sGDML", run_sgdml(train, valid, test, sigmas))]
        rows += measured
        print_table(
            f"alforge GP vs sGDML on the same {size} training structures, ethanol RHF/STO-3G 500 K "
            f"(PySCF-labelled trajectory, not MD17), {len(test)} held-out structures",
            ["model", "force MAE (eV/Å)", "energy MAE (meV)", "fit [s]", "fit + σ search [s]",
             "ms/structure (best)", "Spearman(std, error)", "within 1σ / 2σ", "notes"],
            [table_row(name, r) for _, name, r in measured],
        )
    print(f"ms/structure: median (best) of {ROUNDS} passes of single-structure calls (alforge: ASE calculator")
    print("with energy, forces and uncertainty;")
    print(f"sGDML: GDMLPredict energy and forces); sGDML's σ is chosen from {sigmas} on {len(valid)} validation")
    print("structures (alforge: marginal likelihood on the training structures only). CPU shared with other jobs.")
    failures = []
    by = {(size, name): r for size, name, r in rows}
    for size in sizes:
        ours, theirs = by[(size, "alforge GP")], by[(size, "sGDML")]
        if ours["force_mae"] > theirs["force_mae"]:
            failures.append(f"n={size}: force MAE {ours['force_mae']:.4f} > sGDML {theirs['force_mae']:.4f} eV/Å")
        if not ours["spearman"] >= SPEARMAN_TARGET:
            failures.append(f"n={size}: Spearman(std, error) {ours['spearman']:.2f} < {SPEARMAN_TARGET}")
        if size == 200 and ours["ms"] > MS_TARGET:
            failures.append(f"n=200: {ours['ms']:.2f} ms per structure > {MS_TARGET:g} ms")
    finish(failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
