"""MD walkers: stop on uncertainty, on physical guards, or at the step budget."""

from __future__ import annotations

from typing import Any

import numpy as np
from ase.build import molecule
from ase.calculators.emt import EMT

from alforge.explore import Walker, WalkerSettings, min_distance_A


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
    assert result.steps_done == 30
    assert len(result.uncertainties_eV_per_A) == 30
    assert result.confident_checks == 30
    assert [f.reason for f in result.frames] == ["sampled"] * 3
    np.testing.assert_array_equal(start.positions, molecule("H2O").positions)


def test_walker_stops_at_first_uncertain_frame() -> None:
    start = molecule("H2O")
    settings = WalkerSettings(temperature_K=600, steps=500, threshold_eV_per_A=0.02, seed=2)
    result = Walker(EMTWithStd(start.positions), settings).run(start)
    assert result.stop_reason == "uncertain"
    assert result.steps_done < 500
    assert result.frames[-1].reason == "uncertain"
    assert result.frames[-1].uncertainty_eV_per_A > 0.02
    assert np.all(result.uncertainties_eV_per_A[:-1] <= 0.02)


def test_early_stop_keeps_the_last_confident_frame_as_a_sample() -> None:
    start = molecule("H2O")
    settings = WalkerSettings(temperature_K=300, steps=500, threshold_eV_per_A=0.1, sampled_frames=2, seed=2)
    result = Walker(EMTWithStd(start.positions), settings).run(start)
    assert result.stop_reason == "uncertain"
    assert 1 < result.steps_done < 250  # stopped before the first regular sample (every 250 steps)
    sampled, stop = result.frames
    assert (sampled.reason, stop.reason) == ("sampled", "uncertain")
    assert sampled.step == result.steps_done - 1
    assert sampled.uncertainty_eV_per_A <= 0.1


def test_walker_guard_on_close_atoms_records_the_frame() -> None:
    start = molecule("H2O")
    settings = WalkerSettings(temperature_K=300, steps=50, threshold_eV_per_A=10.0, min_distance_A=1.5, seed=3)
    result = Walker(EMTWithStd(start.positions, scale=0.0), settings).run(start)
    assert result.stop_reason.startswith("guard: atoms")
    assert result.frames[-1].reason == "guard"
    assert min_distance_A(result.frames[-1].atoms)[0] < 1.5
