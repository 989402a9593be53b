"""PySCF as an oracle: Hartree-Fock or Kohn-Sham DFT energies and analytic forces of molecules.

Closed shells (``spin=0``) run restricted (RHF/RKS), open shells (``spin>0``) unrestricted
(UHF/UKS). Each calculation runs in a persistent worker process
(:mod:`alforge.oracles.worker_pool`) that is killed with SIGKILL when it exceeds
``wall_time_s``; a killed or crashed worker, an SCF that the convergence ladder
(:data:`alforge.oracles.pyscf_calculation.LADDER`) cannot converge, or non-finite or unphysical
results give a quarantined :class:`~alforge.oracles.base.OracleResult`, never an exception.

PySCF works in Hartree and Bohr; positions are converted with ASE's Bohr on the way in and
energies/gradients with ASE's Hartree and Bohr on the way out, so the numbers leaving this module
are eV and eV/Å.

(Over 400 lines because one class holds the whole contract of an oracle for PySCF: the level of
theory and its round trip, the set-up checks with their one-line fixes, input validation and
compute with its quarantine paths. The SCF itself lives in :mod:`~alforge.oracles.pyscf_calculation`
and the processes in :mod:`~alforge.oracles.worker_pool`.)

Example
-------
>>> from ase.build import molecule
>>> oracle = PySCFOracle(method="HF", basis="sto-3g")
>>> result = oracle.compute(molecule("H2O"))
>>> result.ok, round(result.energy_eV, 1)
(True, -2039.9)
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from collections.abc import Sequence
from importlib import metadata
from typing import Any, ClassVar

import numpy as np
from ase import Atoms, units
from ase.data import chemical_symbols

from alforge.errors import OracleInputError, OracleSetupError
from alforge.oracles.base import Oracle, OracleResult
from alforge.oracles.checks import check_atomic_numbers, net_force_eV_per_A, problem_with_labels
from alforge.oracles.guess_cache import GuessCache
from alforge.oracles.level_of_theory import LevelOfTheory
from alforge.oracles.pyscf_calculation import PySCFTask, is_hartree_fock
from alforge.oracles.worker_pool import WorkerKind, shared_pool

__all__ = ["PySCFOracle"]

DISPERSION_VERSIONS = ("d3bj", "d3zero", "d3bjm", "d3zerom", "d3op", "d4")
"""Dispersion corrections PySCF 2.x knows (``2b``/``atm`` suffixes toggle the three-body term)."""

PRELOAD = (
    "numpy",
    "pyscf",
    "pyscf.scf",
    "pyscf.dft",
    "pyscf.grad",
    "pyscf.df",
    "pyscf.soscf",
    "alforge.oracles.pyscf_calculation",
)
"""Modules a PySCF worker imports once at start-up."""

_CALCULATION = "alforge.oracles.pyscf_calculation:run"
_PROBE_SYMBOLS = ("H", "C", "O", "Na", "Fe", "I")


def _int_setting(name: str, value: Any, minimum: int, example: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}; pass e.g. {name}={example}"
        raise OracleSetupError(msg)
    return int(value)


def _float_setting(name: str, value: Any, low: float, high: float, example: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        msg = f"{name} must be a number, got {value!r}; pass e.g. {name}={example}"
        raise OracleSetupError(msg)
    number = float(value)
    if not low < number <= high:
        msg = f"{name} must be in ({low:g}, {high:g}], got {value!r}; pass e.g. {name}={example}"
        raise OracleSetupError(msg)
    return number


def _bool_setting(name: str, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        msg = f"{name} must be True or False, got {value!r}"
        raise OracleSetupError(msg)
    return bool(value)


class PySCFOracle(Oracle):
    """Hartree-Fock / DFT energies (eV) and analytic forces (eV/Å) of isolated molecules with PySCF.

    Parameters
    ----------
    method
        ``"HF"`` or any exchange-correlation functional PySCF knows (``"PBE"``, ``"B3LYP"``,
        ``"wB97X"``, ...). Restricted or unrestricted is chosen from ``spin``.
    basis
        Any basis-set name PySCF knows (``"sto-3g"``, ``"6-31g*"``, ``"def2-svp"``, ...);
        effective core potentials that come with the basis (def2 beyond Kr) are used.
    charge
        Total charge in e.
    spin
        2S, the number of unpaired electrons (PySCF's convention); > 0 runs UHF/UKS.
    density_fit
        Density fitting with PySCF's default auxiliary basis (faster, slightly different numbers).
    dispersion
        Dispersion correction (``"d3bj"``, ``"d3zero"``, ``"d4"``, ... as PySCF's ``mf.disp``);
        needs the ``pyscf-dispersion`` package.
    conv_tol
        SCF energy convergence threshold in Hartree.
    max_cycle
        SCF iterations allowed per step of the convergence ladder.
    grid_level
        DFT integration grid level 0-9 (PySCF's default is 3); ignored for HF.
    grid_response
        Include the grid response in DFT forces, making them the exact derivative of the energy.
    threads
        OpenMP/BLAS threads per calculation (1 is fastest for small molecules; run several
        calculations in parallel instead).
    wall_time_s
        Wall-time limit per calculation in s, counted from when the structure reaches a ready
        worker (starting a worker is not counted); the worker is killed when it is exceeded.
        ``None``: no limit.
    reuse_guess
        Start each SCF from the converged orbitals of the nearest previous structure with the
        same atoms within 0.1 Å RMSD (saves a few cycles and the MINAO guess on trajectories).
        The result then depends, at the SCF tolerance, on what this oracle computed before:
        campaigns, which label in parallel, turn it off unless ``oracle.options`` asks for it.
    min_distance_A
        Structures with two atoms closer than this (Å) are refused.

    Raises
    ------
    OracleSetupError
        For an unknown method, basis or dispersion version, or invalid settings.

    Examples
    --------
    >>> oracle = PySCFOracle(method="PBE", basis="def2-svp", wall_time_s=60)
    >>> oracle.level_of_theory.describe()
    'pyscf PBE/def2-svp (charge 0, spin 0)'
    """

    name: ClassVar[str] = "pyscf"
    allow_periodic: ClassVar[bool] = False

    def __init__(
        self,
        method: str = "HF",
        basis: str = "sto-3g",
        charge: int = 0,
        spin: int = 0,
        *,
        density_fit: bool = False,
        dispersion: str | None = None,
        conv_tol: float = 1e-9,
        max_cycle: int = 100,
        grid_level: int | None = 3,
        grid_response: bool = True,
        threads: int = 1,
        wall_time_s: float | None = 600.0,
        reuse_guess: bool = True,
        min_distance_A: float = 0.5,
    ) -> None:
        self.method = self._check_method(method)
        self.basis = self._check_basis(basis)
        if isinstance(charge, bool) or not isinstance(charge, int | np.integer):
            msg = f"charge must be an integer (in e), got {charge!r}; pass e.g. charge=0"
            raise OracleSetupError(msg)
        self.charge = int(charge)
        self.spin = _int_setting("spin", spin, 0, "0 (singlet) or 1 (doublet)")
        self.density_fit = _bool_setting("density_fit", density_fit)
        self.dispersion = self._check_dispersion(dispersion)
        self.conv_tol = _float_setting("conv_tol", conv_tol, 0.0, 1e-3, "1e-9")
        self.max_cycle = _int_setting("max_cycle", max_cycle, 1, "100")
        self.grid_level = None if grid_level is None else _int_setting("grid_level", grid_level, 0, "3")
        if self.grid_level is not None and self.grid_level > 9:
            msg = f"grid_level must be between 0 and 9, got {grid_level!r}; pass e.g. grid_level=3"
            raise OracleSetupError(msg)
        self.grid_response = _bool_setting("grid_response", grid_response)
        self.threads = _int_setting("threads", threads, 1, "1")
        self.wall_time_s = (
            None if wall_time_s is None else _float_setting("wall_time_s", wall_time_s, 0.0, math.inf, "600")
        )
        self.reuse_guess = _bool_setting("reuse_guess", reuse_guess)
        self.min_distance_A = _float_setting("min_distance_A", min_distance_A, -math.inf, 10.0, "0.5")
        self._guesses = GuessCache(max_entries=16, max_rmsd_A=0.1)
        self._checked_elements: set[int] = set()
        self._check_lock = threading.Lock()
        self._kind = WorkerKind(preload=PRELOAD, threads=self.threads)
        self._level = self._make_level()
        self._test_fault: str | None = None

    @staticmethod
    def _check_method(method: Any) -> str:
        if not isinstance(method, str) or not method.strip():
            msg = f"method must be a non-empty string, got {method!r}; pass e.g. method='HF' or 'PBE'"
            raise OracleSetupError(msg)
        method = method.strip()
        if is_hartree_fock(method):
            return "HF"
        from pyscf.dft import libxc
        from pyscf.scf import dispersion

        try:
            xc = dispersion.parse_dft(method.lower())[0]
            libxc.parse_xc(xc)
        except (KeyError, ValueError) as exc:
            msg = (
                f"unknown method {method!r}: PySCF knows neither HF nor a functional of that name; "
                "use 'HF' (restricted/unrestricted follows spin) or a functional such as 'PBE', 'B3LYP'"
            )
            raise OracleSetupError(msg) from exc
        return method

    @staticmethod
    def _check_basis(basis: Any) -> str:
        if not isinstance(basis, str) or not basis.strip():
            msg = f"basis must be a non-empty string, got {basis!r}; pass e.g. basis='def2-svp'"
            raise OracleSetupError(msg)
        basis = basis.strip()
        for symbol in _PROBE_SYMBOLS:
            if _basis_functions(basis, symbol):
                return basis
        msg = f"unknown basis {basis!r}: PySCF has no basis set of that name; use e.g. 'sto-3g', 'def2-svp'"
        raise OracleSetupError(msg)

    @staticmethod
    def _check_dispersion(dispersion: Any) -> str | None:
        if dispersion is None:
            return None
        if not isinstance(dispersion, str):
            msg = f"dispersion must be a string or None, got {dispersion!r}; pass e.g. dispersion='d3bj'"
            raise OracleSetupError(msg)
        version = dispersion.strip().lower().split(":")[0].removesuffix("2b").removesuffix("atm")
        if version not in DISPERSION_VERSIONS:
            msg = (
                f"unknown dispersion correction {dispersion!r}; "
                f"use one of {', '.join(DISPERSION_VERSIONS)} (optionally with a '2b' or 'atm' suffix)"
            )
            raise OracleSetupError(msg)
        from importlib.util import find_spec

        if find_spec("pyscf.dispersion") is None:
            msg = (
                f"dispersion={dispersion!r} needs the pyscf-dispersion package, which is not installed; "
                "install it with `pip install pyscf-dispersion` or pass dispersion=None"
            )
            raise OracleSetupError(msg)
        return dispersion.strip().lower()

    def _make_level(self) -> LevelOfTheory:
        hf = is_hartree_fock(self.method)
        reference = ("U" if self.spin > 0 else "R") + ("HF" if hf else "KS")
        settings: dict[str, Any] = {
            "reference": reference,
            "density_fit": self.density_fit,
            "dispersion": self.dispersion,
            "grid_level": None if hf else self.grid_level,
            "grid_response": None if hf else self.grid_response,
            "conv_tol": self.conv_tol,
        }
        return LevelOfTheory(
            code=self.name,
            method=self.method,
            basis=self.basis,
            charge=self.charge,
            spin=self.spin,
            settings=settings,
            code_version=metadata.version("pyscf"),
        )

    @property
    def level_of_theory(self) -> LevelOfTheory:
        """Method, basis, charge, spin, every number-changing setting and PySCF's version."""
        return self._level

    @classmethod
    def from_level(cls, level: LevelOfTheory) -> PySCFOracle:
        """Rebuild the oracle that produced results at ``level`` (default run-time settings)."""
        settings = level.settings
        keys = ("density_fit", "dispersion", "conv_tol")
        kwargs: dict[str, Any] = {key: settings[key] for key in keys if key in settings}
        for key in ("grid_level", "grid_response"):
            if settings.get(key) is not None:
                kwargs[key] = settings[key]
        return cls(method=level.method, basis=level.basis or "", charge=level.charge, spin=level.spin, **kwargs)

    def check(self, numbers: Sequence[int] | np.ndarray) -> None:
        """Raise :class:`OracleSetupError` if these atoms cannot be computed at this level of theory.

        Checks that every atomic number is a real element, that the basis has functions for it,
        and that the electron count (sum of ``numbers`` minus ``charge``) fits ``spin``.

        Parameters
        ----------
        numbers
            Atomic numbers, shape ``(n_atoms,)``.
        """
        z = check_atomic_numbers(numbers)
        if z.size == 0:
            return  # nothing more to check; validate() refuses an empty structure
        self._check_basis_covers(sorted({int(value) for value in z}))
        electrons = int(z.sum()) - self.charge
        if electrons > 0 and self.spin <= electrons and (electrons - self.spin) % 2 == 0:
            return
        formula = Atoms(numbers=z).get_chemical_formula()
        if electrons <= 0:
            msg = f"{formula} with charge {self.charge} has {electrons} electrons; lower the charge"
            raise OracleSetupError(msg)
        low = electrons % 2
        msg = (
            f"{formula} with charge {self.charge} has {electrons} electrons, which cannot have "
            f"spin (2S) {self.spin}; use spin={low} (or {low + 2}, ...) or change the charge"
        )
        raise OracleSetupError(msg)

    def _check_basis_covers(self, elements: list[int]) -> None:
        with self._check_lock:
            missing = [z for z in elements if z not in self._checked_elements]
            for z in missing:
                symbol = chemical_symbols[z]
                if not _basis_functions(self.basis, symbol):
                    msg = (
                        f"element {symbol} (Z={z}) has no basis functions in {self.basis}; "
                        f"choose a basis that covers {symbol} (e.g. def2-svp up to Rn)"
                    )
                    raise OracleSetupError(msg)
                self._checked_elements.add(z)

    def warm_up(self, workers: int = 1) -> None:
        """Start ``workers`` worker processes now (each imports PySCF once, about a second)."""
        shared_pool().warm_up(self._kind, workers)

    def abort(self) -> None:
        """Kill the worker processes running this oracle's calculations now."""
        shared_pool().kill_running(owner=self)

    def compute(self, atoms: Atoms) -> OracleResult:
        """Energy (eV) and forces (eV/Å) of one molecule; quarantined on any per-structure failure.

        Parameters
        ----------
        atoms
            The molecule, positions in Å, not periodic.

        Returns
        -------
        OracleResult
            ``details`` holds ``ladder`` (every SCF step tried), ``converged_step``,
            ``scf_cycles``, ``guess`` (``"minao"`` or ``"previous"``), ``guess_rmsd_A``,
            ``net_force_eV_per_A`` and ``worker_pid``.

        Raises
        ------
        OracleSetupError
            If :meth:`check` fails for the atoms or no worker process can be started.
        """
        start = time.perf_counter()
        self.check(atoms.numbers)
        try:
            self.validate(atoms)
        except OracleInputError as exc:
            return self._quarantine(str(exc), start, attempts=0, details={"phase": "input"})
        positions_A = atoms.get_positions()
        nearest = self._guesses.nearest(atoms.numbers, positions_A) if self.reuse_guess else None
        details: dict[str, Any] = {
            "guess": "minao" if nearest is None else "previous",
            "guess_rmsd_A": None if nearest is None else round(nearest[1], 6),
        }
        task = PySCFTask(
            numbers=tuple(int(z) for z in atoms.numbers),
            positions_bohr=positions_A / units.Bohr,
            method=self.method,
            basis=self.basis,
            charge=self.charge,
            spin=self.spin,
            density_fit=self.density_fit,
            dispersion=self.dispersion,
            grid_level=self.grid_level,
            grid_response=self.grid_response,
            conv_tol=self.conv_tol,
            max_cycle=self.max_cycle,
            threads=self.threads,
            guess_orbitals=None if nearest is None else nearest[0],
            fault=self._test_fault,
        )
        outcome = shared_pool().run(self._kind, _CALCULATION, task, self.wall_time_s, owner=self)
        details["worker_pid"] = outcome.pid
        if outcome.kind == "error":
            return self._quarantine(f"PySCF failed: {outcome.message}", start, attempts=1, details=details)
        if outcome.kind != "ok":
            return self._quarantine(outcome.message, start, attempts=1, details=details)
        value = outcome.value
        ladder = value["ladder"]
        details.update(
            ladder=ladder,
            converged_step=value["converged_step"],
            scf_cycles=sum(step["cycles"] for step in ladder),
        )
        if not value["converged"]:
            steps = ", ".join(f"{step['step']} ({step['cycles']} cycles)" for step in ladder)
            error = f"SCF not converged after ladder: {steps}; raise max_cycle or check the structure"
            return self._quarantine(error, start, attempts=len(ladder), details=details)
        energy_eV = float(value["energy_Eh"]) * units.Hartree
        forces = -np.asarray(value["gradient_Eh_per_bohr"], dtype=float) * (units.Hartree / units.Bohr)
        problem = problem_with_labels(energy_eV, forces, atoms)
        details["net_force_eV_per_A"] = net_force_eV_per_A(forces) if forces.shape == (len(atoms), 3) else None
        if problem is not None:
            return self._quarantine(problem, start, attempts=len(ladder), details=details)
        if self.reuse_guess and value["orbitals"] is not None:
            self._guesses.store(atoms.numbers, positions_A, value["orbitals"])
        return OracleResult(
            status="ok",
            energy_eV=energy_eV,
            forces_eV_per_A=forces,
            error=None,
            wall_time_s=time.perf_counter() - start,
            attempts=len(ladder),
            level=self._level,
            details=details,
        )

    def _quarantine(self, error: str, start: float, *, attempts: int, details: dict[str, Any]) -> OracleResult:
        return OracleResult.quarantined(
            error,
            level=self._level,
            wall_time_s=time.perf_counter() - start,
            attempts=attempts,
            details=details,
        )

    def __repr__(self) -> str:
        return f"PySCFOracle({self._level.describe()}, wall_time_s={self.wall_time_s})"


_BASIS_LOCK = threading.Lock()


def _basis_functions(basis: str, symbol: str) -> bool:
    """True if PySCF's ``basis`` has functions for element ``symbol``."""
    from pyscf import gto

    try:
        # one thread at a time: catch_warnings swaps the process-wide warning filters
        with _BASIS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return bool(gto.basis.load(basis, symbol))
    except Exception:  # PySCF raises BasisNotFoundError, KeyError, RuntimeError, ... for "not found"
        return False
