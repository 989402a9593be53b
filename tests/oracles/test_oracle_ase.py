"""ASEOracle: any ASE calculator as an oracle, quarantining whatever goes wrong."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk, molecule
from ase.calculators.emt import EMT
from ase.calculators.lj import LennardJones
from calculators_for_tests import (
    FailingCalculator,
    FileEchoCalculator,
    NaNCalculator,
    PushingCalculator,
    SlowCalculator,
    make_emt,
)

from alforge.errors import OracleInputError, OracleSetupError
from alforge.oracles import ASEOracle


def cluster(seed: int = 7) -> Atoms:
    """A rattled 4-atom copper cluster (EMT knows Cu)."""
    atoms = Atoms("Cu4", positions=[(0, 0, 0), (2.5, 0, 0), (1.25, 2.2, 0), (1.25, 0.7, 2.0)])
    atoms.positions += np.random.default_rng(seed).normal(scale=0.05, size=(4, 3))
    return atoms


def test_emt_energy_and_forces_equal_direct_ase() -> None:
    atoms = cluster()
    result = ASEOracle("EMT").compute(atoms)
    reference = atoms.copy()
    reference.calc = EMT()
    assert result.ok, result.error
    assert result.energy_eV == pytest.approx(reference.get_potential_energy(), abs=1e-12)
    np.testing.assert_allclose(result.forces_eV_per_A, reference.get_forces(), atol=1e-12)
    assert result.attempts == 1


def test_emt_forces_are_minus_the_energy_gradient() -> None:
    oracle, atoms, step_A = ASEOracle("EMT"), cluster(), 1e-4
    forces = oracle.compute(atoms).forces_eV_per_A
    for index, axis in [(0, 0), (2, 1), (3, 2)]:
        energies = []
        for sign in (1.0, -1.0):
            displaced = atoms.copy()
            displaced.positions[index, axis] += sign * step_A
            energies.append(oracle.compute(displaced).energy_eV)
        assert forces[index, axis] == pytest.approx(-(energies[0] - energies[1]) / (2 * step_A), abs=1e-4)


def test_periodic_structures_are_accepted() -> None:
    result = ASEOracle("EMT").compute(bulk("Cu", cubic=True) * (2, 1, 1))
    assert result.ok
    np.testing.assert_allclose(result.forces_eV_per_A, 0.0, atol=1e-10)  # perfect crystal


def test_level_of_theory_names_the_calculator_and_its_settings() -> None:
    oracle = ASEOracle("LennardJones", sigma=2.5, epsilon=0.1, rc=6.0)
    level = oracle.level_of_theory
    assert level.code == "ase:LennardJones"
    assert level.settings["kwargs"] == {"sigma": 2.5, "epsilon": 0.1, "rc": 6.0}
    assert level.hash != ASEOracle("LennardJones", sigma=2.6, epsilon=0.1, rc=6.0).level_of_theory.hash
    assert ASEOracle(LennardJones, sigma=2.5, epsilon=0.1, rc=6.0).level_of_theory.code == "ase:LennardJones"
    assert ASEOracle("ase.calculators.emt:EMT").level_of_theory.code == "ase:EMT"


@pytest.mark.parametrize(
    ("calculator", "error"),
    [
        (FailingCalculator, "FailingCalculator failed: RuntimeError: external code crashed"),
        (NaNCalculator, "energy is nan"),
        (PushingCalculator, "net force 3 eV/Å on an isolated structure (tolerance 0.05 eV/Å)"),
    ],
)
def test_calculator_failures_are_quarantined(calculator: type, error: str) -> None:
    result = ASEOracle(calculator).compute(molecule("H2O"))
    assert result.status == "quarantined"
    assert result.error.startswith(error)
    assert result.energy_eV is None
    assert result.forces_eV_per_A is None


def test_unsupported_element_is_quarantined() -> None:
    result = ASEOracle("EMT").compute(Atoms("Li2", positions=[(0, 0, 0), (0, 0, 2.7)]))
    assert result.status == "quarantined"
    assert result.error.startswith("EMT failed: NotImplementedError")


def test_bad_geometry_is_quarantined_and_refused(water: Atoms) -> None:
    water.positions[2] = water.positions[0]
    oracle = ASEOracle("EMT")
    with pytest.raises(OracleInputError, match="atoms 0 and 2 are 0 Å apart"):
        oracle.validate(water)
    assert "apart" in oracle.compute(water).error


def test_wall_time_limit_runs_in_a_killable_worker() -> None:
    slow = ASEOracle(SlowCalculator, wall_time_s=0.5, delay_s=30.0)
    result = slow.compute(molecule("H2"))
    assert result.status == "quarantined"
    assert result.error == "wall time 0.5 s exceeded (oracle process killed)"
    assert result.wall_time_s < 10.0
    isolated = ASEOracle("EMT", wall_time_s=30.0).compute(cluster())
    in_thread = ASEOracle("EMT").compute(cluster())
    assert isolated.ok
    assert isolated.energy_eV == pytest.approx(in_thread.energy_eV, abs=1e-12)


def test_concurrent_calls_do_not_share_calculator_state() -> None:
    oracle = ASEOracle("EMT")
    frames = [cluster(seed) for seed in range(8)]
    expected = [oracle.compute(atoms).energy_eV for atoms in frames]
    results = oracle.compute_many(frames * 4, workers=4)
    assert [r.energy_eV for r in results] == pytest.approx(expected * 4, abs=1e-12)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for atoms, energy in zip(frames, expected, strict=True):
                assert oracle.compute(atoms).energy_eV == pytest.approx(energy, abs=1e-12)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_file_based_calculators_get_a_folder_per_call(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    frames = [cluster(seed) for seed in range(6)]
    results = ASEOracle(FileEchoCalculator).compute_many(frames, workers=3)
    assert [r.energy_eV for r in results] == pytest.approx([atoms.positions.sum() for atoms in frames], abs=1e-6)
    assert list(tmp_path.iterdir()) == []  # temporary folders are removed


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("NoSuchCalculator",), {}, "unknown ASE calculator 'NoSuchCalculator'"),
        (("no.such.module:Calc",), {}, "cannot import calculator 'no.such.module:Calc'"),
        ((EMT(),), {}, "got a calculator instance"),
        ((make_emt,), {"no_such_setting": 1}, r"cannot create calculator .*make_emt.*no_such_setting"),
        (("EMT",), {"wall_time_s": -1}, "wall_time_s must be a positive number"),
    ],
)
def test_setup_errors(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(OracleSetupError, match=message):
        ASEOracle(*args, **kwargs)  # type: ignore[arg-type]


def test_unpicklable_factory_cannot_run_in_a_worker() -> None:
    def local_factory() -> EMT:
        return EMT()

    assert ASEOracle(local_factory).compute(cluster()).ok  # fine in-process
    with pytest.raises(OracleSetupError, match="cannot be sent to a worker process"):
        ASEOracle(local_factory, wall_time_s=5)


def test_unknown_element_is_a_setup_error() -> None:
    with pytest.raises(OracleSetupError, match="atomic number 200"):
        ASEOracle("EMT").check([1, 200])
