"""Exploration: MD walkers that run their whole step budget on the model and keep what it does not know.

A :class:`Walker` runs molecular dynamics (ASE Langevin, Berendsen or velocity Verlet) on any ASE
calculator whose results include ``forces_std`` (eV/Å per atom). Every ``check_interval`` steps it
reads the frame's uncertainty, the largest per-atom force std ``m``, and sorts the frame into the
trust window of DP-GEN (dpgen2's exploration reports). Reading it costs a GP 5–20 times the MD step
itself, so a walker that checks every few steps should run on a calculator that computes it only
when asked (``model.calculator(uncertainty="on_request")``, as the campaign's walkers do):

- ``m ≤ threshold``: confident; the steps since the last check count as confident time;
- ``threshold < m < upper``: uncertain, a labelling candidate. Each excursion above the threshold
  contributes its most uncertain frame, so the candidates are spread along the trajectory;
- ``m ≥ upper``: beyond the trust window, where the model is lost and its forces mean nothing.
  The first frame of each such excursion is kept as a last-resort candidate. After
  ``rewind_after`` steps out there (default 25, counted at checks) the walker *rewinds*: it returns to
  its last confident frame with fresh Maxwell–Boltzmann velocities and goes on spending its
  budget; with ``rewind_after=0`` it runs on, as DP-GEN's do. Rewinding at once (1) keeps the MD
  where the model is already good, and with it the held-out frames: the verdict then understated
  the error on an independent trajectory 2–3× (water, ethanol at 500 K). Never rewinding lets a
  lost model wander off and overstate. 25 steps let brief excursions into the ensemble's tails
  run on and still bring back a walker that is lost (measured; see the README).

An uncertain frame never ends a walker (the first design stopped at the first one, which kept
every label next to the start structure). Only a physical guard does: atoms closer than
``min_distance_A``, a force above ``max_force_eV_per_A`` or a non-finite energy. The walker then
ends at its last confident frame, which is where the next generation resumes it.

Besides candidates, a walker keeps ``sampled_frames`` frames evenly spaced in time whatever their
uncertainty: the unbiased sample from which held-out frames and the random baseline are drawn.

The result's ``end`` is where the walker stands (positions, and velocities unless a guard ended
it); the campaign stores it so that the next generation continues the same trajectory. No Prefect
here: usable from a notebook.

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
>>> result.stop_reason, result.steps_done, result.confident_steps
('budget', 20, 20)
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
from ase.md.velocitydistribution import Stationary, thermalize_momenta
from ase.md.verlet import VelocityVerlet

__all__ = ["ExploredFrame", "Walker", "WalkerResult", "WalkerSettings", "min_distance_A"]


@dataclass(frozen=True)
class WalkerSettings:
    """How one walker runs and what it keeps.

    Attributes
    ----------
    temperature_K
        Thermostat (and initial velocity) temperature.
    steps
        Step budget: the walker runs all of it unless a physical guard ends it.
    threshold_eV_per_A
        Frames whose largest per-atom force std exceeds this are uncertain (labelling candidates).
    upper_eV_per_A
        Top of the trust window: frames at or above it are kept only as last-resort candidates.
        ``None``: no ceiling.
    rewind_after
        After how many steps beyond the window (consecutive checks × ``check_interval``) the
        walker goes back to its last confident frame; 1: at once; 0: never.
    timestep_fs, thermostat, friction_per_fs
        Integrator settings (``langevin``, ``berendsen`` or ``nve``).
    check_interval
        Read the uncertainty every this many steps (see the module docstring for the calculator).
    min_distance_A, max_force_eV_per_A
        Physical guards: end the walker when atoms come closer or a force grows larger.
    sampled_frames
        How many frames of the trajectory to keep, evenly spaced in time, whatever their uncertainty.
    max_candidates
        At most this many uncertain frames (and as many beyond the window) are kept, the most
        uncertain (resp. the least) first.
    seed
        Seed of the initial velocities, the Langevin noise and the velocities after a rewind.
    """

    temperature_K: float
    steps: int
    threshold_eV_per_A: float
    upper_eV_per_A: float | None = None
    rewind_after: int = 25
    timestep_fs: float = 0.5
    thermostat: str = "langevin"
    friction_per_fs: float = 0.02
    check_interval: int = 1
    min_distance_A: float = 0.5
    max_force_eV_per_A: float = 50.0
    sampled_frames: int = 8
    max_candidates: int = 16
    seed: int = 0


@dataclass
class ExploredFrame:
    """A frame kept from a walker: the structure, its uncertainty (eV/Å), its step and why it was kept."""

    atoms: Atoms
    uncertainty_eV_per_A: float
    step: int
    origin: str  # why it was kept: "sampled", "uncertain", "beyond" or "guard"


@dataclass
class WalkerResult:
    """What a walker did with its budget, the frames it kept and where it stands now."""

    stop_reason: str  # "budget" or "guard: ..."
    steps_budget: int
    steps_done: int
    confident_steps: int
    rewinds: int
    threshold_eV_per_A: float
    max_uncertainty_eV_per_A: float
    uncertainties_eV_per_A: np.ndarray
    end: Atoms
    end_velocities_A_per_fs: np.ndarray | None
    frames: list[ExploredFrame] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def confident_fraction(self) -> float:
        """Share of the step budget spent below the threshold (unspent steps count as not confident)."""
        return self.confident_steps / max(1, self.steps_budget)

    @property
    def completed_fraction(self) -> float:
        """Share of the step budget run."""
        return self.steps_done / max(1, self.steps_budget)


def min_distance_A(atoms: Atoms) -> tuple[float, int, int]:
    """Smallest interatomic distance (Å, minimum image for periodic cells) and its atom pair."""
    if len(atoms) < 2:
        return math.inf, 0, 0
    if atoms.pbc.any():
        distances = atoms.get_all_distances(mic=True)
    else:  # a molecule: plain NumPy, ten times cheaper than ASE's general path (checked every step)
        positions = atoms.positions
        distances = np.sqrt(((positions[:, None] - positions[None]) ** 2).sum(-1))
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

    def _thermalise(self, atoms: Atoms, rng: np.random.Generator) -> None:
        """Maxwell–Boltzmann velocities at the walker's temperature, without centre-of-mass motion.

        kT/2 per degree of freedom the fixed centre of mass leaves. ASE's ``Stationary`` and
        ``ZeroRotation`` by default rescale to keep the temperature of all 3N: after removing
        translation and rotation that put a water molecule's whole 9-dof kinetic energy into its 3
        vibrations, three times too hot, after every start and rewind.
        """
        thermalize_momenta(atoms, self.settings.temperature_K, rng=rng)
        Stationary(atoms, preserve_temperature=False)

    def run(self, start: Atoms, velocities_A_per_fs: np.ndarray | None = None) -> WalkerResult:
        """Run the step budget from ``start`` (not modified).

        Parameters
        ----------
        start
            Where the walker stands.
        velocities_A_per_fs
            Its velocities, shape ``(N, 3)`` in Å/fs, to continue a trajectory; ``None`` draws
            them from the Maxwell–Boltzmann distribution at the walker's temperature.
        """
        s = self.settings
        began = time.perf_counter()
        rng = np.random.default_rng(s.seed)
        atoms = start.copy()
        atoms.calc = self.calculator
        if velocities_A_per_fs is None:
            self._thermalise(atoms, rng)
        else:
            atoms.set_velocities(np.asarray(velocities_A_per_fs, dtype=float) / units.fs)
        dynamics = self._dynamics(atoms, rng)
        upper = math.inf if s.upper_eV_per_A is None else s.upper_eV_per_A
        checks = max(1, math.ceil(s.steps / s.check_interval))
        keep_every = max(1, checks // s.sampled_frames) if s.sampled_frames else 0
        safe = start.positions.copy()  # the last confident positions: rewind and restart point
        uncertainties: list[float] = []
        sampled: list[ExploredFrame] = []
        uncertain: list[ExploredFrame] = []
        beyond: list[ExploredFrame] = []
        peak: ExploredFrame | None = None  # the most uncertain frame of the excursion under way
        stop_reason, steps_done, confident_steps, rewinds = "budget", 0, 0, 0
        out_for = 0  # steps beyond the window, counted at consecutive checks
        guard_frame: ExploredFrame | None = None
        for check in range(checks):
            n = min(s.check_interval, s.steps - steps_done)
            dynamics.run(n)
            steps_done += n
            guard = self._guard(atoms)
            if guard is not None:
                guard_frame = ExploredFrame(_snapshot(atoms), math.inf, steps_done, "guard")
                stop_reason = guard
                break
            uncertainty = self._uncertainty(atoms)
            uncertainties.append(uncertainty)
            if keep_every and (check + 1) % keep_every == 0 and len(sampled) < s.sampled_frames:
                sampled.append(ExploredFrame(_snapshot(atoms), uncertainty, steps_done, "sampled"))
            if uncertainty <= s.threshold_eV_per_A:
                confident_steps += n
                safe = atoms.positions.copy()
                if peak is not None:
                    uncertain.append(peak)
                    peak = None
            elif uncertainty < upper:
                if peak is None or uncertainty > peak.uncertainty_eV_per_A:
                    peak = ExploredFrame(_snapshot(atoms), uncertainty, steps_done, "uncertain")
            else:
                if peak is not None:
                    uncertain.append(peak)
                    peak = None
                if out_for == 0:  # the first frame of each excursion beyond the window
                    beyond.append(ExploredFrame(_snapshot(atoms), uncertainty, steps_done, "beyond"))
                out_for += n
                if s.rewind_after and out_for >= s.rewind_after:
                    rewinds += 1
                    out_for = 0
                    atoms.set_positions(safe, apply_constraint=False)
                    self._thermalise(atoms, rng)
            if uncertainty < upper:
                out_for = 0
        if peak is not None:
            uncertain.append(peak)
        uncertain.sort(key=lambda f: -f.uncertainty_eV_per_A)
        beyond.sort(key=lambda f: f.uncertainty_eV_per_A)
        frames = [*sampled, *uncertain[: s.max_candidates], *beyond[: s.max_candidates]]
        if guard_frame is not None:
            frames.append(guard_frame)
            end, velocities = _snapshot(atoms, positions=safe), None
        else:
            end, velocities = _snapshot(atoms), atoms.get_velocities() * units.fs
        values = np.asarray(uncertainties, dtype=float)
        return WalkerResult(
            stop_reason=stop_reason,
            steps_budget=s.steps,
            steps_done=steps_done,
            confident_steps=confident_steps,
            rewinds=rewinds,
            threshold_eV_per_A=s.threshold_eV_per_A,
            max_uncertainty_eV_per_A=float(values.max()) if values.size else math.inf,
            uncertainties_eV_per_A=values,
            end=end,
            end_velocities_A_per_fs=velocities,
            frames=frames,
            wall_time_s=time.perf_counter() - began,
        )


def _snapshot(atoms: Atoms, positions: np.ndarray | None = None) -> Atoms:
    return Atoms(
        numbers=atoms.numbers, positions=atoms.positions if positions is None else positions,
        cell=atoms.cell, pbc=atoms.pbc,
    )
