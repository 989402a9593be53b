"""MD walkers: run the whole budget through uncertain frames and beyond the window, end only on guards."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.emt import EMT

from alforge.campaign.walker import Walker, WalkerSettings, min_distance_A


class EMTWithStd(EMT):
    """EMT plus a synthetic uncertainty that grows with displacement from the start.

    A real model is not needed to test the walker's stopping logic; this calculator's
    ``forces_std`` is a known function of the geometry so each stop can be predicted.
    """

    implemented_properties = [*EMT.implemented_properties, "forces_std", "energy_std"]

    def __init__(self, reference: np.ndarray, scale: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.reference = reference
        self.scale = scale

    def calculate(self, atoms=None, properties=("energy",), system_changes=()):  # type: ignore[no-untyped-def]
        super().calculate(atoms, ["energy", "forces"], system_changes)
        displacement = np.linalg.norm(self.atoms.positions - self.reference, axis=1)
        self.results["forces_std"] = self.scale * displacement
        self.results["energy_std"] = float(self.scale * displacement.sum())


def test_walker_runs_to_budget_when_confident() -> None:
    start = molecule("H2O")
    settings = WalkerSettings(temperature_K=300, steps=30, threshold_eV_per_A=10.0, sampled_frames=3, seed=1)
    result = Walker(EMTWithStd(start.positions, scale=0.01), settings).run(start)
    assert result.stop_reason == "budget"
    assert (result.steps_done, result.confident_steps, result.rewinds) == (30, 30, 0)
    assert result.confident_fraction == 1.0
    assert len(result.uncertainties_eV_per_A) == 30
    assert [f.origin for f in result.frames] == ["sampled"] * 3
    assert [f.step for f in result.frames] == [10, 20, 30]  # evenly spaced in time
    np.testing.assert_array_equal(start.positions, molecule("H2O").positions)


def test_uncertain_frames_do_not_end_the_walker() -> None:
    """The first design stopped here; now the walker spends its whole budget and keeps candidates."""
    start = molecule("H2O")
    settings = WalkerSettings(temperature_K=600, steps=400, threshold_eV_per_A=0.02, sampled_frames=4, seed=2)
    result = Walker(EMTWithStd(start.positions), settings).run(start)
    assert result.stop_reason == "budget"
    assert result.steps_done == 400
    values = result.uncertainties_eV_per_A
    assert np.sum(values > 0.02) > 0  # it did go where the model is unsure ...
    assert result.confident_steps == int(np.sum(values <= 0.02))  # ... and only confident steps count
    assert result.confident_steps < 400
    uncertain = [f for f in result.frames if f.origin == "uncertain"]
    assert uncertain
    assert all(f.uncertainty_eV_per_A > 0.02 for f in uncertain)
    peaks = [f.uncertainty_eV_per_A for f in uncertain]
    assert peaks == sorted(peaks, reverse=True)


def test_each_excursion_contributes_its_most_uncertain_frame() -> None:
    start = molecule("H2O")
    settings = WalkerSettings(temperature_K=600, steps=300, threshold_eV_per_A=0.03, max_candidates=1000, seed=5)
    result = Walker(EMTWithStd(start.positions), settings).run(start)
    values = result.uncertainties_eV_per_A
    above = values > 0.03
    excursions = int(above[0]) + int(np.sum(above[1:] & ~above[:-1]))
    uncertain = [f for f in result.frames if f.origin == "uncertain"]
    assert len(uncertain) == excursions
    assert max(f.uncertainty_eV_per_A for f in uncertain) == values.max()


def test_beyond_the_trust_window_the_walker_rewinds_to_its_last_confident_frame() -> None:
    start = molecule("H2O")
    settings = WalkerSettings(
        temperature_K=600, steps=300, threshold_eV_per_A=0.02, upper_eV_per_A=0.05, sampled_frames=0, seed=4,
        rewind_after=1,
    )
    result = Walker(EMTWithStd(start.positions), settings).run(start)
    assert result.stop_reason == "budget"
    assert result.steps_done == 300
    assert result.rewinds > 0
    beyond = [f for f in result.frames if f.origin == "beyond"]
    assert len(beyond) == min(result.rewinds, settings.max_candidates)  # the least uncertain kept
    assert all(f.uncertainty_eV_per_A >= 0.05 for f in beyond)
    # after every rewind the walker is back inside the window: it never drifts on where it is lost
    assert np.all(np.linalg.norm(result.end.positions - start.positions, axis=1) < 0.05)


def test_without_rewinds_the_walker_runs_on_beyond_the_window_keeping_one_frame_per_excursion() -> None:
    start = molecule("H2O")
    settings = WalkerSettings(
        temperature_K=600, steps=300, threshold_eV_per_A=0.02, upper_eV_per_A=0.05, sampled_frames=0, seed=4,
        max_candidates=1000, rewind_after=0,
    )
    result = Walker(EMTWithStd(start.positions), settings).run(start)
    assert (result.stop_reason, result.steps_done, result.rewinds) == ("budget", 300, 0)
    values = result.uncertainties_eV_per_A
    lost = values >= 0.05
    excursions = int(lost[0]) + int(np.sum(lost[1:] & ~lost[:-1]))
    beyond = [f for f in result.frames if f.origin == "beyond"]
    assert excursions > 0
    assert len(beyond) == excursions
    assert all(f.uncertainty_eV_per_A >= 0.05 for f in beyond)
    assert np.sum(lost) > excursions  # it stayed out there for a while: no rewind brought it back


def test_with_patience_the_walker_rewinds_only_after_that_many_checks_beyond_the_window() -> None:
    start = molecule("H2O")
    common = {"temperature_K": 600, "steps": 300, "threshold_eV_per_A": 0.02, "upper_eV_per_A": 0.05,
              "sampled_frames": 0, "seed": 4, "max_candidates": 1000}
    at_once = Walker(EMTWithStd(start.positions), WalkerSettings(**common, rewind_after=1)).run(start)
    patient = Walker(EMTWithStd(start.positions), WalkerSettings(**common, rewind_after=5)).run(start)
    values = patient.uncertainties_eV_per_A
    lost = values >= 0.05
    assert 0 < patient.rewinds < at_once.rewinds
    # every rewind ended a run of exactly 5 checks out there; no run was longer
    runs, current = [], 0
    for out in lost:
        current = current + 1 if out else 0
        if current == 5:
            runs.append(current)
            current = 0  # the walker is back at its last confident frame
    assert len(runs) == patient.rewinds
    assert len([f for f in patient.frames if f.origin == "beyond"]) >= patient.rewinds


def test_patience_counts_steps_when_the_walker_checks_every_few_steps() -> None:
    """``rewind_after`` is MD steps: checking every 5th step, 10 steps out there are 2 checks."""
    start = molecule("H2O")
    settings = WalkerSettings(
        temperature_K=600, steps=600, threshold_eV_per_A=0.02, upper_eV_per_A=0.05, sampled_frames=0, seed=4,
        max_candidates=1000, rewind_after=10, check_interval=5,
    )
    result = Walker(EMTWithStd(start.positions), settings).run(start)
    lost = result.uncertainties_eV_per_A >= 0.05
    assert len(lost) == 120
    assert result.rewinds > 0
    runs, current = 0, 0
    for out in lost:
        current = current + 1 if out else 0
        if current == 2:
            runs, current = runs + 1, 0
    assert runs == result.rewinds


def test_a_walker_checking_every_few_steps_asks_the_gp_for_its_uncertainty_only_there() -> None:
    """On a real GP with ``uncertainty="on_request"``: the std is computed at the checks alone, and
    the walk is the one a calculator computing it at every step gives."""
    from ase import Atoms

    from alforge.data import labelled
    from alforge.models import GPPotential

    rng = np.random.default_rng(0)
    frames = []
    for _ in range(12):
        atoms = Atoms(molecule("H2O").numbers, molecule("H2O").positions + rng.normal(scale=0.05, size=(3, 3)))
        atoms.calc = EMT()
        frames.append(labelled(atoms, atoms.get_potential_energy(), atoms.get_forces()))
    model = GPPotential("matern52", max_iterations=5)
    model.fit(frames)
    asked = []
    predict = model.predict_positions

    def counting(positions, *, with_std=True):  # a spy on the real model, not a fake
        asked.append(with_std)
        return predict(positions, with_std=with_std)

    settings = WalkerSettings(temperature_K=300, steps=60, threshold_eV_per_A=10.0, check_interval=5, seed=3)
    model.predict_positions = counting  # type: ignore[method-assign]
    lazy = Walker(model.calculator(uncertainty="on_request"), settings).run(frames[0])
    assert asked.count(True) == 12  # one per check
    assert asked.count(False) == 61  # one per MD step (and the first forces)
    asked.clear()
    eager = Walker(model.calculator(), settings).run(frames[0])
    assert asked.count(True) == 61
    assert asked.count(False) == 0
    np.testing.assert_allclose(lazy.uncertainties_eV_per_A, eager.uncertainties_eV_per_A, rtol=1e-6)
    np.testing.assert_allclose(lazy.end.positions, eager.end.positions, atol=1e-8)


def test_a_walker_outside_a_campaign_rewinds_as_a_campaign_walker_does() -> None:
    """The notebook default and the campaign spec's default patience beyond the window agree."""
    from dataclasses import fields

    from alforge.config import ExplorationSpec

    default = next(f.default for f in fields(WalkerSettings) if f.name == "rewind_after")
    assert default == ExplorationSpec().rewind_after > 1  # not "at once": that kept the MD near the labels


