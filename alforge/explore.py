"""Exploration: MD walkers on a model calculator that stop where the model is unsure.

A :class:`Walker` runs molecular dynamics (ASE Langevin, Berendsen or velocity Verlet) on any ASE
calculator whose results include ``forces_std`` (eV/Å per atom). Every ``check_interval`` steps
it reads the uncertainty of the current frame, defined as the largest per-atom force std, and
stops at the first frame above the threshold, on a physical guard (atoms closer than
``min_distance_A``, a force above ``max_force_eV_per_A``, a non-finite energy) or at its step
budget. No Prefect here: usable from a notebook.

Example
-------
>>> from ase.build import molecule
>>> from ase.calculators.emt import EMT
>>> class WithStd(EMT):
...     implemented_properties = [*EMT.implemented_properties, "forces_std", "energy_std"]
...     def calculate(self, atoms=None, properties=("energy",), system_changes=()):
...         super().calculate(atoms, ["energy", "forces"], system_changes)
...         self.results["forces_std"] = np.full(len(self.atoms), 0.01)
...         self.results["energy_std"] = 0.01
>>> settings = WalkerSettings(temperature_K=300, steps=20, threshold_eV_per_A=0.1)
>>> result = Walker(WithStd(), settings).run(molecule("H2O"))
>>> result.stop_reason, result.steps_done
('budget', 20)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.constraints import FixCom
from ase.md.langevin import Langevin
from ase.md.md import MolecularDynamics
from ase.md.nvtberendsen import NVTBerendsen
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary, ZeroRotation
from ase.md.verlet import VelocityVerlet

__all__ = ["ExploredFrame", "Walker", "WalkerResult", "WalkerSettings", "min_distance_A"]


@dataclass(frozen=True)
class WalkerSettings:
    """How one walker runs and when it stops.

    Attributes
    ----------
    temperature_K
        Thermostat (and initial velocity) temperature.
    steps
        Step budget.
    threshold_eV_per_A
        Stop at the first checked frame whose largest per-atom force std exceeds this.
    timestep_fs, thermostat, friction_per_fs
        Integrator settings (``langevin``, ``berendsen`` or ``nve``).
    check_interval
        Read the uncertainty every this many steps.
    min_distance_A, max_force_eV_per_A
        Physical guards: stop when atoms come closer or a force grows larger.
    sampled_frames
        How many frames of the trajectory to keep (evenly spaced) as candidates for random
        selection and validation.
    seed
        Seed of the initial velocities and the Langevin noise.
    """

    temperature_K: float
    steps: int
    threshold_eV_per_A: float
    timestep_fs: float = 0.5
    thermostat: str = "langevin"
    friction_per_fs: float = 0.02
    check_interval: int = 1
    min_distance_A: float = 0.5
    max_force_eV_per_A: float = 50.0
    sampled_frames: int = 8
    seed: int = 0


@dataclass
class ExploredFrame:
    """A frame kept from a walker: the structure, its uncertainty (eV/Å) and why it was kept."""

    atoms: Atoms
    uncertainty_eV_per_A: float
    step: int
    reason: str  # "uncertain", "guard", "sampled"


@dataclass
class WalkerResult:
    """What a walker did: how far it got, why it stopped and the frames it kept."""

    stop_reason: str
    steps_done: int
    threshold_eV_per_A: float
    max_uncertainty_eV_per_A: float
    uncertainties_eV_per_A: np.ndarray
    frames: list[ExploredFrame] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def confident_checks(self) -> int:
        """Checked frames at or below the threshold."""
        return int(np.sum(self.uncertainties_eV_per_A <= self.threshold_eV_per_A))


def min_distance_A(atoms: Atoms) -> tuple[float, int, int]:
    """Smallest interatomic distance (Å, minimum image for periodic cells) and its atom pair."""
    if len(atoms) < 2:
        return math.inf, 0, 0
    distances = atoms.get_all_distances(mic=bool(atoms.pbc.any()))
    np.fill_diagonal(distances, np.inf)
    i, j = np.unravel_index(int(np.argmin(distances)), distances.shape)
    return float(distances[i, j]), int(min(i, j)), int(max(i, j))


class Walker:
    """One MD walker on a model calculator (see the module docstring)."""

    def __init__(self, calculator: Calculator, settings: WalkerSettings) -> None:
        self.calculator = calculator
        self.settings = settings

    def _dynamics(self, atoms: Atoms, rng: np.random.Generator) -> MolecularDynamics:
        s = self.settings
        timestep = s.timestep_fs * units.fs
        if s.thermostat == "langevin":
            atoms.set_constraint(FixCom())
            return Langevin(
                atoms, timestep, temperature_K=s.temperature_K, friction=s.friction_per_fs / units.fs,
                fixcm=False, rng=rng,
            )
        if s.thermostat == "berendsen":
            return NVTBerendsen(atoms, timestep, temperature_K=s.temperature_K, taut=100 * units.fs)
        return VelocityVerlet(atoms, timestep)

    def _guard(self, atoms: Atoms) -> str | None:
        s = self.settings
        distance, i, j = min_distance_A(atoms)
        if distance < s.min_distance_A:
            return f"guard: atoms {i} and {j} are {distance:.2f} Å apart (minimum {s.min_distance_A} Å)"
        energy = atoms.get_potential_energy()
        if not math.isfinite(energy):
            return "guard: model energy is not finite"
        largest = float(np.abs(atoms.get_forces()).max())
        if not math.isfinite(largest) or largest > s.max_force_eV_per_A:
            return f"guard: force {largest:.3g} eV/Å above {s.max_force_eV_per_A} eV/Å"
        return None

    def _uncertainty(self, atoms: Atoms) -> float:
        forces_std = self.calculator.get_property("forces_std", atoms)
        return float(np.max(forces_std))

    def run(self, start: Atoms) -> WalkerResult:
        """Run from ``start`` (not modified) until the threshold, a guard or the step budget."""
        s = self.settings
        began = time.perf_counter()
        rng = np.random.default_rng(s.seed)
        atoms = start.copy()
        atoms.calc = self.calculator
        MaxwellBoltzmannDistribution(atoms, temperature_K=s.temperature_K, rng=rng)
        Stationary(atoms)
        ZeroRotation(atoms)
        dynamics = self._dynamics(atoms, rng)
        checks = max(1, math.ceil(s.steps / s.check_interval))
        keep_every = max(1, checks // s.sampled_frames) if s.sampled_frames else 0
        uncertainties: list[float] = []
        frames: list[ExploredFrame] = []
        stop_reason, steps_done = "budget", 0
        last_confident: ExploredFrame | None = None
        for check in range(checks):
            n = min(s.check_interval, s.steps - steps_done)
            dynamics.run(n)
            steps_done += n
            guard = self._guard(atoms)
            uncertainty = self._uncertainty(atoms) if guard is None else math.inf
            if guard is not None:
                frames.append(ExploredFrame(_snapshot(atoms), uncertainty, steps_done, "guard"))
                stop_reason = guard
                break
            uncertainties.append(uncertainty)
            if uncertainty > s.threshold_eV_per_A:
                frames.append(ExploredFrame(_snapshot(atoms), uncertainty, steps_done, "uncertain"))
                stop_reason = "uncertain"
                break
            if keep_every and (check + 1) % keep_every == 0 and len(frames) < s.sampled_frames:
                frames.append(ExploredFrame(_snapshot(atoms), uncertainty, steps_done, "sampled"))
            elif keep_every:
                last_confident = ExploredFrame(_snapshot(atoms), uncertainty, steps_done, "sampled")
        if keep_every and last_confident is not None and not any(f.reason == "sampled" for f in frames):
            # A walker that stopped before its first sampled frame still offers the last frame it
            # was confident about, so that early-stopping generations have held-out candidates.
            frames.insert(0, last_confident)
        values = np.asarray(uncertainties, dtype=float)
        return WalkerResult(
            stop_reason=stop_reason,
            steps_done=steps_done,
            threshold_eV_per_A=s.threshold_eV_per_A,
            max_uncertainty_eV_per_A=float(values.max()) if values.size else math.inf,
            uncertainties_eV_per_A=values,
            frames=frames,
            wall_time_s=time.perf_counter() - began,
        )


def _snapshot(atoms: Atoms) -> Atoms:
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
