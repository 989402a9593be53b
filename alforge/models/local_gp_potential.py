"""Local many-body GP potential: two- and three-body terms, any atom count, periodic cells.

The energy is a sum of smooth-cutoff pair and triplet terms per element pair/triplet
(:mod:`~alforge.models.local_kernel`), learned from energies *and* forces. The GP is sparse:
on ``M`` inducing pair distances (a grid per element pair) and triplet features (farthest-point
samples of the training triplets), the energy is linear in ``M`` whitened weights, so training
is Bayesian linear regression with cost ``O(N_rows M²)`` — linear in the number of training
structures — and hyperparameters maximise its closed-form marginal likelihood (L-BFGS on a
subset of structures). Forces are the exact negative gradient of the predicted energy;
uncertainties are the Subset-of-Regressors posterior standard deviations of the energy and of
each force component (latent, without noise). This is the FLARE-style sparse GP of
Vandermause et al. and the two/three-body GP of Glielmo et al.; learning curves are compared
with Scherer et al., J. Chem. Theory Comput. 16, 3194 (2020) in ``benchmarks/local_gp.py``.

Unlike the global GP, the model is not tied to one molecule: frames may have any number of atoms
of the training elements. :attr:`numbers` holds the first training structure's atomic numbers
(so :meth:`predict_positions` and fixed-molecule callers keep working); :attr:`species` the elements.

Example
-------
>>> model = LocalGPPotential(pair_cutoff_A=5.0, triplet_cutoff_A=3.5)   # doctest: +SKIP
>>> model.fit(frames)                          # labelled frames, any sizes, periodic or not
>>> atoms.calc = model.calculator()            # energy, forces, energy_std, forces_std
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Self

import numpy as np
import torch
from ase import Atoms

from alforge.errors import FitError, ModelError, ModelInputError
from alforge.models.base import Potential, resolve_device, resolve_dtype
from alforge.models.fit_report import FitReport
from alforge.models.frames import label_of, level_hashes
from alforge.models.local_calculator import LocalPotentialCalculator
from alforge.models.local_descriptors import LocalEnvironments
from alforge.models.local_kernel import LocalInducing, LocalKernel
from alforge.models.prediction import Prediction

__all__ = ["LocalGPPotential"]

_LOG_2PI = math.log(2 * math.pi)
_MIN_SPACING = 0.6  # pair grid spacing over the largest pair length scale (see _choose_inducing)
_MIN_TRIPLET_SPACING = 0.2  # closest triplet inducing points, in triplet length scales


class LocalGPPotential(Potential):
    """Sparse two-body (+ three-body) GP potential for structures of any size.

    Parameters
    ----------
    three_body
        Add the three-body term (default ``True``); ``False`` gives a pair potential.
    pair_cutoff_A, triplet_cutoff_A
        Cutoffs in Å (``triplet_cutoff_A`` at most ``pair_cutoff_A``; default: ``pair_cutoff_A``).
        ``pair_cutoff_A=None`` (default): chosen at fit time among a few candidates by held-out
        force error (:mod:`~alforge.models.local_cutoff`); the fit report says which and why.
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
        As for :class:`~alforge.models.gp_potential.GPPotential`.
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
        :func:`~alforge.models.frames.label_of`).

        Raises
        ------
        ModelInputError
            Empty data, unlabelled frames, NaN positions or labels, mixed levels of theory.
        FitError
            Numerical failure of the solve.
        """
        energies, forces = _labels(frames, energy_key, forces_key)
        self._training_level_hash = None
        self.check_level(frames)
        hashes = level_hashes(frames)
        start = time.perf_counter()
        notes: list[str] = []
        with _torch_threads(self.threads):
            if self.pair_cutoff_option is None:
                from alforge.models.local_cutoff import choose_cutoff

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
        self.offsets_eV = _element_offsets(frames, energies, self.species)
        residual = energies - self._offset_energy(frames)
        rms_force = float(np.sqrt(np.mean(np.concatenate([f.ravel() for f in forces]) ** 2))) or 1.0
        envs = [
            LocalEnvironments.build(frames[s : s + self.batch_structures], self.pair_cutoff_A, self.triplet_cutoff_A)
            for s in range(0, len(frames), self.batch_structures)
        ]
        self.inducing = self._choose_inducing(envs)
        self.lengthscale_bounds_A = self._lengthscale_bounds(self.inducing)
        kernel = self._build_kernel()
        notes: list[str] = []
        start = time.perf_counter()
        n_search = 0
        if self.optimize:
            kernel.set_values(_initial_values(kernel, rms_force, residual, frames))
            rng = np.random.default_rng(self.seed)
            n_search = min(len(frames), self.n_hyperparameter_structures)
            subset = np.sort(rng.choice(len(frames), size=n_search, replace=False))
            env = LocalEnvironments.build([frames[i] for i in subset], self.pair_cutoff_A, self.triplet_cutoff_A)
            targets = self._targets(residual[subset], [forces[i] for i in subset])
            notes.extend(self._search(kernel, env, targets))
        else:
            kernel.set_values(self.fixed_hyperparameters)
        search_time = time.perf_counter() - start
        for p in kernel.parameters():
            p.requires_grad_(False)
        self.kernel = kernel
        if self.three_body:  # thin the triplet points to the fitted length scale (see _choose_inducing)
            self.inducing = self._choose_inducing(envs, _MIN_TRIPLET_SPACING * float(kernel.triplet_lengthscale_A))
        totals = None
        for b, env in enumerate(envs):
            s = b * self.batch_structures
            idx = range(s, s + env.n_structures)
            targets = self._targets(residual[list(idx)], [forces[i] for i in idx])
            with torch.no_grad():
                part = _normal_equations(
                    kernel,
                    env,
                    self.inducing,
                    targets,
                    species=self.species,
                    offset_prior_eV=self.offset_prior_eV,
                    add_prior=b == 0,
                )
            totals = part if totals is None else tuple(a + c for a, c in zip(totals, part, strict=True))
        if totals is None:  # pragma: no cover - frames are non-empty
            msg = "no training structures"
            raise ModelInputError(msg)
        precision, rhs, y_norm, log_noise, n_rows = totals
        try:
            factor = torch.linalg.cholesky(precision)
        except torch.linalg.LinAlgError as exc:
            msg = f"the weight precision matrix is not positive definite ({exc}); raise the noise bounds"
            raise FitError(msg) from exc
        self.precision_factor = factor
        self.weights = torch.cholesky_solve(rhs[:, None], factor)[:, 0]
        log_ml = -0.5 * float(
            y_norm - rhs @ self.weights + 2 * factor.diagonal().log().sum() + log_noise + n_rows * _LOG_2PI
        )
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
            n_rows=int(n_rows),
            variance=f"subset-of-regressors({self.inducing.n_columns})",
            hyperparameter_time_s=search_time,
            n_hyperparameter_structures=n_search,
            log_marginal_likelihood=log_ml,
            notes=[*notes, f"atoms per structure {min(len(f) for f in frames)}–{max(len(f) for f in frames)}"],
        )

    def _targets(self, residual_eV: np.ndarray, forces: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        like = {"dtype": self.dtype, "device": self.device}
        return (
            torch.as_tensor(residual_eV, **like),
            torch.as_tensor(np.concatenate([f.reshape(-1, 3) for f in forces]), **like),
        )

    def _choose_inducing(
        self, envs: list[LocalEnvironments], min_triplet_distance_A: float | None = None
    ) -> LocalInducing:
        """Pair grids and farthest-point triplets (no two closer than ``min_triplet_distance_A``).

        Inducing points much closer than a length scale make ``k(Z, Z)`` nearly singular: its
        whitening then has entries of 10⁴–10⁶, the energy becomes a sum of large cancelling
        terms and carries round-off noise of ~10⁻⁹ eV that finite differences and lattice
        shifts see. The pair length scale is therefore at most ``1/_MIN_SPACING`` grid spacings
        (:meth:`_lengthscale_bounds`), and triplet points closer than ``_MIN_TRIPLET_SPACING`` of
        the fitted triplet length scale are dropped.
        """
        like = {"dtype": self.dtype, "device": self.device}
        shortest: dict[tuple[int, int], float] = {}
        triplets: dict[tuple[int, int, int], list[np.ndarray]] = {}
        for env in envs:
            r = np.linalg.norm(env.pair_vec_A, axis=1)
            for b, key in enumerate(env.pair_keys):
                shortest[key] = min(shortest.get(key, np.inf), float(r[env.pair_key == b].min()))
            if self.triplet_cutoff_A is not None and len(env.trip_ij):
                c = np.linalg.norm(env.pair_vec_A[env.trip_ik] - env.pair_vec_A[env.trip_ij], axis=1)
                feats = np.stack([r[env.trip_ij], r[env.trip_ik], c], axis=1)
                for b, key in enumerate(env.triplet_keys):
                    triplets.setdefault(key, []).append(feats[env.trip_key == b])
        pair_keys = sorted(shortest)
        pair_points = []
        for key in pair_keys:
            low = max(0.5 * shortest[key], shortest[key] - 0.05 * (self.pair_cutoff_A - shortest[key]))
            pair_points.append(torch.linspace(low, self.pair_cutoff_A, self.n_pair_inducing, **like))
        rng = np.random.default_rng(self.seed)
        triplet_keys = sorted(triplets)
        triplet_points = []
        for key in triplet_keys:
            feats = np.concatenate(triplets[key])
            if len(feats) > 20 * self.n_triplet_inducing:
                feats = feats[rng.choice(len(feats), size=20 * self.n_triplet_inducing, replace=False)]
            chosen = _farthest_points(feats, self.n_triplet_inducing, min_triplet_distance_A)
            triplet_points.append(torch.as_tensor(feats[chosen], **like))
        return LocalInducing(pair_keys, pair_points, triplet_keys, triplet_points)

    def _lengthscale_bounds(self, inducing: LocalInducing) -> dict[str, tuple[float, float]]:
        """Search intervals of the length scales in Å (pair: 0.75 to 1/``_MIN_SPACING`` grid spacings)."""
        spacing = self.pair_cutoff_A / self.n_pair_inducing
        if inducing.pair_points_A:
            spacing = max(float(z[1] - z[0]) for z in inducing.pair_points_A)
        triplet_cut = self.triplet_cutoff_A or self.pair_cutoff_A
        return {
            "pair": (0.75 * spacing, spacing / _MIN_SPACING),
            "triplet": (0.05 * triplet_cut, 2.0 * triplet_cut),
        }

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

    def _search(
        self, kernel: LocalKernel, env: LocalEnvironments, targets: tuple[torch.Tensor, torch.Tensor]
    ) -> list[str]:
        inducing = self.inducing
        assert inducing is not None
        params = [p for name, p in kernel.named_parameters() if self.three_body or "triplet" not in name]
        optimiser = torch.optim.LBFGS(params, lr=1.0, max_iter=self.max_iterations, line_search_fn="strong_wolfe")
        n_rows = float(targets[0].numel() + targets[1].numel())
        failures: list[str] = []

        def closure() -> torch.Tensor:
            optimiser.zero_grad()
            try:
                loss = (
                    -_log_marginal_likelihood(kernel, env, inducing, targets, self.species, self.offset_prior_eV)
                    / n_rows
                )
            except torch.linalg.LinAlgError as exc:
                failures.append(str(exc))
                return torch.tensor(float("inf"), dtype=self.dtype)
            loss.backward()
            return loss

        before = {n: p.detach().clone() for n, p in kernel.named_parameters()}
        optimiser.step(closure)
        if not all(torch.isfinite(p).all() for p in kernel.parameters()):
            with torch.no_grad():
                for n, p in kernel.named_parameters():
                    p.copy_(before[n])
            return ["hyperparameter search diverged; kept the initial values"]
        return [f"{len(failures)} marginal-likelihood evaluations failed (Cholesky)"] if failures else []

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
        with _torch_threads(self.threads):
            return self._predict_each(frames, with_std=with_std)

    def _predict_each(self, frames: Sequence[Atoms], *, with_std: bool) -> list[Prediction]:
        kernel, inducing, weights, factor = self._require_solution()
        out: list[Prediction] = []
        for start in range(0, len(frames), self.batch_structures):
            chunk = list(frames[start : start + self.batch_structures])
            env = LocalEnvironments.build(chunk, self.pair_cutoff_A, self.triplet_cutoff_A)
            with torch.no_grad():
                energy_rows, force_rows = _rows(kernel, env, inducing, self.species, self.offset_prior_eV)
                energy = (energy_rows @ weights).cpu().numpy() + self._offset_energy(chunk)
                forces = (force_rows @ weights).cpu().numpy()
                if with_std:
                    e_var = _row_variance(energy_rows, factor).cpu().numpy()
                    f_var = _row_variance(force_rows.reshape(-1, force_rows.shape[-1]), factor)
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
        parts = self.predict_each(frames)
        return Prediction(*(np.concatenate([getattr(p, name) for p in parts]) for name in _FIELDS))

    def predict_positions(self, positions_A: np.ndarray, *, with_std: bool = True) -> Prediction:
        """Predict non-periodic structures with the first training structure's atoms, ``(n, N, 3)``."""
        numbers = self._require_fitted()
        positions = np.asarray(positions_A, dtype=float)
        if positions.ndim != 3 or positions.shape[1:] != (len(numbers), 3):
            msg = f"positions have shape {positions.shape}, expected (n, {len(numbers)}, 3); use predict(frames)"
            raise ModelInputError(msg)
        parts = self.predict_each([Atoms(numbers, p) for p in positions], with_std=with_std)
        return Prediction(*(np.concatenate([getattr(p, name) for p in parts]) for name in _FIELDS))

    def calculator(self) -> LocalPotentialCalculator:
        """An ASE calculator for structures of any size (cell and pbc honoured)."""
        self._require_solution()
        return LocalPotentialCalculator(self)

    def descriptor(self, frames: Sequence[Atoms]) -> np.ndarray:
        """Per-atom mean of the whitened energy features, shape ``(n, M)`` (size-independent)."""
        kernel, inducing, _, _ = self._require_solution()
        rows = []
        for start in range(0, len(frames), self.batch_structures):
            chunk = list(frames[start : start + self.batch_structures])
            env = LocalEnvironments.build(chunk, self.pair_cutoff_A, self.triplet_cutoff_A)
            with torch.no_grad(), _torch_threads(self.threads):
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
                "three_body": self.three_body,
                "pair_cutoff_A": self.pair_cutoff_A,
                "triplet_cutoff_A": self.triplet_cutoff_A,
                "n_pair_inducing": self.n_pair_inducing,
                "n_triplet_inducing": self.n_triplet_inducing,
                "n_hyperparameter_structures": self.n_hyperparameter_structures,
                "max_iterations": self.max_iterations,
                "min_energy_noise_eV": self.min_energy_noise_eV,
                "min_force_noise_eV_per_A": self.min_force_noise_eV_per_A,
                "batch_structures": self.batch_structures,
                "threads": self.threads,
                "offset_prior_eV": self.offset_prior_eV,
                "dtype": str(self.dtype).removeprefix("torch."),
                "seed": self.seed,
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


