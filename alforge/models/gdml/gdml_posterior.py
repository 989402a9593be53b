"""Fast posterior of a gradient-domain GP: energy, forces and their variances per structure.

Fitting leaves the posterior as weights on *centres* (training structures, or inducing
structures for the sparse solver). With the centres' descriptors ``z_m`` and Jacobians
``J_m``, the energy weights ``α_m`` and gradient weights ``a_m`` (``3N`` each), and
``β_m = J_m a_m``, the posterior mean energy of a structure with descriptor ``x`` is

.. math:: E(x) = μ + \\frac{s}{S}\\sum_{σ, m} \\big[α_m φ(r_{σm}) - c₁(r_{σm})\\, u_{σm}·β_m\\big],
    \\qquad u_{σm} = x[σ] - z_m,

and the forces are its exact negative gradient, ``-Jᵀ ∂E/∂x``, evaluated analytically. Both need
only inner products: ``u·β_m = x[σ]·β_m - z_m·β_m``, ``‖u‖²`` from ``x[σ]·z_m`` and the norms,
and ``Σ_m w_m u_{σm} = x[σ] Σ_m w_m - Σ_m w_m z_m``, so the mean never forms the ``S × n``
descriptor differences (about twice as fast for a batch of 64 ethanol structures); the
variances below do.

Variances are ``prior − k_*ᵀ K⁻¹ k_*`` with ``k_*`` the cross-covariances of the energy and each
force component with every observation. ``K⁻¹`` enters through a precomputed factor ``R``
(``R Rᵀ ≈ K⁻¹``), and ``k_*ᵀ R`` is either formed directly or, when cheaper (``R`` of low rank),
as ``Wᵀ (J R)`` with the centres' ``J_m R_m`` precomputed, which never forms ``k_*``:

- exact: ``R = L⁻ᵀ``;
- low rank: ``R = L⁻ᵀ U`` for ``r`` directions ``U``. That alone is the exact posterior given
  ``r`` linear functionals ``w = Uᵀ L⁻¹ y`` of the data; it over-estimates variances near
  training points. The *local correction* also conditions on the raw outputs ``y_N`` of the
  ``k`` training structures nearest to the query (symmetrised descriptor distance), through the
  Schur complement: with ``B = (L U)_N`` (``cov(y_N, w)``) and ``a = Rᵀ k_*``,

  .. math:: σ² = \text{prior} - ‖a‖² - (k_N - B a)ᵀ (K_{NN} - B Bᵀ)^{-1} (k_N - B a).

  This is the exact posterior variance given ``(w, y_N)``: an upper bound of the full posterior
  variance that falls to the noise level at training points. ``N`` is the precomputed
  neighbourhood (the centre and its ``k - 1`` nearest centres) of the centre nearest to the
  query, so a prediction costs one triangular solve; the factors take ``n (k (1 + 3N))²``
  floats and the rows ``B`` per neighbourhood ``n k (1 + 3N) r`` (ethanol, 200 centres, k = 8,
  r = 64: 80 MB and 23 MB), built on first use.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from alforge.models.gdml.allocator import retain_freed_memory
from alforge.models.gdml.gdml_kernel import GDMLKernel
from alforge.models.gdml.single_structure import SingleStructureMean

__all__ = ["GDMLPosterior", "PosteriorOutput"]


@dataclass
class PosteriorOutput:
    """Predictions for ``t`` structures of ``N`` atoms (tensors on the posterior's device).

    Attributes
    ----------
    energy_eV
        Shape ``(t,)``.
    forces_eV_per_A
        Shape ``(t, N, 3)``.
    energy_var_eV2
        Shape ``(t,)`` or ``None`` when variances were not requested.
    forces_var_eV2_per_A2
        Per-component variances, shape ``(t, N, 3)``, or ``None``.
    """

    energy_eV: Tensor
    forces_eV_per_A: Tensor
    energy_var_eV2: Tensor | None = None
    forces_var_eV2_per_A2: Tensor | None = None


class _Neighbourhoods(NamedTuple):
    """What the local correction needs per centre ``m``, built once (see :meth:`GDMLPosterior._neighbourhoods`)."""

    centres: Tensor  # (n, k): m and its k - 1 nearest centres
    bases: Tensor  # (n, q, r): the rows of L U at their q = k (1 + 3N) output columns
    lowers: Tensor  # (n, q, q): Cholesky factors of K_NN - B Bᵀ
    usable: Tensor  # (n,): whether the factorisation succeeded


def _rows(table: Tensor, index: Tensor) -> Tensor:
    """``table[index]`` for a 1-D ``index``; a view, not a copy, for a single query."""
    if index.shape[0] == 1:
        return table[int(index[0])].unsqueeze(0)
    return table[index]


class GDMLPosterior:
    """Posterior mean and variance of a fitted :class:`GDMLKernel` GP.

    Parameters
    ----------
    kernel
        The kernel (radial profile, descriptor, symmetries).
    lengthscale
        Length scale ``ℓ`` in 1/Å.
    outputscale
        Signal variance ``s`` in eV².
    prior_mean_eV
        Constant prior mean of the energy ``μ``.
    centres_A
        Positions of the centre structures in Å, shape ``(n, N, 3)``.
    weights
        ``K⁻¹ y`` in the kernel's interleaved order, shape ``(n, 1 + 3N)``.
    factor
        ``R`` with ``R Rᵀ ≈ K⁻¹``, shape ``(n (1 + 3N), r)``; ``None`` disables variances.
    local_basis
        ``L U`` of a low-rank factor, shape ``(n (1 + 3N), r)``, enabling the local correction;
        ``None`` for an exact factor (or no correction).
    noise_variances
        Noise variance of each output of a structure (energy, then ``3N`` force components),
        shape ``(1 + 3N,)``; needed with ``local_basis``.
    n_neighbours
        Training structures of the local correction.
    chunk_size
        Structures evaluated at once (bounds memory).
    """

    def __init__(
        self,
        kernel: GDMLKernel,
        *,
        lengthscale: float,
        outputscale: float,
        prior_mean_eV: float,
        centres_A: Tensor,
        weights: Tensor,
        factor: Tensor | None,
        local_basis: Tensor | None = None,
        noise_variances: Tensor | None = None,
        n_neighbours: int = 8,
        chunk_size: int = 16,
    ) -> None:
        self.kernel = kernel
        self.descriptor = kernel.descriptor
        dtype, device = centres_A.dtype, centres_A.device
        self.lengthscale = torch.tensor(lengthscale, dtype=dtype, device=device)
        self.outputscale = float(outputscale)
        self.prior_mean_eV = float(prior_mean_eV)
        self.perms = kernel.descriptor_permutations.to(device)
        self.n_symmetries = int(self.perms.shape[0])
        self.chunk_size = chunk_size
        self.centres_A = centres_A
        self.centres_x, self.centres_jac = self.descriptor.with_jacobian(centres_A)
        self.weights = weights
        self.alpha_energy = weights[:, 0].contiguous()
        self.beta = torch.einsum("ndk,nk->nd", self.centres_jac, weights[:, 1:])
        self._centre_norms = self.centres_x.pow(2).sum(-1)  # ‖z_m‖²
        self._centre_beta = (self.centres_x * self.beta).sum(-1)  # z_m·β_m
        self.factor = factor
        self.rank = 0 if factor is None else int(factor.shape[1])
        self.local_basis = local_basis
        self.noise_variances = noise_variances
        self.n_neighbours = min(n_neighbours, centres_A.shape[0]) if local_basis is not None else 0
        self._local_cache: _Neighbourhoods | None = None
        self._projector_cache: tuple[Tensor, Tensor] | None = None
        self._single: SingleStructureMean | None = None
        retain_freed_memory()

    @property
    def dtype(self) -> torch.dtype:
        """Floating-point type of every tensor."""
        return self.centres_A.dtype

    @property
    def device(self) -> torch.device:
        """Device of every tensor."""
        return self.centres_A.device

    def __call__(self, positions_A: Tensor, *, with_variance: bool = True) -> PosteriorOutput:
        """Posterior at ``t`` structures.

        Parameters
        ----------
        positions_A
            Positions in Å, shape ``(t, N, 3)``, on the posterior's device and dtype.
        with_variance
            Also compute variances (needs a factor).

        Returns
        -------
        PosteriorOutput
        """
        with_variance = with_variance and self.factor is not None
        parts = [
            self._chunk(positions_A[start : start + self.chunk_size], with_variance)
            for start in range(0, positions_A.shape[0], self.chunk_size)
        ]
        if len(parts) == 1:
            return parts[0]
        return PosteriorOutput(
            energy_eV=torch.cat([p.energy_eV for p in parts]),
            forces_eV_per_A=torch.cat([p.forces_eV_per_A for p in parts]),
            energy_var_eV2=_cat_present([p.energy_var_eV2 for p in parts]),
            forces_var_eV2_per_A2=_cat_present([p.forces_var_eV2_per_A2 for p in parts]),
        )

    def mean_of_one(self, positions_A: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy (eV) and forces (eV/Å) of one structure, positions ``(N, 3)`` in Å, in NumPy:
        the mean of :meth:`__call__` about four times faster for MD on a CPU
        (:mod:`~alforge.models.gdml.single_structure`)."""
        if self._single is None:
            self._single = SingleStructureMean(self)
        return self._single(positions_A)

    def _chunk(self, positions_A: Tensor, with_variance: bool) -> PosteriorOutput:
        n_test, n_atoms = positions_A.shape[0], positions_A.shape[1]
        scale = self.outputscale / self.n_symmetries
        x, jac = self.descriptor.with_jacobian(positions_A)
        jac_perm = jac[:, self.perms]
        x_perm = x[:, self.perms]  # (t, S, d)
        # ‖u‖² = ‖x[σ]‖² + ‖z_m‖² - 2 x[σ]·z_m for u = x[σ] - z_m: the mean never forms u itself
        squared = x_perm.pow(2).sum(-1, keepdim=True) + self._centre_norms - 2.0 * x_perm @ self.centres_x.mT
        distance = squared.clamp_min_(0.0).sqrt_()  # (t, S, n)
        phi, c1, c2 = self.kernel.radial(distance, self.lengthscale)
        u_beta = x_perm @ self.beta.mT - self._centre_beta  # u·β_m = x[σ]·β_m - z_m·β_m, (t, S, n)
        energy = self.prior_mean_eV + scale * (
            (phi @ self.alpha_energy).sum(1) - (c1 * u_beta).sum((1, 2))
        )
        weights = self.alpha_energy * c1 - c2 * u_beta  # Σ_m w_m u_m = x[σ] Σ_m w_m - Σ_m w_m z_m
        grad_y = scale * (x_perm * weights.sum(-1, keepdim=True) - weights @ self.centres_x - c1 @ self.beta)
        grad_r = torch.einsum("tsdk,tsd->tk", jac_perm, grad_y)
        forces = -grad_r.reshape(n_test, n_atoms, 3)
        if not with_variance:
            return PosteriorOutput(energy, forces)
        diff = x_perm.unsqueeze(2) - self.centres_x  # the variances need every u, (t, S, n, d)
        explained = self._explained(jac_perm, diff, distance, phi, c1, c2)
        prior_energy, prior_grad = self._prior(x, jac, jac_perm)
        energy_var = (prior_energy - explained[:, 0]).clamp_min(0.0)
        grad_var = (prior_grad - explained[:, 1:]).clamp_min(0.0)
        return PosteriorOutput(energy, forces, energy_var, grad_var.reshape(n_test, n_atoms, 3))

    def _cross_covariances(
        self, jac_perm: Tensor, diff: Tensor, phi: Tensor, c1: Tensor, c2: Tensor, centres_jac: Tensor
    ) -> Tensor:
        """Covariances of ``[E, ∂E/∂R]`` of each query with the outputs of ``k`` centres each.

        ``diff``, ``phi``, ``c1`` and ``c2`` are taken at those centres, shapes ``(t, S, k, d)`` and
        ``(t, S, k)``; ``centres_jac`` holds their Jacobians, ``(t, k, d, 3N)``. Returns
        ``(t, 1 + 3N, k (1 + 3N))``.
        """
        n_test, n_sym, n_centres, dim = diff.shape
        n_grad = jac_perm.shape[-1]
        jac_u = diff @ jac_perm  # (t, S, k, 3N): J[σ]ᵀ u
        u_jac = diff.transpose(1, 2) @ centres_jac  # (t, k, S, 3N): uᵀ J_m
        c1_t = c1.transpose(1, 2)
        weighted_jac = (c1_t @ jac_perm.reshape(n_test, n_sym, dim * n_grad)).reshape(
            n_test, n_centres, dim, n_grad
        )
        grad_grad = weighted_jac.transpose(-1, -2) @ centres_jac
        grad_grad += (c2.unsqueeze(-1) * jac_u).permute(0, 2, 3, 1) @ u_jac
        rows = torch.empty(n_test, n_grad + 1, n_centres, n_grad + 1, dtype=diff.dtype, device=diff.device)
        rows[:, 0, :, 0] = phi.sum(1)
        rows[:, 0, :, 1:] = -(c1_t.unsqueeze(-1) * u_jac).sum(2)
        rows[:, 1:, :, 0] = (c1.unsqueeze(-1) * jac_u).sum(1).transpose(1, 2)
        rows[:, 1:, :, 1:] = grad_grad.neg_().transpose(1, 2)
        return rows.reshape(n_test, n_grad + 1, -1).mul_(self.outputscale / n_sym)

    def _projected(
        self, factor: Tensor, jac_perm: Tensor, diff: Tensor, phi: Tensor, c1: Tensor, c2: Tensor
    ) -> Tensor:
        """``k_*ᵀ R`` for every query output without forming ``k_*``, shape ``(t, 1 + 3N, r)``.

        The gradient columns of centre ``m`` in ``k_*`` are ``-W_mᵀ J_m`` with
        ``W_m = Σ_σ c₁ J[σ] + c₂ u (J[σ]ᵀ u)ᵀ`` (``d × 3N``), so their projection is
        ``-W_mᵀ (J_m R_m)`` with ``J_m R_m`` precomputed (:meth:`_projector`): one matrix product over
        the descriptor rows of all centres replaces ``n`` small ``3N × d × 3N`` products.
        """
        n_test, n_sym, n_centres, dim = diff.shape
        n_grad = jac_perm.shape[-1]
        energy_rows, grad_rows = self._projector(factor)
        jac_u = diff @ jac_perm  # (t, S, n, 3N): J[σ]ᵀ u
        weights = (c1.transpose(1, 2) @ jac_perm.reshape(n_test, n_sym, dim * n_grad)).reshape(
            n_test * n_centres, dim, n_grad
        )
        weights.baddbmm_(
            (c2.unsqueeze(-1) * diff).permute(0, 2, 3, 1).reshape(n_test * n_centres, dim, n_sym),
            jac_u.transpose(1, 2).reshape(n_test * n_centres, n_sym, n_grad),
        )
        c1_u = (c1.unsqueeze(-1) * diff).sum(1).reshape(n_test, 1, n_centres * dim)
        c1_jac_u = (c1.unsqueeze(-1) * jac_u).sum(1).transpose(1, 2)  # (t, 3N, n)
        energy = phi.sum(1).unsqueeze(1) @ energy_rows - c1_u @ grad_rows
        grad = c1_jac_u @ energy_rows - weights.reshape(n_test, n_centres * dim, n_grad).transpose(1, 2) @ grad_rows
        return torch.cat([energy, grad], dim=1).mul_(self.outputscale / n_sym)

    def _projector(self, factor: Tensor) -> tuple[Tensor, Tensor]:
        """The energy rows of ``R`` per centre, ``(n, r)``, and ``J_m R_m`` stacked, ``(n d, r)``;
        built once."""
        if self._projector_cache is None:
            n_centres, n_out = self.centres_x.shape[0], self.weights.shape[1]
            blocks = factor.reshape(n_centres, n_out, -1)
            grad_rows = (self.centres_jac @ blocks[:, 1:]).reshape(n_centres * self.centres_x.shape[1], -1)
            self._projector_cache = (blocks[:, 0].contiguous(), grad_rows)
        return self._projector_cache

    def _forms_rows(self) -> bool:
        """Whether forming ``k_*`` and multiplying by ``R`` costs fewer flops than :meth:`_projected`.

        Per centre, forming takes ``3N × d × 3N`` (and ``3N × S × 3N``) products that the
        projection saves, and projects ``3N`` gradient rows where the projection takes ``d``.
        """
        dim, n_grad, rank = self.centres_x.shape[1], self.weights.shape[1] - 1, self.rank
        return n_grad * (dim + self.n_symmetries) < (dim - n_grad) * rank

    def _neighbourhoods(self, local_basis: Tensor, noise_variances: Tensor) -> _Neighbourhoods:
        """Per centre ``m``: ``m`` and its nearest centres, the rows ``B`` of ``local_basis`` at their
        outputs and the Cholesky factor of their Schur complement ``K_NN - B Bᵀ``; built once, on
        first use.

        ``local_basis`` and ``noise_variances`` are this posterior's (see the class).
        """
        if self._local_cache is not None:
            return self._local_cache
        n_centres, n_out = self.centres_x.shape[0], self.weights.shape[1]
        x_perm = self.centres_x[:, self.perms]
        offsets = torch.arange(n_out, device=self.device)
        neighbours, bases, lowers, usable = [], [], [], []
        for m in range(n_centres):
            distance = (x_perm[m].unsqueeze(1) - self.centres_x).norm(dim=-1).amin(0)
            distance[m] = -1.0
            centres = distance.topk(self.n_neighbours, largest=False).indices
            cols = (centres.unsqueeze(-1) * n_out + offsets).reshape(-1)
            block = self.outputscale * self.kernel.joint_covariance(
                self.centres_x[centres],
                self.centres_jac[centres],
                self.centres_x[centres],
                self.centres_jac[centres],
                self.lengthscale,
            )
            block.diagonal().add_(noise_variances.repeat(centres.shape[0]))
            basis = local_basis[cols]
            schur = block - basis @ basis.mT
            schur.diagonal().add_(1e-10 * float(block.diagonal().max()))
            lower, info = torch.linalg.cholesky_ex(schur)
            neighbours.append(centres)
            bases.append(basis)
            lowers.append(lower)
            usable.append(int(info) == 0)
        self._local_cache = _Neighbourhoods(
            centres=torch.stack(neighbours),
            bases=torch.stack(bases),
            lowers=torch.stack(lowers),
            usable=torch.tensor(usable, device=self.device),
        )
        return self._local_cache

    def _explained(
        self, jac_perm: Tensor, diff: Tensor, distance: Tensor, phi: Tensor, c1: Tensor, c2: Tensor
    ) -> Tensor:
        """``k_*ᵀ K⁻¹ k_*`` (approximated through the factor), shape ``(t, 1 + 3N)``."""
        factor = self.factor
        if factor is None:
            msg = "this posterior has no factor R, so it predicts no variances; pass with_variance=False"
            raise ValueError(msg)
        if self._forms_rows():
            centres_jac = self.centres_jac.expand(diff.shape[0], -1, -1, -1)
            projected = self._cross_covariances(jac_perm, diff, phi, c1, c2, centres_jac) @ factor
        else:
            projected = self._projected(factor, jac_perm, diff, phi, c1, c2)
        explained = projected.pow(2).sum(-1)
        if self.local_basis is None or self.n_neighbours == 0 or self.noise_variances is None:
            return explained
        local = self._neighbourhoods(self.local_basis, self.noise_variances)
        nearest = distance.amin(1).argmin(-1)
        centres = _rows(local.centres, nearest)  # (t, k): the neighbourhood's centres
        at = centres.unsqueeze(1).expand(-1, diff.shape[1], -1)
        local_rows = self._cross_covariances(
            jac_perm,
            diff.gather(2, at.unsqueeze(-1).expand(-1, -1, -1, diff.shape[-1])),
            phi.gather(2, at),
            c1.gather(2, at),
            c2.gather(2, at),
            self.centres_jac[centres],
        )
        residual = local_rows - projected @ _rows(local.bases, nearest).mT
        whitened = torch.linalg.solve_triangular(_rows(local.lowers, nearest), residual.mT, upper=False)
        return explained + whitened.pow(2).sum(1) * local.usable[nearest].unsqueeze(-1)

    def _prior(self, x: Tensor, jac: Tensor, jac_perm: Tensor) -> tuple[Tensor, Tensor]:
        """Prior variances of the energy ``(t,)`` and of each gradient component ``(t, 3N)``."""
        scale = self.outputscale / self.n_symmetries
        self_diff = x[:, self.perms] - x.unsqueeze(1)
        phi, c1, c2 = self.kernel.radial(torch.linalg.vector_norm(self_diff, dim=-1), self.lengthscale)
        jac_u = (self_diff.unsqueeze(-1) * jac_perm).sum(-2)
        u_jac = self_diff @ jac
        cross = (jac_perm * jac.unsqueeze(1)).sum(-2)
        prior_grad = -scale * (c1.unsqueeze(-1) * cross + c2.unsqueeze(-1) * jac_u * u_jac).sum(1)
        return scale * phi.sum(1), prior_grad


def _cat_present(tensors: list[Tensor | None]) -> Tensor | None:
    """Concatenate the chunks' tensors, or ``None`` when any chunk has none (no variances)."""
    present = [t for t in tensors if t is not None]
    return torch.cat(present) if len(present) == len(tensors) else None
