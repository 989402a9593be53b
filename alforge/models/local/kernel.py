"""Two- and three-body local kernel in its sparse (inducing-point) feature form.

The energy of a structure is a sum of local terms

    E = ½ Σ_{i≠j} ε₂(r_ij) + Σ_i Σ_{j,k ∈ N(i)} ε₃(r_ij, r_ik, r_jk),

each switched off smoothly at its cutoff by ``f_c(r) = ½(cos(π r / r_c) + 1)``. With ``ε₂`` and
``ε₃`` Gaussian processes (RBF kernels of variances ``σ₂²``, ``σ₃²`` and length scales ``ℓ₂``,
``ℓ₃`` in Å) approximated on inducing points ``Z`` (Subset of Regressors), the energy is linear
in whitened weights ``v ~ N(0, I)``:

    E = φ(structure) · v,   φ = σ Σ_terms f_c · k(term, Z) L⁻ᵀ,   L Lᵀ = k(Z, Z),

one block of columns per element pair or triplet. Forces ``-∂E/∂x`` are linear in ``v`` too, with
rows ``-∂φ/∂x`` computed analytically here. :meth:`LocalKernel.design` returns both kinds of row;
training is then Bayesian linear regression (:mod:`alforge.models.local.local_gp_potential`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gpytorch.constraints import GreaterThan, Interval
from gpytorch.module import Module

from alforge.models.local.descriptors import LocalEnvironments, cosine_cutoff

__all__ = ["LocalInducing", "LocalKernel"]

_JITTER = 1e-10


@dataclass
class LocalInducing:
    """Inducing points per element key: pair distances ``(M,)`` and triplet features ``(M, 3)`` in Å."""

    pair_keys: list[tuple[int, int]]
    pair_points_A: list[torch.Tensor]
    triplet_keys: list[tuple[int, int, int]]
    triplet_points_A: list[torch.Tensor]

    @property
    def n_columns(self) -> int:
        """Total number of inducing points (columns of the design)."""
        return sum(len(z) for z in self.pair_points_A) + sum(len(z) for z in self.triplet_points_A)

    def to_state(self) -> dict[str, list]:
        """JSON/torch-ready state."""
        return {
            "pair_keys": [list(k) for k in self.pair_keys],
            "pair_points_A": [z.detach().cpu() for z in self.pair_points_A],
            "triplet_keys": [list(k) for k in self.triplet_keys],
            "triplet_points_A": [z.detach().cpu() for z in self.triplet_points_A],
        }

    @classmethod
    def from_state(cls, state: dict[str, list], dtype: torch.dtype) -> LocalInducing:
        """Inverse of :meth:`to_state`."""
        return cls(
            pair_keys=[tuple(int(z) for z in k) for k in state["pair_keys"]],  # type: ignore[misc]
            pair_points_A=[torch.as_tensor(z, dtype=dtype) for z in state["pair_points_A"]],
            triplet_keys=[tuple(int(z) for z in k) for k in state["triplet_keys"]],  # type: ignore[misc]
            triplet_points_A=[torch.as_tensor(z, dtype=dtype) for z in state["triplet_points_A"]],
        )


class LocalKernel(Module):
    """Hyperparameters of the local GP (raw parameters behind constraints) and its design rows.

    Parameters
    ----------
    pair_cutoff_A, triplet_cutoff_A
        Cutoffs in Å (``triplet_cutoff_A=None``: two-body model only).
    pair_lengthscale_bounds_A, triplet_lengthscale_bounds_A
        Search intervals of the length scales in Å.
    min_energy_noise_eV, min_force_noise_eV_per_A
        Lower bounds of the noise standard deviations (energy noise is per atom: a structure of
        ``N`` atoms has energy noise variance ``N σ_E²``).
    """

    def __init__(
        self,
        pair_cutoff_A: float,
        triplet_cutoff_A: float | None,
        *,
        pair_lengthscale_bounds_A: tuple[float, float],
        triplet_lengthscale_bounds_A: tuple[float, float],
        min_energy_noise_eV: float,
        min_force_noise_eV_per_A: float,
    ) -> None:
        super().__init__()
        self.pair_cutoff_A = float(pair_cutoff_A)
        self.triplet_cutoff_A = None if triplet_cutoff_A is None else float(triplet_cutoff_A)
        for name in ("pair_lengthscale", "pair_variance", "triplet_lengthscale", "triplet_variance"):
            self.register_parameter(f"raw_{name}", torch.nn.Parameter(torch.zeros(())))
        self.register_parameter("raw_energy_noise", torch.nn.Parameter(torch.zeros(())))
        self.register_parameter("raw_force_noise", torch.nn.Parameter(torch.zeros(())))
        self.register_constraint("raw_pair_lengthscale", Interval(*pair_lengthscale_bounds_A))
        self.register_constraint("raw_triplet_lengthscale", Interval(*triplet_lengthscale_bounds_A))
        self.register_constraint("raw_pair_variance", GreaterThan(1e-12, torch.exp, torch.log))
        self.register_constraint("raw_triplet_variance", GreaterThan(1e-12, torch.exp, torch.log))
        self.register_constraint("raw_energy_noise", GreaterThan(min_energy_noise_eV**2, torch.exp, torch.log))
        self.register_constraint("raw_force_noise", GreaterThan(min_force_noise_eV_per_A**2, torch.exp, torch.log))

    # ---- constrained values ----------------------------------------------------------------
    def _get(self, name: str) -> torch.Tensor:
        return getattr(self, f"raw_{name}_constraint").transform(getattr(self, f"raw_{name}"))

    def _set(self, name: str, value: float) -> None:
        constraint = getattr(self, f"raw_{name}_constraint")
        lower, upper = float(constraint.lower_bound), float(constraint.upper_bound)
        span = upper - lower if np.isfinite(upper) else max(abs(value), 1e-12)
        value = (
            min(max(value, lower + 1e-6 * span), upper - 1e-6 * span)
            if np.isfinite(upper)
            else max(value, lower * (1 + 1e-4))
        )
        raw = getattr(self, f"raw_{name}")
        with torch.no_grad():
            raw.copy_(constraint.inverse_transform(torch.tensor(value, dtype=raw.dtype, device=raw.device)))

    @property
    def pair_lengthscale_A(self) -> torch.Tensor:
        return self._get("pair_lengthscale")

    @property
    def triplet_lengthscale_A(self) -> torch.Tensor:
        return self._get("triplet_lengthscale")

    @property
    def pair_variance_eV2(self) -> torch.Tensor:
        return self._get("pair_variance")

    @property
    def triplet_variance_eV2(self) -> torch.Tensor:
        return self._get("triplet_variance")

    @property
    def energy_noise_var_eV2(self) -> torch.Tensor:
        """Energy noise variance per atom in eV²."""
        return self._get("energy_noise")

    @property
    def force_noise_var_eV2_per_A2(self) -> torch.Tensor:
        return self._get("force_noise")

    def set_values(self, values: dict[str, float]) -> None:
        """Set hyperparameters from a dict like :meth:`values` returns."""
        self._set("pair_lengthscale", values["pair_lengthscale_A"])
        self._set("pair_variance", values["pair_signal_variance_eV2"])
        if "triplet_lengthscale_A" in values:  # absent from a two-body model's hyperparameters
            self._set("triplet_lengthscale", values["triplet_lengthscale_A"])
            self._set("triplet_variance", values["triplet_signal_variance_eV2"])
        self._set("energy_noise", values["energy_noise_per_atom_eV"] ** 2)
        self._set("force_noise", values["force_noise_eV_per_A"] ** 2)

    def values(self) -> dict[str, float]:
        """Hyperparameters as floats with units in the names."""
        with torch.no_grad():
            return self._values()

    def _values(self) -> dict[str, float]:
        return {
            "pair_lengthscale_A": float(self.pair_lengthscale_A),
            "pair_signal_variance_eV2": float(self.pair_variance_eV2),
            "triplet_lengthscale_A": float(self.triplet_lengthscale_A),
            "triplet_signal_variance_eV2": float(self.triplet_variance_eV2),
            "energy_noise_per_atom_eV": float(self.energy_noise_var_eV2.sqrt()),
            "force_noise_eV_per_A": float(self.force_noise_var_eV2_per_A2.sqrt()),
        }

    # ---- the math --------------------------------------------------------------------------
    def design(self, env: LocalEnvironments, inducing: LocalInducing) -> tuple[torch.Tensor, torch.Tensor]:
        """Whitened design rows of energies and forces.

        Parameters
        ----------
        env
            Pairs and triplets of ``n`` structures with ``A`` atoms in all.
        inducing
            Inducing points; element keys of ``env`` without inducing points contribute nothing.

        Returns
        -------
        energy_rows : torch.Tensor
            ``∂E/∂v``, shape ``(n, M)``.
        force_rows : torch.Tensor
            ``∂F/∂v`` (forces = ``-∂E/∂x``), shape ``(A, 3, M)``.
        """
        dtype, device = self.raw_pair_lengthscale.dtype, self.raw_pair_lengthscale.device
        vec = torch.as_tensor(env.pair_vec_A, dtype=dtype, device=device)
        r = vec.norm(dim=1).clamp_min(1e-12)
        unit = vec / r[:, None]
        pair_i = torch.as_tensor(env.pair_i, device=device)
        pair_j = torch.as_tensor(env.pair_j, device=device)
        structure = torch.as_tensor(env.atom_structure, device=device)
        energy_blocks, force_blocks = [], []
        sigma2 = self.pair_variance_eV2.sqrt()
        pair_lookup = {key: b for b, key in enumerate(env.pair_keys)}
        for pair_key, points in zip(inducing.pair_keys, inducing.pair_points_A, strict=True):
            z = points.to(dtype=dtype, device=device)
            energy = torch.zeros(env.n_structures, len(z), dtype=dtype, device=device)
            forces = torch.zeros(env.n_atoms, 3, len(z), dtype=dtype, device=device)
            if pair_key in pair_lookup:
                pairs = torch.as_tensor(np.flatnonzero(env.pair_key == pair_lookup[pair_key]), device=device)
                phi, dphi = self._pair_terms(r[pairs], z)
                energy = energy.index_add(0, structure[pair_i[pairs]], phi)
                # forces = -dE/dx: x_i moves the pair by -u (force +dphi u), x_j by +u
                legs = [(pair_i[pairs], unit[pairs], 0), (pair_j[pairs], -unit[pairs], 0)]
                forces = _scatter(env.n_atoms, legs, [dphi])
            whiten = self._whitener(z[:, None], self.pair_lengthscale_A)
            energy_blocks.append(sigma2 * energy @ whiten)
            force_blocks.append(sigma2 * forces @ whiten)
        trip_lookup = {key: b for b, key in enumerate(env.triplet_keys)}
        sigma3 = self.triplet_variance_eV2.sqrt()
        for triplet_key, points in zip(inducing.triplet_keys, inducing.triplet_points_A, strict=True):
            z = points.to(dtype=dtype, device=device)
            energy = torch.zeros(env.n_structures, len(z), dtype=dtype, device=device)
            forces = torch.zeros(env.n_atoms, 3, len(z), dtype=dtype, device=device)
            if triplet_key in trip_lookup and self.triplet_cutoff_A is not None:
                triplets = np.flatnonzero(env.trip_key == trip_lookup[triplet_key])
                ij = torch.as_tensor(env.trip_ij[triplets], device=device)
                ik = torch.as_tensor(env.trip_ik[triplets], device=device)
                c_vec = vec[ik] - vec[ij]
                c = c_vec.norm(dim=1).clamp_min(1e-12)
                phi, da, db, dc = self._triplet_terms(r[ij], r[ik], c, z)
                i, j, k = pair_i[ij], pair_j[ij], pair_j[ik]
                energy = energy.index_add(0, structure[i], phi)
                # forces = -dE/dx: x_i moves both legs, x_j leg a and side c, x_k leg b and side c
                u_a, u_b, u_c = unit[ij], unit[ik], c_vec / c[:, None]
                legs = [(i, u_a, 0), (j, -u_a, 0), (i, u_b, 1), (k, -u_b, 1), (j, u_c, 2), (k, -u_c, 2)]
                forces = _scatter(env.n_atoms, legs, [da, db, dc])
            whiten = self._whitener(z, self.triplet_lengthscale_A)
            energy_blocks.append(sigma3 * energy @ whiten)
            force_blocks.append(sigma3 * forces @ whiten)
        if not energy_blocks:
            return (
                torch.zeros(env.n_structures, 0, dtype=dtype, device=device),
                torch.zeros(env.n_atoms, 3, 0, dtype=dtype, device=device),
            )
        return torch.cat(energy_blocks, dim=-1), torch.cat(force_blocks, dim=-1)

    def _pair_terms(self, r: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``½ f_c(r) k(r, z)`` and its r-derivative, shapes ``(P, M)``."""
        ell = self.pair_lengthscale_A
        f, df = cosine_cutoff(r, self.pair_cutoff_A)
        diff = r[:, None] - z[None, :]
        k = torch.exp(-0.5 * (diff / ell) ** 2)
        phi = 0.5 * f[:, None] * k
        dphi = 0.5 * (df[:, None] * k - f[:, None] * k * diff / ell**2)
        return phi, dphi

    def _triplet_terms(
        self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, z: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``f_c(a) f_c(b) k((a, b, c), z)`` and its derivatives in a, b, c, shapes ``(T, M)``."""
        ell = self.triplet_lengthscale_A
        cutoff = float(self.triplet_cutoff_A or 0.0)
        fa, dfa = cosine_cutoff(a, cutoff)
        fb, dfb = cosine_cutoff(b, cutoff)
        da_, db_, dc_ = (a[:, None] - z[None, :, 0], b[:, None] - z[None, :, 1], c[:, None] - z[None, :, 2])
        k = torch.exp(-0.5 * (da_**2 + db_**2 + dc_**2) / ell**2)
        fab = (fa * fb)[:, None]
        phi = fab * k
        d_a = (dfa * fb)[:, None] * k - phi * da_ / ell**2
        d_b = (fa * dfb)[:, None] * k - phi * db_ / ell**2
        d_c = -phi * dc_ / ell**2
        return phi, d_a, d_b, d_c

    @staticmethod
    def _whitener(z: torch.Tensor, lengthscale: torch.Tensor) -> torch.Tensor:
        """``L⁻ᵀ`` with ``L Lᵀ = k(Z, Z) + jitter``, shape ``(M, M)``."""
        sq = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
        kzz = torch.exp(-0.5 * sq / lengthscale**2)
        kzz = kzz + _JITTER * torch.eye(len(z), dtype=z.dtype, device=z.device)
        chol = torch.linalg.cholesky(kzz)
        eye = torch.eye(len(z), dtype=z.dtype, device=z.device)
        return torch.linalg.solve_triangular(chol, eye, upper=False).T


def _scatter(
    n_atoms: int, legs: list[tuple[torch.Tensor, torch.Tensor, int]], derivatives: list[torch.Tensor]
) -> torch.Tensor:
    """Forces ``Σ_legs u ⊗ derivatives[which]`` added to each leg's atom, shape ``(A, 3, M)``.

    Each leg is ``(atom (T,), u (T, 3), which)``: term ``t`` adds ``u[t] · derivatives[which][t]``
    (a row of ``M``) to the force on ``atom[t]``. One sparse ``(3A × nT)`` by dense ``(nT × M)``
    product, so no ``(T, 3, M)`` temporary is built (autograd flows into ``derivatives``).
    """
    n_terms = derivatives[0].shape[0]
    device = derivatives[0].device
    axis = torch.arange(3, device=device)
    rows, cols, values = [], [], []
    for atom, u, which in legs:
        rows.append((3 * atom[:, None] + axis).reshape(-1))
        cols.append((which * n_terms + torch.arange(n_terms, device=device))[:, None].expand(-1, 3).reshape(-1))
        values.append(u.reshape(-1))
    matrix = torch.sparse_coo_tensor(
        torch.stack([torch.cat(rows), torch.cat(cols)]),
        torch.cat(values),
        (3 * n_atoms, len(derivatives) * n_terms),
        check_invariants=False,  # indices are in range by construction
    )
    stacked = torch.cat(derivatives) if len(derivatives) > 1 else derivatives[0]
    return torch.sparse.mm(matrix, stacked).reshape(n_atoms, 3, -1)
