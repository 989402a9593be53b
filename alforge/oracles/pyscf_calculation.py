"""One PySCF energy + gradient calculation with an SCF convergence ladder (runs inside a worker).

Numbers stay in PySCF's atomic units here (Hartree, Bohr); :mod:`alforge.oracles.pyscf_oracle`
converts them, so Hartree and Bohr never leave the package.

The SCF convergence ladder
--------------------------
An unconverged SCF returns an energy without raising, so ``mf.converged`` is checked after every
step, and the next step is tried only if the previous one failed:

1. ``diis`` -- PySCF's default DIIS, from the occupied orbitals of the nearest previous
   structure when they are given (re-orthonormalised in the new overlap metric), otherwise from
   PySCF's default (MINAO) guess.
2. ``level_shift`` -- from a fresh MINAO guess, with a 0.5 Eh virtual-orbital level shift and
   0.5 damping (stops oscillation between near-degenerate occupations).
3. ``newton`` -- second-order SCF (``mf.newton()``, augmented-Hessian Newton-Raphson) from the
   density of step 2.

Every step runs at most ``max_cycle`` (macro-)iterations. Level shift and damping change the
path, not the converged solution, so any converged step gives the same level of theory. Only a
converged SCF is differentiated (analytic gradients; DFT with grid response by default, which
makes forces the exact derivative of the energy).
"""

from __future__ import annotations

import os
import signal
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "LADDER",
    "LadderStep",
    "PySCFTask",
    "density_from_orbitals",
    "ecp_map",
    "occupied_orbitals",
    "run",
]


@dataclass(frozen=True)
class LadderStep:
    """One rung of the SCF convergence ladder.

    Attributes
    ----------
    name
        Short name recorded in the result details.
    level_shift_Eh
        Virtual-orbital level shift in Hartree (0: none).
    damp
        Fraction of the previous Fock matrix mixed in (0: none).
    second_order
        Use PySCF's second-order (Newton) solver.
    guess
        ``"given"`` (the task's guess orbitals if any, else MINAO), ``"minao"``, or ``"previous"``
        (the density the previous rung ended with).
    """

    name: str
    level_shift_Eh: float = 0.0
    damp: float = 0.0
    second_order: bool = False
    guess: str = "given"


LADDER: tuple[LadderStep, ...] = (
    LadderStep("diis"),
    LadderStep("level_shift", level_shift_Eh=0.5, damp=0.5, guess="minao"),
    LadderStep("newton", second_order=True, guess="previous"),
)
"""The SCF convergence ladder, tried in order until one step converges."""


@dataclass(frozen=True)
class PySCFTask:
    """Everything a worker needs for one calculation (picklable).

    Attributes
    ----------
    numbers
        Atomic numbers, shape ``(n_atoms,)``.
    positions_bohr
        Positions in Bohr, shape ``(n_atoms, 3)``.
    method
        ``"HF"`` or a functional name.
    basis
        Basis-set name.
    charge, spin
        Total charge (e) and 2S.
    density_fit
        Use density fitting (PySCF's default auxiliary basis).
    dispersion
        PySCF dispersion version (``"d3bj"``, ``"d4"``, ...) or ``None``.
    grid_level
        DFT integration grid level (ignored for HF).
    grid_response
        Include the grid response in DFT gradients.
    conv_tol
        SCF energy convergence threshold in Hartree.
    max_cycle
        Iterations per ladder step.
    threads
        OpenMP threads for this calculation.
    guess_orbitals
        Occupied orbital coefficients of a nearby structure to start from, one ``(nao, n_occ)``
        array (restricted) or two (alpha, beta; unrestricted), or ``None``.
    fault
        Test hook only: ``"sigkill"``, ``"sigsegv"`` or ``"exit"`` makes the worker fail on
        purpose before computing (to test that the parent quarantines a dead worker).
    """

    numbers: tuple[int, ...]
    positions_bohr: np.ndarray
    method: str
    basis: str
    charge: int
    spin: int
    density_fit: bool
    dispersion: str | None
    grid_level: int | None
    grid_response: bool
    conv_tol: float
    max_cycle: int
    threads: int = 1
    guess_orbitals: tuple[np.ndarray, ...] | None = None
    fault: str | None = None


def is_hartree_fock(method: str) -> bool:
    """True for ``"HF"`` (any case); anything else is a DFT functional."""
    return method.strip().upper() == "HF"


def ecp_map(basis: str, symbols: Sequence[str]) -> dict[str, str]:
    """Elements among ``symbols`` for which ``basis`` comes with an effective core potential.

    def2 bases, for instance, replace the core electrons of elements beyond Kr by an ECP that
    must be used together with the basis.
    """
    from pyscf import gto

    ecp: dict[str, str] = {}
    for symbol in sorted(set(symbols)):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                if gto.basis.load_ecp(basis, symbol):
                    ecp[symbol] = basis
        except Exception:  # PySCF raises several types for "no ECP of this name"
            continue
    return ecp


def build_molecule(task: PySCFTask) -> Any:
    """The PySCF ``Mole`` of a task (positions given in Bohr)."""
    from ase.data import chemical_symbols
    from pyscf import gto

    symbols = [chemical_symbols[z] for z in task.numbers]
    atom = [(symbol, tuple(float(x) for x in xyz)) for symbol, xyz in zip(symbols, task.positions_bohr, strict=True)]
    return gto.M(
        atom=atom,
        unit="Bohr",
        basis=task.basis,
        ecp=ecp_map(task.basis, symbols) or None,
        charge=task.charge,
        spin=task.spin,
        verbose=0,
    )