def test_walker_continues_from_positions_and_velocities() -> None:
    """Two runs of 20 steps from the first's end equal one run of 40 steps under NVE (no noise)."""
    start = molecule("H2O")
    calc = EMTWithStd(start.positions, scale=0.0)
    settings = WalkerSettings(temperature_K=300, steps=20, threshold_eV_per_A=1.0, thermostat="nve", seed=7)
    first = Walker(calc, settings).run(start)
    assert first.end_velocities_A_per_fs is not None
    second = Walker(EMTWithStd(start.positions, scale=0.0), settings).run(first.end, first.end_velocities_A_per_fs)
    whole = Walker(EMTWithStd(start.positions, scale=0.0), WalkerSettings(
        temperature_K=300, steps=40, threshold_eV_per_A=1.0, thermostat="nve", seed=7)).run(start)
    np.testing.assert_allclose(second.end.positions, whole.end.positions, atol=1e-10)


def test_guard_ends_the_walker_and_unspent_steps_are_not_confident() -> None:
    start = molecule("H2O")
    settings = WalkerSettings(temperature_K=300, steps=50, threshold_eV_per_A=10.0, min_distance_A=1.5, seed=3)
    result = Walker(EMTWithStd(start.positions, scale=0.0), settings).run(start)
    assert result.stop_reason.startswith("guard: atoms")
    assert result.frames[-1].origin == "guard"
    assert min_distance_A(result.frames[-1].atoms)[0] < 1.5
    assert result.steps_done < 50
    assert result.confident_steps == result.steps_done - 1  # every step but the guarded one
    assert result.confident_fraction == result.confident_steps / 50
    assert result.end_velocities_A_per_fs is None  # restart point: the last confident frame, fresh velocities


def test_fresh_velocities_carry_the_walkers_temperature() -> None:
    """Fresh velocities (a start, a rewind) hold kT/2 per degree of freedom the fixed centre of mass leaves.

    Before, ASE's temperature-preserving ``Stationary`` and ``ZeroRotation`` put a water molecule's
    whole 9-dof kinetic energy into its 3 vibrations after every rewind.
    """
    from ase import units

    walker = Walker(EMTWithStd(molecule("H2O").positions), WalkerSettings(temperature_K=500, steps=1,
                                                                           threshold_eV_per_A=1.0))
    rng = np.random.default_rng(0)
    energies = []
    for _ in range(3000):
        atoms = molecule("H2O")
        walker._thermalise(atoms, rng)
        np.testing.assert_allclose(atoms.get_momenta().sum(axis=0), 0.0, atol=1e-12)
        energies.append(atoms.get_kinetic_energy())
    dof = 3 * 3 - 3
    assert np.mean(energies) == pytest.approx(dof / 2 * units.kB * 500, rel=0.05)