_FIELDS = ("energy_eV", "forces_eV_per_A", "energy_std_eV", "forces_std_eV_per_A")


@contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run with ``threads`` PyTorch threads (``None``: unchanged), restoring the number after."""
    before = torch.get_num_threads()
    if threads is None or threads == before:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _labels(frames: Sequence[Atoms], energy_key: str, forces_key: str) -> tuple[np.ndarray, list[np.ndarray]]:
    if len(frames) == 0:
        msg = "no training structures; give at least one labelled frame"
        raise ModelInputError(msg)
    energies, forces = np.empty(len(frames)), []
    for i, atoms in enumerate(frames):
        if not isinstance(atoms, Atoms):
            msg = f"frame {i} is a {type(atoms).__name__}, not ase.Atoms; pass a list of ase.Atoms"
            raise ModelInputError(msg)
        bad = ~np.isfinite(atoms.positions).all(axis=1)
        if bad.any():
            atom = int(np.flatnonzero(bad)[0])
            msg = f"frame {i}: atom {atom} has non-finite coordinates {atoms.positions[atom].tolist()}; fix or drop it"
            raise ModelInputError(msg)
        energies[i], frame_forces = label_of(atoms, i, energy_key=energy_key, forces_key=forces_key)
        forces.append(frame_forces)
    return energies, forces


def _element_offsets(frames: Sequence[Atoms], energies: np.ndarray, species: list[int]) -> dict[int, float]:
    """Per-element energies ``μ_Z`` (eV) by least squares ``E ≈ Σ_Z n_Z μ_Z`` (minimum norm)."""
    counts = np.array([[np.count_nonzero(f.numbers == z) for z in species] for f in frames], dtype=float)
    mu = np.linalg.lstsq(counts, energies, rcond=None)[0]
    return {z: float(m) for z, m in zip(species, mu, strict=True)}


def _initial_values(
    kernel: LocalKernel, rms_force: float, residual: np.ndarray, frames: Sequence[Atoms]
) -> dict[str, float]:
    pair_low, pair_high = (
        float(b)
        for b in (
            kernel.raw_pair_lengthscale_constraint.lower_bound,
            kernel.raw_pair_lengthscale_constraint.upper_bound,
        )
    )
    trip_low, trip_high = (
        float(b)
        for b in (
            kernel.raw_triplet_lengthscale_constraint.lower_bound,
            kernel.raw_triplet_lengthscale_constraint.upper_bound,
        )
    )
    per_atom = float(np.std(residual / np.array([len(f) for f in frames]))) or rms_force
    return {
        "pair_lengthscale_A": math.sqrt(pair_low * pair_high),
        "pair_signal_variance_eV2": rms_force**2,
        "triplet_lengthscale_A": max(2.0 * trip_low, 0.25 * trip_high),
        "triplet_signal_variance_eV2": 0.1 * rms_force**2,
        "energy_noise_per_atom_eV": max(0.01 * per_atom, 1e-3 * rms_force),
        "force_noise_eV_per_A": 0.01 * rms_force,
    }


def _rows(
    kernel: LocalKernel, env: LocalEnvironments, inducing: LocalInducing, species: list[int], offset_prior_eV: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Design rows with one extra column per element: its energy offset, prior std ``offset_prior_eV``.

    Learning the per-element energies jointly with the pair/triplet terms matters: a per-atom
    constant is not a sum of cutoff-switched pair terms, so fixing it beforehand leaves a
    residual that no local term can fit.
    """
    energy_rows, force_rows = kernel.design(env, inducing)
    counts = np.stack(
        [np.bincount(env.atom_structure[env.numbers == z], minlength=env.n_structures) for z in species], axis=1
    )
    offsets = offset_prior_eV * torch.as_tensor(counts, dtype=energy_rows.dtype, device=energy_rows.device)
    energy_rows = torch.cat([energy_rows, offsets], dim=1)
    force_rows = torch.cat([force_rows, force_rows.new_zeros(*force_rows.shape[:2], len(species))], dim=2)
    return energy_rows, force_rows


