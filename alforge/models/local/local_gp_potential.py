"""Local many-body GP potential: two- and three-body terms, any atom count, periodic cells.

The energy is a sum of smooth-cutoff pair and triplet terms per element pair/triplet
(:mod:`~alforge.models.local.kernel`), learned from energies *and* forces. The GP is sparse:
on ``M`` inducing pair distances (a grid per element pair) and triplet features (farthest-point
samples of the training triplets), the energy is linear in ``M`` whitened weights, so training
is Bayesian linear regression with cost ``O(N_rows M²)`` — linear in the number of training
structures — and hyperparameters maximise its closed-form marginal likelihood (L-BFGS on a
subset of structures). Forces are the exact negative gradient of the predicted energy;
uncertainties are the Subset-of-Regressors posterior stds of the energy and each force component
(latent, without noise): the sparse GPs of FLARE (Vandermause et al.) and Glielmo et al.
Unlike the global GP, frames may have any number of atoms of the training elements
(:attr:`species`); :attr:`numbers` is the first training structure's, for :meth:`predict_positions`.
Over 400 lines because the class is the whole user-facing model (options, fit over blocks,
prediction of any size, persistence); the numerics live in the sibling modules of ``local/``.

Example
-------
Trained on methane (a few inducing points keep the example fast), the model predicts ethane too:

>>> from ase.build import molecule
>>> from alforge.models.common.toy import emt_methane
>>> frames = emt_methane(12)  # toy data: displaced methane labelled by ASE's EMT
>>> model = LocalGPPotential(pair_cutoff_A=3.0, triplet_cutoff_A=3.0, n_pair_inducing=12, n_triplet_inducing=12,
...                          max_iterations=10)
>>> report = model.fit(frames)                 # labelled frames, any sizes, periodic or not
>>> atoms = molecule("C2H6")
>>> atoms.calc = model.calculator()            # energy, forces, energy_std, forces_std
>>> atoms.get_forces().shape, atoms.calc.results["forces_std"].shape
((8, 3), (8,))
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
from ase import Atoms

from alforge.errors import FitError, ModelError, ModelInputError
from alforge.models.base import Potential, resolve_device, resolve_dtype
from alforge.models.common.frames import level_hashes, read_labels
from alforge.models.common.threads import torch_threads
from alforge.models.fit_report import FitReport
from alforge.models.local.calculator import LocalPotentialCalculator
from alforge.models.local.descriptors import LocalEnvironments
from alforge.models.local.hyperparameter_search import initial_values, search_hyperparameters
from alforge.models.local.inducing import MIN_TRIPLET_SPACING, choose_inducing, lengthscale_bounds
from alforge.models.local.kernel import LocalInducing, LocalKernel
from alforge.models.local.weight_regression import design_rows, element_offsets, row_variance, solve_weights
from alforge.models.prediction import Prediction

__all__ = ["LocalGPPotential"]


class LocalGPPotential(Potential):
    """Sparse two-body (+ three-body) GP potential for structures of any size.

    Parameters
    ----------
    three_body
        Add the three-body term (default ``True``); ``False`` gives a pair potential.
    pair_cutoff_A, triplet_cutoff_A
        Cutoffs in Å (``triplet_cutoff_A`` at most ``pair_cutoff_A``; default: ``pair_cutoff_A``).
        ``pair_cutoff_A=None`` (default): chosen at fit time among a few candidates by held-out
        force error (:mod:`~alforge.models.local.cutoff`); the fit report says which and why.
    n_pair_inducing
        Inducing distances per element pair (a grid from just below the shortest training
        distance to the cutoff).
    n_triplet_inducing
        Inducing triplets per element triplet (farthest-point samples of the training triplets).
    optimize
        Maximise the marginal likelihood; else ``hyperparameters`` are used as given.
    hyperparameters
        Fixed values (a fitted model's :attr:`hyperparameters`) for ``optimize=False``.
    n_hyperparameter_structures
        The marginal likelihood is maximised on at most this many random training structures.
    max_iterations
        L-BFGS iterations of the search.
    min_energy_noise_eV, min_force_noise_eV_per_A
        Lower bounds of the noise standard deviations (energy noise is per atom).
    offset_prior_eV
        Prior standard deviation of the per-element energies learned on top of the
        least-squares baseline (eV per atom).
    batch_structures
        Structures per block when the normal equations are accumulated (memory bound).
    threads
        PyTorch threads during fit and prediction (restored afterwards); default 1, since the
        matrices are small and more threads cost more than they give (a 22-structure water-dimer
        fit took 70 s with 2 threads on a busy 2-core machine, 4.5 s with 1). ``None``: leave as is.
    device, dtype, seed
        As for :class:`~alforge.models.gdml.gp_potential.GPPotential`.
    """

    kind: ClassVar[str] = "local"

    def __init__(
        self,
        *,
        three_body: bool = True,
        pair_cutoff_A: float | None = None,
        triplet_cutoff_A: float | None = None,
        n_pair_inducing: int = 64,
        n_triplet_inducing: int = 96,
        optimize: bool = True,
        hyperparameters: dict[str, float] | None = None,
        n_hyperparameter_structures: int = 24,
        max_iterations: int = 40,
        min_energy_noise_eV: float = 1e-4,
        min_force_noise_eV_per_A: float = 1e-4,
        offset_prior_eV: float = 1.0,
        batch_structures: int = 4,
        threads: int | None = 1,
        device: str = "cpu",
        dtype: str = "float64",
        seed: int = 0,
    ) -> None:
        super().__init__()
        if pair_cutoff_A is not None and not pair_cutoff_A > 0:
            msg = f"pair_cutoff_A={pair_cutoff_A} must be positive (Å), or None to choose it from the data"
            raise ModelError(msg)
        if three_body and triplet_cutoff_A is not None and not 0 < triplet_cutoff_A <= (pair_cutoff_A or math.inf):
            msg = f"triplet_cutoff_A={triplet_cutoff_A} must be in (0, pair_cutoff_A={pair_cutoff_A}]"
            raise ModelError(msg)
        if not optimize and not hyperparameters:
            msg = "optimize=False needs hyperparameters (a fitted local model's .hyperparameters)"
            raise ModelError(msg)
        if n_pair_inducing < 2 or n_triplet_inducing < 1:
            msg = f"n_pair_inducing={n_pair_inducing} (≥ 2) and n_triplet_inducing={n_triplet_inducing} (≥ 1)"
            raise ModelError(msg)
        self.three_body = three_body
        self.pair_cutoff_option = pair_cutoff_A
        self.triplet_cutoff_option = triplet_cutoff_A if three_body else None
        self._set_cutoffs(pair_cutoff_A, triplet_cutoff_A)
        self.n_pair_inducing = n_pair_inducing
        self.n_triplet_inducing = n_triplet_inducing
        self.optimize = optimize
        self.fixed_hyperparameters = dict(hyperparameters or {})
        self.n_hyperparameter_structures = n_hyperparameter_structures
        self.max_iterations = max_iterations
        self.min_energy_noise_eV = min_energy_noise_eV
        self.min_force_noise_eV_per_A = min_force_noise_eV_per_A
        self.offset_prior_eV = offset_prior_eV
        self.batch_structures = batch_structures
        if threads is not None and threads < 1:
            msg = f"threads={threads} must be a positive number of PyTorch threads or None"
            raise ModelError(msg)
        self.threads = threads
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype)
        self.seed = seed
        self.species: list[int] = []
        self.offsets_eV: dict[int, float] = {}
        self.kernel: LocalKernel | None = None
        self.inducing: LocalInducing | None = None
        self.weights: torch.Tensor | None = None
        self.precision_factor: torch.Tensor | None = None
        self.lengthscale_bounds_A: dict[str, tuple[float, float]] = {}

    # ---- fitting ---------------------------------------------------------------------------
    def fit(self, frames: Sequence[Atoms], *, energy_key: str = "energy", forces_key: str = "forces") -> FitReport:
        """Fit on labelled frames of any sizes and compositions (energies in eV, forces in eV/Å).

        Overrides :meth:`Potential.fit`, whose checks assume one molecule in one atom order.
        ``energy_key`` and ``forces_key`` say where the labels are (see
        :func:`~alforge.models.common.frames.label_of`).

        Raises
        ------
        ModelInputError
            Empty data, unlabelled frames, NaN positions or labels, mixed levels of theory.
        FitError
            Numerical failure of the solve.
        """
        energies, forces = read_labels(frames, energy_key=energy_key, forces_key=forces_key)
        self._training_level_hash = None
        self.check_level(frames)
        hashes = level_hashes(frames)
        start = time.perf_counter()
        notes: list[str] = []
        with torch_threads(self.threads):
            if self.pair_cutoff_option is None:
                from alforge.models.local.cutoff import choose_cutoff

                choice = choose_cutoff(self, list(frames), energies, forces)
                self._set_cutoffs(choice.pair_cutoff_A, choice.triplet_cutoff_A)
                notes.append(choice.note)
            else:
                self._set_cutoffs(self.pair_cutoff_option, self.triplet_cutoff_option)
            report = self._fit_frames(list(frames), energies, forces)
        report.notes = [*notes, *report.notes]
        report.fit_time_s = time.perf_counter() - start
        self.numbers = np.asarray(frames[0].numbers).copy()
        self._training_level_hash = next(iter(hashes)) if hashes else None
        self.fit_report = report
        return report

    def _set_cutoffs(self, pair_cutoff_A: float | None, triplet_cutoff_A: float | None) -> None:
        """Set the cutoffs in use (``None``: not known before fit chooses it)."""
        self.pair_cutoff_A: float = float("nan") if pair_cutoff_A is None else float(pair_cutoff_A)
        triplet = pair_cutoff_A if triplet_cutoff_A is None else triplet_cutoff_A
        self.triplet_cutoff_A: float | None = None if not self.three_body or triplet is None else float(triplet)

    def options(self) -> dict[str, Any]:
        """Constructor options of this model (the cutoffs as given: ``None`` means chosen at fit)."""
        return {
            "three_body": self.three_body,
            "pair_cutoff_A": self.pair_cutoff_option,
            "triplet_cutoff_A": self.triplet_cutoff_option,
            "n_pair_inducing": self.n_pair_inducing,
            "n_triplet_inducing": self.n_triplet_inducing,
            "optimize": self.optimize,
            "hyperparameters": dict(self.fixed_hyperparameters) or None,
            "n_hyperparameter_structures": self.n_hyperparameter_structures,
            "max_iterations": self.max_iterations,
            "min_energy_noise_eV": self.min_energy_noise_eV,
            "min_force_noise_eV_per_A": self.min_force_noise_eV_per_A,
            "offset_prior_eV": self.offset_prior_eV,
            "batch_structures": self.batch_structures,
            "threads": self.threads,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "seed": self.seed,
        }

    def _fit(self, *args: Any) -> FitReport:  # pragma: no cover - fit() is overridden
        msg = "LocalGPPotential fits through fit(frames)"
        raise ModelError(msg)

    def _fit_frames(self, frames: list[Atoms], energies: np.ndarray, forces: list[np.ndarray]) -> FitReport:
        self.species = sorted({int(z) for f in frames for z in f.numbers})
        self.offsets_eV = element_offsets(frames, energies, self.species)
        residual = energies - self._offset_energy(frames)
        rms_force = float(np.sqrt(np.mean(np.concatenate([f.ravel() for f in forces]) ** 2))) or 1.0
        envs = [
            LocalEnvironments.build(frames[s : s + self.batch_structures], self.pair_cutoff_A, self.triplet_cutoff_A)
            for s in range(0, len(frames), self.batch_structures)
        ]
        self.inducing = self._inducing(envs)
        bounds = lengthscale_bounds(self.inducing, self.pair_cutoff_A, self.triplet_cutoff_A, self.n_pair_inducing)
        self.lengthscale_bounds_A = bounds
        kernel = self._build_kernel()
        notes: list[str] = []
        start = time.perf_counter()
        n_search = 0
        if self.optimize:
            kernel.set_values(initial_values(kernel, rms_force, residual, frames))
            rng = np.random.default_rng(self.seed)
            n_search = min(len(frames), self.n_hyperparameter_structures)
            subset = np.sort(rng.choice(len(frames), size=n_search, replace=False))
            env = LocalEnvironments.build([frames[i] for i in subset], self.pair_cutoff_A, self.triplet_cutoff_A)
            targets = self._targets(residual[subset], [forces[i] for i in subset])
            settings = (self.species, self.offset_prior_eV, self.three_body, self.max_iterations)
            notes.extend(search_hyperparameters(kernel, env, self.inducing, targets, *settings))
        else:
            kernel.set_values(self.fixed_hyperparameters)
        search_time = time.perf_counter() - start
        for p in kernel.parameters():
            p.requires_grad_(False)
        self.kernel = kernel
        if self.three_body:  # thin the triplet points to the fitted length scale (see inducing.choose_inducing)
            self.inducing = self._inducing(envs, MIN_TRIPLET_SPACING * float(kernel.triplet_lengthscale_A))
        blocks = (
            (env, self._targets(residual[b : b + env.n_structures], forces[b : b + env.n_structures]))
            for b, env in zip(range(0, len(frames), self.batch_structures), envs, strict=True)
        )
        solution = solve_weights(kernel, blocks, self.inducing, self.species, self.offset_prior_eV)
        self.precision_factor, self.weights = solution.factor, solution.weights
        hyper = self.hyperparameters
        if not all(math.isfinite(v) for v in hyper.values() if isinstance(v, float)):
            msg = f"fitted hyperparameters are not finite: {hyper}; fix them (optimize=False)"
            raise FitError(msg)
        return FitReport(
            kind=self.kind,
            n_structures=len(frames),
            n_atoms=int(max(len(f) for f in frames)),
            solver="sparse",
            fit_time_s=0.0,
            hyperparameters=hyper,
            n_rows=solution.n_rows,
            variance=f"subset-of-regressors({self.inducing.n_columns})",
            hyperparameter_time_s=search_time,
            n_hyperparameter_structures=n_search,
            log_marginal_likelihood=solution.log_marginal_likelihood,
            notes=[*notes, f"atoms per structure {min(len(f) for f in frames)}–{max(len(f) for f in frames)}"],
        )

    def _targets(self, residual_eV: np.ndarray, forces: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.as_tensor(residual_eV, dtype=self.dtype, device=self.device),
            torch.as_tensor(np.concatenate([f.reshape(-1, 3) for f in forces]), dtype=self.dtype, device=self.device),
        )

    def _inducing(self, envs: list[LocalEnvironments], min_triplet_distance_A: float | None = None) -> LocalInducing:
        return choose_inducing(
            envs,
            pair_cutoff_A=self.pair_cutoff_A,
            triplet_cutoff_A=self.triplet_cutoff_A,
            n_pair_inducing=self.n_pair_inducing,
            n_triplet_inducing=self.n_triplet_inducing,
            seed=self.seed,
            dtype=self.dtype,
            device=self.device,
            min_triplet_distance_A=min_triplet_distance_A,
        )

    def _build_kernel(self) -> LocalKernel:
        kernel = LocalKernel(
            self.pair_cutoff_A,
            self.triplet_cutoff_A,
            pair_lengthscale_bounds_A=self.lengthscale_bounds_A["pair"],
            triplet_lengthscale_bounds_A=self.lengthscale_bounds_A["triplet"],
            min_energy_noise_eV=self.min_energy_noise_eV,
            min_force_noise_eV_per_A=self.min_force_noise_eV_per_A,
        )
        return kernel.to(self.device, self.dtype)

    # ---- prediction ------------------------------------------------------------------------
    def _require_solution(self) -> tuple[LocalKernel, LocalInducing, torch.Tensor, torch.Tensor]:
        self._require_fitted()
        if self.kernel is None or self.inducing is None or self.weights is None or self.precision_factor is None:
            msg = "the local GP is not fitted; call fit(frames) first or load a saved model"
            raise ModelError(msg)
        return self.kernel, self.inducing, self.weights, self.precision_factor

    def predict_each(self, frames: Sequence[Atoms], *, with_std: bool = True) -> list[Prediction]:
        """One :class:`Prediction` per frame (frames may differ in size).

        Raises
        ------
        ModelInputError
            An element the model was not trained on, or non-finite coordinates.
        """
        self._require_solution()
        for s, atoms in enumerate(frames):
            unknown = sorted({int(z) for z in getattr(atoms, "numbers", [])} - set(self.species))
            if unknown:
                msg = (
                    f"frame {s} contains elements {Atoms(unknown).get_chemical_symbols()} that the local model "
                    f"was not trained on (it knows {Atoms(self.species).get_chemical_symbols()}); add such data"
                )
                raise ModelInputError(msg)
        with torch_threads(self.threads):
            return self._predict_each(frames, with_std=with_std)

    def _predict_each(self, frames: Sequence[Atoms], *, with_std: bool) -> list[Prediction]:
        kernel, inducing, weights, factor = self._require_solution()
        out: list[Prediction] = []
        for start in range(0, len(frames), self.batch_structures):
            chunk = list(frames[start : start + self.batch_structures])
            env = LocalEnvironments.build(chunk, self.pair_cutoff_A, self.triplet_cutoff_A)
            with torch.no_grad():
                energy_rows, force_rows = design_rows(kernel, env, inducing, self.species, self.offset_prior_eV)
                energy = (energy_rows @ weights).cpu().numpy() + self._offset_energy(chunk)
                forces = (force_rows @ weights).cpu().numpy()
                if with_std:
                    e_var = row_variance(energy_rows, factor).cpu().numpy()
                    f_var = row_variance(force_rows.reshape(-1, force_rows.shape[-1]), factor)
                    f_std = f_var.reshape(-1, 3).mean(-1).sqrt().cpu().numpy()
            first = 0
            for s, atoms in enumerate(chunk):
                n = len(atoms)
                sl = slice(first, first + n)
                first += n
                out.append(
                    Prediction(
                        energy_eV=energy[s : s + 1].astype(float),
                        forces_eV_per_A=forces[sl][None].astype(float),
                        energy_std_eV=np.sqrt(e_var[s : s + 1]).astype(float) if with_std else np.zeros(1),
                        forces_std_eV_per_A=f_std[sl][None].astype(float) if with_std else np.zeros((1, n)),
                    )
                )
        return out

    def predict(self, frames: Sequence[Atoms]) -> Prediction:
        """Energies, forces and uncertainties of frames with equal atom counts (any composition).

        Overrides :meth:`Potential.predict` (which requires the training molecule); frames of
        different sizes go through :meth:`predict_each`.

        Raises
        ------
        ModelInputError
            No frames, frames of different sizes, unknown elements, non-finite coordinates.
        """
        self._require_fitted()
        if len(frames) == 0:
            msg = "no structures given; pass at least one frame"
            raise ModelInputError(msg)
        sizes = {len(f) for f in frames}
        if len(sizes) > 1:
            msg = f"frames have {sorted(sizes)} atoms; a Prediction holds one size: use predict_each(frames)"
            raise ModelInputError(msg)
        return Prediction.concatenate(self.predict_each(frames))

    def predict_positions(self, positions_A: np.ndarray, *, with_std: bool = True) -> Prediction:
        """Predict non-periodic structures with the first training structure's atoms, ``(n, N, 3)``."""
        numbers = self._require_fitted()
        positions = np.asarray(positions_A, dtype=float)
        if positions.ndim != 3 or positions.shape[1:] != (len(numbers), 3):
            msg = f"positions have shape {positions.shape}, expected (n, {len(numbers)}, 3); use predict(frames)"
            raise ModelInputError(msg)
        parts = self.predict_each([Atoms(numbers, p) for p in positions], with_std=with_std)
        return Prediction.concatenate(parts)

    def calculator(self, *, uncertainty: bool | Literal["on_request"] = True) -> LocalPotentialCalculator:
        """An ASE calculator for structures of any size (cell and pbc honoured); ``uncertainty=False``
        predicts energy and forces only."""
        self._require_solution()
        return LocalPotentialCalculator(self, uncertainty=uncertainty)

    def descriptor(self, frames: Sequence[Atoms]) -> np.ndarray:
        """Per-atom mean of the whitened energy features, shape ``(n, M)`` (size-independent)."""
        kernel, inducing, _, _ = self._require_solution()
        rows = []
        for start in range(0, len(frames), self.batch_structures):
            chunk = list(frames[start : start + self.batch_structures])
            env = LocalEnvironments.build(chunk, self.pair_cutoff_A, self.triplet_cutoff_A)
            with torch.no_grad(), torch_threads(self.threads):
                energy_rows, _ = kernel.design(env, inducing)
            rows.append(energy_rows.cpu().numpy() / env.atoms_per_structure[:, None])
        return np.concatenate(rows)

    def _offset_energy(self, frames: Sequence[Atoms]) -> np.ndarray:
        return np.array([sum(self.offsets_eV.get(int(z), 0.0) for z in f.numbers) for f in frames])

    # ---- hyperparameters -------------------------------------------------------------------
    @property
    def force_noise_eV_per_A(self) -> float:
        """Fitted force noise standard deviation per component in eV/Å."""
        if self.kernel is None:
            msg = "the local GP is not fitted; call fit(frames) first"
            raise ModelError(msg)
        return float(self.kernel.force_noise_var_eV2_per_A2.detach().sqrt())

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Length scales (Å), signal variances (eV²), noises, cutoffs, inducing counts, offsets."""
        if self.kernel is None or self.inducing is None:
            msg = "the local GP is not fitted; call fit(frames) first"
            raise ModelError(msg)
        values: dict[str, Any] = dict(self.kernel.values())
        if not self.three_body:
            values.pop("triplet_lengthscale_A")
            values.pop("triplet_signal_variance_eV2")
        values.update(
            pair_cutoff_A=self.pair_cutoff_A,
            triplet_cutoff_A=self.triplet_cutoff_A,
            n_inducing=self.inducing.n_columns,
            element_offsets_eV={str(z): v for z, v in self.offsets_eV.items()},
        )
        return values

    # ---- persistence -----------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        kernel, inducing, weights, factor = self._require_solution()
        return {
            "options": {
                **{k: v for k, v in self.options().items() if k not in ("optimize", "hyperparameters", "device")},
                "pair_cutoff_A": self.pair_cutoff_A,  # as chosen at fit time
                "triplet_cutoff_A": self.triplet_cutoff_A,
            },
            "kernel": {k: v.detach().cpu() for k, v in kernel.state_dict().items()},
            "species": list(self.species),
            "offsets_eV": {str(z): v for z, v in self.offsets_eV.items()},
            "inducing": inducing.to_state(),
            "lengthscale_bounds_A": {k: list(v) for k, v in self.lengthscale_bounds_A.items()},
            "weights": weights.cpu(),
            "precision_factor": factor.cpu(),
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Self:
        try:
            options = dict(state["options"])
            if not options["three_body"]:
                options["triplet_cutoff_A"] = None
            model = cls(optimize=False, hyperparameters={"fixed": 1.0}, device="cpu", **options)
            model.species = [int(z) for z in state["species"]]
            model.offsets_eV = {int(z): float(v) for z, v in state["offsets_eV"].items()}
            model.inducing = LocalInducing.from_state(state["inducing"], model.dtype)
            bounds = state["lengthscale_bounds_A"]
            model.lengthscale_bounds_A = {k: (float(v[0]), float(v[1])) for k, v in bounds.items()}
            kernel = model._build_kernel()
            kernel.load_state_dict(state["kernel"])
            model.kernel = kernel.to(model.device, model.dtype)
            model.weights = torch.as_tensor(state["weights"], dtype=model.dtype)
            model.precision_factor = torch.as_tensor(state["precision_factor"], dtype=model.dtype)
        except (KeyError, TypeError, AttributeError, ValueError, RuntimeError) as exc:
            msg = (
                f"the local GP model state is incomplete ({exc!r}); "
                "the file is corrupt or from another version: refit the model"
            )
            raise ModelError(msg) from exc
        return model
