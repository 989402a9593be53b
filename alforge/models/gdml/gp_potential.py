"""Gradient-domain Gaussian-process potential of one molecule (symmetrised, energies + forces).

The energy is a GP over inverse interatomic distances with a permutation-symmetrised Matérn-5/2
(or RBF) kernel (:class:`~alforge.models.gdml.gdml_kernel.GDMLKernel`); training uses energies *and*
forces through the kernel's derivatives, and predicted forces are the exact negative gradient of
the predicted energy, so MD on the model conserves energy. Hyperparameters come from the
marginal likelihood (:mod:`~alforge.models.gdml.hyperparameter_search`); the solve is exact (Cholesky)
while the kernel matrix fits in memory and sparse (inducing structures) beyond
(:mod:`~alforge.models.gdml.gp_solvers`). Predictions run through
:class:`~alforge.models.gdml.gdml_posterior.GDMLPosterior`.

The posterior standard deviations are multiplied by a calibration factor ``α`` fitted on held-out
structures (:mod:`~alforge.models.gdml.held_out_calibration`).

The module is over 400 lines because the class holds the fit's orchestration (subset search,
solve, calibration, bound notes) next to its options and their validation; the numerics live in
the sibling modules (search, solvers, held-out calibration, posterior, persistence).

Example
-------
>>> from ase.build import molecule
>>> from alforge.models.common.toy import emt_methane
>>> frames = emt_methane(12)  # toy data: displaced methane labelled by ASE's EMT
>>> model = GPPotential(kernel="matern52")
>>> report = model.fit(frames)                  # labelled frames of one molecule
>>> atoms = molecule("CH4")
>>> atoms.calc = model.calculator()             # energy, forces, energy_std, forces_std
>>> atoms.get_forces().shape
(5, 3)
>>> sorted(atoms.calc.results)
['energy', 'energy_std', 'forces', 'forces_std', 'free_energy']
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import torch
from ase import Atoms
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import ScaleKernel

from alforge.errors import ModelError
from alforge.models.base import Potential, resolve_device, resolve_dtype
from alforge.models.common.calibration import calibration_factor
from alforge.models.common.frames import stack_positions
from alforge.models.fit_report import FitReport
from alforge.models.gdml.gdml_kernel import GDMLKernel
from alforge.models.gdml.gdml_posterior import GDMLPosterior
from alforge.models.gdml.gp_persistence import gp_from_state, gp_state
from alforge.models.gdml.gp_solvers import SOLVERS, GPSolution, choose_solver, solve
from alforge.models.gdml.gradient_noise import GradientNoise
from alforge.models.gdml.held_out_calibration import held_out_errors
from alforge.models.gdml.hyperparameter_search import bound_notes, optimise_hyperparameters
from alforge.models.gdml.matern52_gdml_kernel import Matern52GDMLKernel
from alforge.models.gdml.rbf_gdml_kernel import RBFGDMLKernel
from alforge.models.gdml.symmetries import resolve_permutations
from alforge.models.prediction import Prediction

__all__ = ["KERNELS", "GPPotential"]

KERNELS: dict[str, type[GDMLKernel]] = {"matern52": Matern52GDMLKernel, "rbf": RBFGDMLKernel}


class GPPotential(Potential):
    """Symmetrised gradient-domain GP on inverse distances, trained on energies and forces.

    Parameters
    ----------
    kernel
        Radial profile: ``"matern52"`` (default, as sGDML) or ``"rbf"``.
    symmetries
        ``"auto"``: automorphisms of the bond graph of the first training structure;
        ``"none"``: no symmetrisation; or an integer array ``(S, N)`` of atom permutations.
    bond_scale
        Bond criterion for ``"auto"`` (see :func:`~alforge.models.gdml.symmetries.bond_graph`).
    max_symmetries
        Largest permutation group accepted for ``"auto"``.
    optimize
        Maximise the marginal likelihood; with ``False`` the hyperparameters below are used as
        given (all four are then required).
    n_hyperparameter_structures
        The marginal likelihood is maximised on a random subset of at most this many training
        structures (its cost grows with the square to the cube of the size); the final solve
        uses all. On ethanol (100 structures of a 500 K trajectory) 40, 60 and 100 gave the same
        test force MAE to 1e-5 eV/Å, with searches of 6, 17 and 57 s.
    max_iterations
        L-BFGS iterations of the polish after the grid (see
        :mod:`~alforge.models.gdml.hyperparameter_search`).
    lengthscale, signal_variance_eV2, energy_noise_eV, force_noise_eV_per_A
        Fixed hyperparameters (descriptor length scale in 1/Å, signal variance in eV², noise
        standard deviations) for ``optimize=False``.
    min_force_noise_eV_per_A, min_energy_noise_eV
        Lower bounds of the noise standard deviations (GPyTorch constraints); they keep the
        kernel matrix well conditioned.
    solver
        ``"auto"`` (exact when the ``M × M`` kernel matrix fits in half the free memory, else
        sparse), ``"exact"`` or ``"sparse"``.
    n_inducing
        Inducing structures of the sparse solver (default: as many as keep the inducing
        kernel at ≤ 6000 rows).
    variance_rank
        Rank of the precomputed variance factor: ``"auto"`` (exact up to 1000 kernel rows,
        else 64), an integer, or ``None`` for always exact. Prediction cost grows with it.
    n_neighbours
        Nearest training structures whose outputs sharpen a low-rank variance (the local
        correction of :class:`~alforge.models.gdml.gdml_posterior.GDMLPosterior`); 0 disables it.
    calibrate
        Fit the calibration factor ``α`` of the standard deviations on held-out structures (a
        fifth of the training structures, at most 50, at least 2; else ``α = 1``).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    dtype
        ``"float64"`` (default) or ``"float32"``.
    seed
        Seed of the subset choice and the randomised factorisation.
    """

    kind: ClassVar[str] = "gp"

    def __init__(
        self,
        kernel: str = "matern52",
        *,
        symmetries: str | np.ndarray = "auto",
        bond_scale: float = 1.2,
        max_symmetries: int = 1000,
        optimize: bool = True,
        n_hyperparameter_structures: int = 40,
        max_iterations: int = 10,
        lengthscale: float | None = None,
        signal_variance_eV2: float | None = None,
        energy_noise_eV: float | None = None,
        force_noise_eV_per_A: float | None = None,
        min_force_noise_eV_per_A: float = 1e-3,
        min_energy_noise_eV: float = 1e-3,
        solver: str = "auto",
        n_inducing: int | None = None,
        variance_rank: int | str | None = "auto",
        n_neighbours: int = 8,
        calibrate: bool = True,
        device: str = "auto",
        dtype: str = "float64",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if kernel not in KERNELS:
            msg = f"unknown kernel {kernel!r}; use one of {sorted(KERNELS)}"
            raise ModelError(msg)
        if solver not in SOLVERS:
            msg = f"unknown solver {solver!r}; use one of {list(SOLVERS)}"
            raise ModelError(msg)
        if isinstance(symmetries, str) and symmetries not in ("auto", "none"):
            msg = f"symmetries={symmetries!r} is not understood; use 'auto', 'none' or an (S, N) permutation array"
            raise ModelError(msg)
        fixed = (lengthscale, signal_variance_eV2, energy_noise_eV, force_noise_eV_per_A)
        if not optimize and any(v is None for v in fixed):
            msg = (
                "optimize=False needs lengthscale, signal_variance_eV2, energy_noise_eV and "
                "force_noise_eV_per_A; give all four or use optimize=True"
            )
            raise ModelError(msg)
        if variance_rank is not None and variance_rank != "auto" and int(variance_rank) < 1:
            msg = f"variance_rank={variance_rank!r} must be a positive integer, 'auto' or None"
            raise ModelError(msg)
        self.kernel_name = kernel
        self.symmetries_option = symmetries
        self.bond_scale = bond_scale
        self.max_symmetries = max_symmetries
        self.optimize = optimize
        self.n_hyperparameter_structures = n_hyperparameter_structures
        self.max_iterations = max_iterations
        self.fixed_hyperparameters = fixed
        self.min_force_noise_eV_per_A = min_force_noise_eV_per_A
        self.min_energy_noise_eV = min_energy_noise_eV
        self.solver = solver
        self.n_inducing = n_inducing
        self.variance_rank = variance_rank
        self.n_neighbours = n_neighbours
        self.calibrate = calibrate
        self.calibration = 1.0
        self.fixed_calibration: float | None = None
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.seed = seed
        self.permutations: np.ndarray | None = None
        self.covar_module: ScaleKernel | None = None
        self.noise: GradientNoise | None = None
        self.prior_mean_eV = 0.0
        self.posterior: GDMLPosterior | None = None
        self._solver_used = solver

    # ---- modules ---------------------------------------------------------------------------
    def _build_modules(self, n_atoms: int) -> tuple[ScaleKernel, GradientNoise]:
        base = KERNELS[self.kernel_name](n_atoms, self.permutations)
        covar = ScaleKernel(base, outputscale_constraint=GreaterThan(1e-12, torch.exp, torch.log))
        noise = GradientNoise(
            energy_noise_constraint=GreaterThan(self.min_energy_noise_eV**2, torch.exp, torch.log),
            force_noise_constraint=GreaterThan(self.min_force_noise_eV_per_A**2, torch.exp, torch.log),
        )
        return covar.to(self.device, self.dtype), noise.to(self.device, self.dtype)

    def set_hyperparameters(self, hyperparameters: dict[str, Any]) -> None:
        """Fix the hyperparameters (as returned by :attr:`hyperparameters`) and stop optimising them.

        A ``calibration`` entry fixes the calibration factor too (no held-out solve); without
        one it is fitted as usual. A ``kernel`` entry must name this model's kernel.
        """
        kernel = hyperparameters.get("kernel", self.kernel_name)
        if kernel != self.kernel_name:
            msg = (
                f"hyperparameters are of a {kernel!r} kernel but this GP has {self.kernel_name!r}; "
                "build it with that kernel"
            )
            raise ModelError(msg)
        calibration = hyperparameters.get("calibration")
        if calibration is not None and not float(calibration) > 0:
            msg = f"calibration={calibration!r} must be positive; paste a fitted GP's .hyperparameters"
            raise ModelError(msg)
        self.fixed_calibration = None if calibration is None else float(calibration)
        try:
            self.fixed_hyperparameters = (
                float(hyperparameters["lengthscale_per_A"]),
                float(hyperparameters["signal_variance_eV2"]),
                float(hyperparameters["energy_noise_eV"]),
                float(hyperparameters["force_noise_eV_per_A"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"hyperparameters lack {exc}; pass the dict of a fitted GP's .hyperparameters"
            raise ModelError(msg) from exc
        self.optimize = False

    def _apply_fixed(self, covar: ScaleKernel, noise: GradientNoise) -> None:
        lengthscale, signal, energy_noise, force_noise = self.fixed_hyperparameters
        for name, value in zip(("lengthscale", "signal_variance_eV2"), (lengthscale, signal), strict=True):
            if value is None or not value > 0:
                msg = f"{name}={value!r} must be positive"
                raise ModelError(msg)
        covar.base_kernel.lengthscale = torch.tensor(lengthscale, dtype=self.dtype, device=self.device)
        covar.outputscale = torch.tensor(signal, dtype=self.dtype, device=self.device)
        # The noise setters move a value on or under the floor just above it and keep any other.
        noise.energy_noise = float(energy_noise or 0.0) ** 2
        noise.force_noise = float(force_noise or 0.0) ** 2

    # ---- fitting ---------------------------------------------------------------------------
    def _fit(
        self,
        numbers: np.ndarray,
        positions_A: np.ndarray,
        energies_eV: np.ndarray,
        forces_eV_per_A: np.ndarray,
        frames: Sequence[Atoms],
    ) -> FitReport:
        n_structures, n_atoms = positions_A.shape[:2]
        n_outputs = 1 + 3 * n_atoms
        self.permutations = resolve_permutations(
            self.symmetries_option, np.asarray(numbers), positions_A[0], self.bond_scale, self.max_symmetries
        )
        covar, noise = self._build_modules(n_atoms)
        x = torch.as_tensor(positions_A.reshape(n_structures, -1), dtype=self.dtype, device=self.device)
        prior_mean = float(energies_eV.mean())
        targets = np.concatenate(
            [(energies_eV - prior_mean)[:, None], -forces_eV_per_A.reshape(n_structures, -1)], axis=1
        )
        y = torch.as_tensor(targets.reshape(-1), dtype=self.dtype, device=self.device)
        notes: list[str] = []
        start = time.perf_counter()
        n_search = 0
        if self.optimize:
            generator = np.random.default_rng(self.seed)
            n_search = min(n_structures, self.n_hyperparameter_structures)
            subset = np.sort(generator.choice(n_structures, size=n_search, replace=False))
            rows = (subset[:, None] * n_outputs + np.arange(n_outputs)).reshape(-1)
            result = optimise_hyperparameters(
                covar, noise, x[subset], y[rows], max_iterations=self.max_iterations
            )
            notes.append(
                f"marginal likelihood maximised on {n_search} structures: grid over length scale × noise "
                f"{result.grid_time_s:.2f} s, then {result.n_evaluations} L-BFGS evaluations "
                f"{result.lbfgs_time_s:.2f} s"
            )
            notes.extend(result.notes)
        else:
            self._apply_fixed(covar, noise)
        search_time = time.perf_counter() - start
        for p in (*covar.parameters(), *noise.parameters()):
            p.requires_grad_(False)
        solution = self._solve(covar, noise, x, y, n_outputs)
        notes.extend(solution.notes)
        self.covar_module, self.noise, self.prior_mean_eV = covar, noise, prior_mean
        self.posterior = self._posterior_of(solution, positions_A)
        solved = time.perf_counter()
        self.calibration = 1.0
        if self.fixed_calibration is not None:
            self.calibration = self.fixed_calibration
            notes.append(f"calibration α = {self.calibration:.3g} as given")
        elif self.calibrate:
            notes.append(self._calibrate(positions_A, forces_eV_per_A, x, y, n_outputs, solution))
        timings = {
            "search": search_time,
            "solve": solved - start - search_time,
            "calibration": time.perf_counter() - solved,
        }
        hyper = self.hyperparameters
        notes.extend(bound_notes(hyper, covar, self.min_force_noise_eV_per_A))
        return FitReport(
            kind=self.kind,
            n_structures=n_structures,
            n_atoms=n_atoms,
            solver=self._solver_used,
            fit_time_s=0.0,
            hyperparameters=hyper,
            n_rows=n_structures * n_outputs,
            variance=solution.variance,
            hyperparameter_time_s=search_time,
            n_hyperparameter_structures=n_search,
            log_marginal_likelihood=solution.log_marginal_likelihood,
            notes=notes,
            timings_s=timings,
        )

    def _posterior_of(self, solution: GPSolution, positions_A: np.ndarray) -> GDMLPosterior:
        return self._make_posterior(
            positions_A[solution.centre_indices.cpu().numpy()],
            solution.weights,
            solution.factor,
            solution.local_basis,
        )

    def _calibrate(
        self,
        positions_A: np.ndarray,
        forces_eV_per_A: np.ndarray,
        x: torch.Tensor,
        y: torch.Tensor,
        n_outputs: int,
        solution: GPSolution,
    ) -> str:
        """Set :attr:`calibration` on held-out structures (:mod:`~alforge.models.gdml.held_out_calibration`)."""
        if self.covar_module is None or self.noise is None:
            msg = "the GP has no kernel; fit it first"
            raise ModelError(msg)
        covar, noise, solver_used = self.covar_module, self.noise, self._solver_used

        def refit(kept: np.ndarray) -> GDMLPosterior:
            rows = torch.as_tensor((kept[:, None] * n_outputs + np.arange(n_outputs)).reshape(-1), device=y.device)
            try:
                return self._posterior_of(self._solve(covar, noise, x[kept], y[rows], n_outputs), positions_A[kept])
            finally:
                self._solver_used = solver_used

        outcome = held_out_errors(positions_A, forces_eV_per_A, solution, noise, n_outputs, self.seed + 1, refit)
        if isinstance(outcome, str):
            return outcome
        error2, variance, source = outcome
        alpha = calibration_factor(error2, variance)
        if alpha is None:
            return "calibration skipped: zero predicted variance on the held-out structures (α = 1)"
        self.calibration = alpha
        return f"calibration α = {self.calibration:.3g} from {source}"

    def _solve(
        self, covar: ScaleKernel, noise: GradientNoise, x: torch.Tensor, y: torch.Tensor, n_outputs: int
    ) -> GPSolution:
        noise_diag = noise.diagonal(x.shape[0], n_outputs - 1).detach()
        self._solver_used = choose_solver(self.solver, x.shape[0] * n_outputs, self.dtype, self.device)
        return solve(
            covar,
            noise_diag,
            x,
            y,
            solver=self._solver_used,
            n_inducing=self.n_inducing,
            variance_rank=self.variance_rank,
            seed=self.seed,
        )

    def _make_posterior(
        self,
        centres_A: np.ndarray,
        weights: torch.Tensor,
        factor: torch.Tensor | None,
        local_basis: torch.Tensor | None,
    ) -> GDMLPosterior:
        covar, noise = self.covar_module, self.noise
        if covar is None or noise is None:
            msg = "the GP has no kernel; fit it first"
            raise ModelError(msg)
        n_atoms = centres_A.shape[1]
        noise_variances = noise.diagonal(1, 3 * n_atoms).detach().to(self.device, self.dtype)
        return GDMLPosterior(
            covar.base_kernel,
            lengthscale=float(covar.base_kernel.lengthscale.detach()),
            outputscale=float(covar.outputscale.detach()),
            prior_mean_eV=self.prior_mean_eV,
            centres_A=torch.as_tensor(centres_A, device=self.device, dtype=self.dtype),
            weights=weights.to(self.device, self.dtype).reshape(-1, 1 + 3 * n_atoms),
            factor=None if factor is None else factor.to(self.device, self.dtype),
            local_basis=None if local_basis is None else local_basis.to(self.device, self.dtype),
            noise_variances=noise_variances,
            n_neighbours=self.n_neighbours,
        )

    # ---- prediction ------------------------------------------------------------------------
    def _require_posterior(self) -> GDMLPosterior:
        self._require_fitted()
        if self.posterior is None:
            msg = "the GP is not fitted; call fit(frames) first or load a saved model"
            raise ModelError(msg)
        return self.posterior

    def predict_positions(self, positions_A: np.ndarray, *, with_std: bool = True) -> Prediction:
        """Predict from positions in Å, shape ``(n, N, 3)`` (see :meth:`Potential.predict`)."""
        posterior = self._require_posterior()
        positions_A = np.asarray(positions_A)
        if not with_std and positions_A.shape[0] == 1 and posterior.device.type == "cpu":
            one_energy, one_forces = posterior.mean_of_one(positions_A[0])  # an MD step: NumPy is faster
            return Prediction(
                np.array([one_energy]), one_forces[None], np.zeros(1), np.zeros((1, positions_A.shape[1]))
            )
        positions = torch.as_tensor(positions_A, device=posterior.device, dtype=posterior.dtype)
        with torch.no_grad():
            out = posterior(positions, with_variance=with_std)
        energy = out.energy_eV.cpu().numpy().astype(float)
        forces = out.forces_eV_per_A.cpu().numpy().astype(float)
        if out.energy_var_eV2 is None or out.forces_var_eV2_per_A2 is None:
            return Prediction(energy, forces, np.zeros_like(energy), np.zeros(forces.shape[:2]))
        energy_std = self.calibration * out.energy_var_eV2.sqrt().cpu().numpy().astype(float)
        forces_std = self.calibration * out.forces_var_eV2_per_A2.mean(-1).sqrt().cpu().numpy().astype(float)
        return Prediction(energy, forces, energy_std, forces_std)

    def predict_force_variances(self, positions_A: np.ndarray) -> np.ndarray:
        """Calibrated posterior variance of every force component in (eV/Å)², shape ``(n, N, 3)``."""
        posterior = self._require_posterior()
        positions = torch.as_tensor(np.asarray(positions_A), device=posterior.device, dtype=posterior.dtype)
        with torch.no_grad():
            out = posterior(positions, with_variance=True)
        if out.forces_var_eV2_per_A2 is None:
            msg = "this GP has no variance factor; refit it"
            raise ModelError(msg)
        return self.calibration**2 * out.forces_var_eV2_per_A2.cpu().numpy().astype(float)

    def descriptor(self, frames: Sequence[Atoms]) -> np.ndarray:
        """Inverse interatomic distances in 1/Å, shape ``(n, N (N - 1) / 2)``."""
        numbers = self._require_fitted()
        positions = torch.as_tensor(stack_positions(frames, numbers))
        return self._require_posterior().descriptor(positions).numpy()

    # ---- hyperparameters -------------------------------------------------------------------
    @property
    def force_noise_eV_per_A(self) -> float:
        """Fitted force noise standard deviation per component in eV/Å."""
        if self.noise is None:
            msg = "the GP is not fitted; call fit(frames) first"
            raise ModelError(msg)
        return float(self.noise.force_noise.detach().sqrt())

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Kernel, length scale (1/Å), signal variance (eV²), noises, prior mean, symmetries."""
        if self.covar_module is None or self.noise is None:
            msg = "the GP is not fitted; call fit(frames) first"
            raise ModelError(msg)
        return {
            "kernel": self.kernel_name,
            "lengthscale_per_A": float(self.covar_module.base_kernel.lengthscale.detach()),
            "signal_variance_eV2": float(self.covar_module.outputscale.detach()),
            "energy_noise_eV": float(self.noise.energy_noise.detach().sqrt()),
            "force_noise_eV_per_A": float(self.noise.force_noise.detach().sqrt()),
            "prior_mean_eV": float(self.prior_mean_eV),
            "n_symmetries": int(self.covar_module.base_kernel.n_symmetries),
            "calibration": float(self.calibration),
        }

    # ---- persistence -----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return gp_state(self)

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Self:
        return gp_from_state(cls, state)