def _normal_equations(
    kernel: LocalKernel,
    env: LocalEnvironments,
    inducing: LocalInducing,
    targets: tuple[torch.Tensor, torch.Tensor],
    *,
    species: list[int],
    offset_prior_eV: float,
    add_prior: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Precision ``ΦᵀΛ⁻¹Φ (+ I)``, ``ΦᵀΛ⁻¹y``, ``yᵀΛ⁻¹y``, ``Σ log λ`` and row count of one block.

    Blocks of structures add up; the prior's identity is added by one block only (``add_prior``).
    """
    energy_rows, force_rows = _rows(kernel, env, inducing, species, offset_prior_eV)
    force_rows = force_rows.reshape(-1, force_rows.shape[-1])
    energy_y, force_y = targets
    counts = torch.as_tensor(env.atoms_per_structure, dtype=energy_rows.dtype, device=energy_rows.device)
    energy_noise = kernel.energy_noise_var_eV2 * counts
    force_noise = kernel.force_noise_var_eV2_per_A2.expand(force_rows.shape[0])
    precision = energy_rows.T @ (energy_rows / energy_noise[:, None]) + force_rows.T @ (
        force_rows / force_noise[:, None]
    )
    force_y = force_y.reshape(-1)
    rhs = energy_rows.T @ (energy_y / energy_noise) + force_rows.T @ (force_y / force_noise)
    y_norm = (energy_y**2 / energy_noise).sum() + (force_y**2 / force_noise).sum()
    log_noise = energy_noise.log().sum() + force_noise.log().sum()
    n_rows = torch.tensor(float(len(energy_y) + len(force_y)), dtype=energy_rows.dtype)
    if add_prior:
        precision = precision + torch.eye(precision.shape[0], dtype=precision.dtype, device=precision.device)
    return precision, rhs, y_norm, log_noise, n_rows


def _log_marginal_likelihood(
    kernel: LocalKernel,
    env: LocalEnvironments,
    inducing: LocalInducing,
    targets: tuple[torch.Tensor, torch.Tensor],
    species: list[int],
    offset_prior_eV: float,
) -> torch.Tensor:
    precision, rhs, y_norm, log_noise, n_rows = _normal_equations(
        kernel, env, inducing, targets, species=species, offset_prior_eV=offset_prior_eV, add_prior=True
    )
    factor = torch.linalg.cholesky(precision)
    alpha = torch.cholesky_solve(rhs[:, None], factor)[:, 0]
    return -0.5 * (y_norm - rhs @ alpha + 2 * factor.diagonal().log().sum() + log_noise + n_rows * _LOG_2PI)


def _row_variance(rows: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """``diag(Φ A⁻¹ Φᵀ)`` with ``A = L Lᵀ``, shape ``(R,)``."""
    if rows.shape[0] == 0:
        return rows.new_zeros(0)
    solved = torch.linalg.solve_triangular(factor, rows.T, upper=False)
    return (solved**2).sum(0)


def _farthest_points(features: np.ndarray, n: int, min_distance: float | None = None) -> np.ndarray:
    """Indices of up to ``n`` farthest-point samples of ``features`` (first: the first row).

    With ``min_distance``, sampling stops when every remaining row is closer than that to a chosen one.
    """
    n = min(n, len(features))
    chosen = [0]
    distance = np.linalg.norm(features - features[0], axis=1)
    for _ in range(n - 1):
        nxt = int(np.argmax(distance))
        if min_distance is not None and distance[nxt] < min_distance:
            break
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(features - features[nxt], axis=1))
    return np.asarray(chosen)