def build_scf(mol: Any, task: PySCFTask, step: LadderStep) -> Any:
    """A fresh SCF object for ``task`` set up for ladder ``step`` (RHF/UHF/RKS/UKS from the spin)."""
    from pyscf import dft, scf

    unrestricted = task.spin > 0
    if is_hartree_fock(task.method):
        mf = scf.UHF(mol) if unrestricted else scf.RHF(mol)
    else:
        mf = dft.UKS(mol) if unrestricted else dft.RKS(mol)
        mf.xc = task.method
        if task.grid_level is not None:
            mf.grids.level = task.grid_level
    if task.density_fit:
        mf = mf.density_fit()
    if task.dispersion:
        mf.disp = task.dispersion
    mf.conv_tol = task.conv_tol
    mf.max_cycle = task.max_cycle
    mf.verbose = 0
    if step.level_shift_Eh:
        mf.level_shift = step.level_shift_Eh
    if step.damp:
        mf.damp = step.damp
    if step.second_order:
        mf = mf.newton()
        mf.max_cycle = task.max_cycle
        mf.conv_tol = task.conv_tol
    return mf


def occupied_orbitals(mf: Any) -> tuple[np.ndarray, ...]:
    """Occupied MO coefficients of a converged SCF: ``(C,)`` restricted, ``(C_alpha, C_beta)`` unrestricted."""
    coefficients, occupations = np.asarray(mf.mo_coeff), np.asarray(mf.mo_occ)
    if coefficients.ndim == 3:
        return tuple(np.ascontiguousarray(c[:, o > 0]) for c, o in zip(coefficients, occupations, strict=True))
    return (np.ascontiguousarray(coefficients[:, occupations > 0]),)


def density_from_orbitals(mol: Any, orbitals: tuple[np.ndarray, ...]) -> np.ndarray | None:
    """AO density of orbitals from a nearby geometry, made orthonormal in this geometry's overlap.

    Symmetric (Löwdin) orthonormalisation ``C (Cᵀ S C)^(-1/2)`` gives an idempotent density in the
    new metric, a better start than the old density matrix itself. Returns ``None`` if the
    orbitals do not fit (another basis size) or are nearly linearly dependent here.
    """
    overlap = mol.intor_symmetric("int1e_ovlp")
    densities = []
    for c in orbitals:
        if c.shape[0] != overlap.shape[0]:
            return None
        values, vectors = np.linalg.eigh(c.T @ overlap @ c)
        if values.min() < 1e-6:
            return None
        orthonormal = c @ (vectors * values**-0.5) @ vectors.T
        densities.append(orthonormal @ orthonormal.T)
    if len(densities) == 1:
        return 2.0 * densities[0]
    return np.array(densities)


class _IterationCounter:
    """SCF callback that only counts its calls (keeping ``locals()`` would hold every Fock matrix)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, env: dict[str, Any]) -> None:
        self.calls += 1


def _inject_fault(fault: str) -> None:
    if fault == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif fault == "sigsegv":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif fault == "exit":
        os._exit(3)
    msg = f"unknown test fault {fault!r}; use 'sigkill', 'sigsegv' or 'exit'"
    raise ValueError(msg)


def run(task: PySCFTask) -> dict[str, Any]:
    """Run the SCF ladder and, if it converged, the analytic gradient.

    Returns
    -------
    dict
        ``converged`` (bool); ``energy_Eh`` (float, Hartree); ``gradient_Eh_per_bohr``
        (``(n_atoms, 3)`` array, Hartree/Bohr, ``None`` if not converged); ``orbitals`` (occupied
        orbitals of the converged SCF for :func:`density_from_orbitals`, or ``None``); ``ladder``
        (one dict per step tried: ``step``, ``converged``, ``cycles``, ``energy_Eh``,
        ``seconds``); ``converged_step``.
    """
    if task.fault:
        _inject_fault(task.fault)
    from pyscf import lib

    lib.num_threads(task.threads)
    mol = build_molecule(task)
    ladder: list[dict[str, Any]] = []
    previous_density: np.ndarray | None = None
    for step in LADDER:
        mf = build_scf(mol, task, step)
        if step.guess == "given":
            dm0 = None if task.guess_orbitals is None else density_from_orbitals(mol, task.guess_orbitals)
        elif step.guess == "previous":
            dm0 = previous_density
        else:
            dm0 = None
        counter = _IterationCounter()
        mf.callback = counter
        start = time.perf_counter()
        energy = float(mf.kernel(dm0=dm0))
        finite = bool(np.isfinite(energy))
        converged = bool(mf.converged) and finite
        # the Newton solver calls back once per macro-iteration and once more at the end
        cycles = max(counter.calls - 1, 0) if step.second_order else int(getattr(mf, "cycles", counter.calls))
        ladder.append(
            {
                "step": step.name,
                "converged": converged,
                "cycles": cycles,
                "energy_Eh": energy if finite else None,
                "seconds": round(time.perf_counter() - start, 4),
            }
        )
        if converged:
            gradient_method = mf.nuc_grad_method()
            if not is_hartree_fock(task.method):
                gradient_method.grid_response = task.grid_response
            gradient_method.verbose = 0
            gradient = np.asarray(gradient_method.kernel(), dtype=float)
            return {
                "converged": True,
                "energy_Eh": energy,
                "gradient_Eh_per_bohr": gradient,
                "orbitals": occupied_orbitals(mf),
                "ladder": ladder,
                "converged_step": step.name,
            }
        density = np.asarray(mf.make_rdm1(), dtype=float)
        previous_density = density if np.isfinite(density).all() else None
    return {
        "converged": False,
        "energy_Eh": None,
        "gradient_Eh_per_bohr": None,
        "orbitals": None,
        "ladder": ladder,
        "converged_step": None,
    }
