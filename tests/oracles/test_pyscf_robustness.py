"""Failures of one calculation are quarantined with a reason: SCF ladder, wall time, dead worker, threads."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from ase import Atoms, units
from ase.build import molecule
from conftest import rattled

from alforge.oracles import PySCFOracle
from alforge.oracles.pyscf_calculation import LADDER


def test_ladder_converges_what_plain_diis_cannot(water: Atoms, hf_oracle: PySCFOracle) -> None:
    """Three DIIS cycles are too few for water; the ladder goes on to Newton, which converges."""
    oracle = PySCFOracle(method="HF", basis="sto-3g", conv_tol=1e-11, max_cycle=3, reuse_guess=False)
    result = oracle.compute(water)
    ladder = result.details["ladder"]
    assert [step["step"] for step in ladder] == [step.name for step in LADDER]
    assert [step["converged"] for step in ladder] == [False, False, True]
    assert result.ok
    assert result.details["converged_step"] == "newton"
    assert result.attempts == 3
    assert json.loads(json.dumps(result.details))["converged_step"] == "newton"
    reference = hf_oracle.compute(water)
    assert result.energy_eV == pytest.approx(reference.energy_eV, abs=1e-8 * units.Hartree)
    np.testing.assert_allclose(result.forces_eV_per_A, reference.forces_eV_per_A, atol=1e-4)


def test_never_ok_when_no_ladder_step_converges(water: Atoms) -> None:
    oracle = PySCFOracle(method="HF", basis="sto-3g", max_cycle=1, reuse_guess=False)
    result = oracle.compute(water)
    assert result.status == "quarantined"
    assert result.error.startswith("SCF not converged after ladder: diis (1 cycles), level_shift (1 cycles)")
    assert result.energy_eV is None
    assert result.forces_eV_per_A is None
    assert [step["converged"] for step in result.details["ladder"]] == [False] * len(LADDER)
    assert result.attempts == len(LADDER)
    json.dumps(result.details)  # JSON-ready, for the campaign database


def test_wall_time_limit_kills_a_long_calculation() -> None:
    """Ethanol PBE/def2-SVP takes several seconds; with a 1 s limit the worker is killed at 1 s."""
    oracle = PySCFOracle(method="PBE", basis="def2-svp", wall_time_s=1.0)
    oracle.warm_up(1)
    start = time.perf_counter()
    result = oracle.compute(molecule("CH3CH2OH"))
    elapsed = time.perf_counter() - start
    assert result.status == "quarantined"
    assert result.error == "wall time 1 s exceeded (oracle process killed)"
    assert 1.0 <= elapsed < 4.0


@pytest.mark.parametrize(
    ("fault", "reason"),
    [("sigkill", "oracle process died (signal 9, SIGKILL)"), ("exit", "oracle process died (exit code 3)")],
)
def test_dead_worker_is_quarantined_and_replaced(fault: str, reason: str, water: Atoms) -> None:
    """INJECTED FAULT: a hidden test hook makes the worker kill itself before computing."""
    oracle = PySCFOracle(method="HF", basis="sto-3g")
    oracle._test_fault = fault
    result = oracle.compute(water)
    assert result.status == "quarantined"
    assert result.error == reason
    oracle._test_fault = None
    assert oracle.compute(water).ok  # a fresh worker takes over


def test_guess_from_nearest_previous_structure_saves_cycles(water: Atoms) -> None:
    reusing = PySCFOracle(method="HF", basis="6-31g")
    fresh = PySCFOracle(method="HF", basis="6-31g", reuse_guess=False)
    first = reusing.compute(water)
    assert first.details["guess"] == "minao"
    nearby = water.copy()
    nearby.positions += np.random.default_rng(3).normal(scale=0.003, size=nearby.positions.shape)
    warm, cold = reusing.compute(nearby), fresh.compute(nearby)
    assert warm.details["guess"] == "previous"
    assert 0 < warm.details["guess_rmsd_A"] < 0.01
    assert cold.details["guess"] == "minao"
    assert warm.details["scf_cycles"] < cold.details["scf_cycles"]
    assert warm.energy_eV == pytest.approx(cold.energy_eV, abs=1e-8 * units.Hartree)
    # neither a structure with other atoms nor a far one takes that guess
    assert reusing.compute(molecule("NH3")).details["guess"] == "minao"
    assert reusing.compute(rattled("H2O", stdev_A=0.2, seed=5)).details["guess"] == "minao"


def test_compute_is_thread_safe(hf_oracle: PySCFOracle) -> None:
    molecules = [rattled("H2O", seed=s) for s in range(3)] + [rattled("NH3", seed=s) for s in range(3)]
    expected = [hf_oracle.compute(atoms) for atoms in molecules]
    results: dict[int, object] = {}

    def work(indices: list[int]) -> None:
        for i in indices:
            results[i] = hf_oracle.compute(molecules[i])

    threads = [
        threading.Thread(target=work, args=([0, 3, 1, 4, 2, 5],)),
        threading.Thread(target=work, args=([5, 2, 4, 1, 3, 0],)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == len(molecules)
    for i, reference in enumerate(expected):
        assert results[i].ok
        assert results[i].energy_eV == pytest.approx(reference.energy_eV, abs=1e-8 * units.Hartree)
        np.testing.assert_allclose(results[i].forces_eV_per_A, reference.forces_eV_per_A, atol=1e-5)


def test_compute_many_keeps_order_and_reports_progress(hf_oracle: PySCFOracle) -> None:
    frames = [rattled("H2O", seed=s) for s in range(4)]
    frames.insert(2, Atoms("H2", positions=[(0, 0, 0), (0, 0, 0.1)]))
    calls: list[tuple[int, int]] = []
    results = hf_oracle.compute_many(frames, workers=2, progress=lambda done, total: calls.append((done, total)))
    assert [r.ok for r in results] == [True, True, False, True, True]
    sequential = [hf_oracle.compute(atoms) for atoms in frames]
    for parallel, single in zip(results, sequential, strict=True):
        if single.ok:
            assert parallel.energy_eV == pytest.approx(single.energy_eV, abs=1e-8 * units.Hartree)
    assert calls[0] == (0, 5)
    assert calls[-1] == (5, 5)
    assert [done for done, _ in calls] == list(range(6))


def test_interrupted_compute_many_kills_running_calculations() -> None:
    """An exception in the caller's thread (as Ctrl-C would raise) stops the workers at once."""
    oracle = PySCFOracle(method="PBE", basis="def2-svp", reuse_guess=False)
    oracle.warm_up(2)
    frames = [molecule("H2O"), molecule("CH3CH2OH"), molecule("CH3CH2OH")]

    def progress(done: int, total: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    start = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        oracle.compute_many(frames, workers=2, progress=progress)
    assert time.perf_counter() - start < 4.0  # ethanol alone takes several seconds
