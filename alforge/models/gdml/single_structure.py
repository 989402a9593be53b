"""The posterior mean for one structure at a time in NumPy: the MD step on a CPU.

:class:`~alforge.models.gdml.gdml_posterior.GDMLPosterior` evaluates the mean (and variances) of
many structures at once in PyTorch. MD asks for one structure per step, and then the arrays are
so small (ethanol, 100 centres, 12 symmetries: 12 × 100 distances) that PyTorch's cost per
operation, not arithmetic, sets the time: about 0.23 ms a step. The same formulas in NumPy take
about 0.06 ms, which is what makes MD on the model a thousand times faster than the PySCF level
it learned (``benchmarks/active_vs_random.py``).

The formulas are the posterior's (see its module docstring): with ``x`` the inverse distances,
``x[σ]`` their permutations and ``z_m``, ``β_m``, ``α_m`` the centres' descriptors and weights,

.. math:: E = μ + \\frac{s}{S}\\sum_{σ, m} \\big[α_m φ(r_{σm}) - c₁(r_{σm})\\, u_{σm}·β_m\\big],

and the forces are ``-Jᵀ ∂E/∂x``. ``∂E/∂x`` gathers the gradient with respect to each ``x[σ]``
back through ``σ``; ``J`` of the inverse distances is sparse (pair ``p = (i, j)`` moves only atoms
``i`` and ``j``), so ``Jᵀ g`` is ``g_p x_p³ (r_i - r_j)`` summed into the pair's two atoms by its
incidence matrix. No Prefect, no GPU: energies in eV, positions in Å, forces in eV/Å.

Example
-------
>>> mean = SingleStructureMean(model.posterior)            # doctest: +SKIP
>>> energy_eV, forces_eV_per_A = mean(atoms.positions)       # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from alforge.models.gdml.gdml_posterior import GDMLPosterior

__all__ = ["SingleStructureMean"]


class SingleStructureMean:
    """Energy and forces of one structure from a posterior's mean, in NumPy (float64).

    Parameters
    ----------
    posterior
        A fitted posterior; its tensors are copied to NumPy once, here.
    """

    def __init__(self, posterior: GDMLPosterior) -> None:
        def array(tensor: object) -> np.ndarray:
            return np.asarray(tensor.detach().cpu().numpy(), dtype=np.float64)  # type: ignore[attr-defined]

        self.kernel = posterior.kernel
        self.lengthscale = float(posterior.lengthscale)
        self.prior_mean_eV = posterior.prior_mean_eV
        self.scale = posterior.outputscale / posterior.n_symmetries
        self.perms = posterior.perms.cpu().numpy()
        self.centres_x = array(posterior.centres_x)
        self.beta = array(posterior.beta)
        self.alpha = array(posterior.alpha_energy)
        self.centre_norms = array(posterior._centre_norms)
        self.centre_beta = array(posterior._centre_beta)
        n_atoms = posterior.descriptor.n_atoms
        self.pair_i, self.pair_j = np.tril_indices(n_atoms, k=-1)
        self.incidence_T = np.ascontiguousarray(array(posterior.descriptor._incidence).T)  # (N, d)

    def __call__(self, positions_A: np.ndarray) -> tuple[float, np.ndarray]:
        """Energy (eV) and forces (eV/Å, shape ``(N, 3)``) at positions ``(N, 3)`` in Å."""
        positions = np.asarray(positions_A, dtype=np.float64)
        pair = positions[self.pair_i] - positions[self.pair_j]  # (d, 3)
        x = 1.0 / np.sqrt((pair * pair).sum(1))
        x_perm = x[self.perms]  # (S, d)
        squared = (x_perm * x_perm).sum(1)[:, None] + self.centre_norms - 2.0 * (x_perm @ self.centres_x.T)
        phi, c1, c2 = self.kernel.radial(np.sqrt(np.maximum(squared, 0.0)), self.lengthscale)  # (S, n)
        u_beta = x_perm @ self.beta.T - self.centre_beta
        energy = self.prior_mean_eV + self.scale * (float((phi @ self.alpha).sum()) - float((c1 * u_beta).sum()))
        weights = self.alpha * c1 - c2 * u_beta
        grad_perm = self.scale * (x_perm * weights.sum(1)[:, None] - weights @ self.centres_x - c1 @ self.beta)
        grad_x = np.bincount(self.perms.ravel(), weights=grad_perm.ravel(), minlength=x.shape[0])
        # ∂x_p/∂r_i = -x_p³ (r_i - r_j) = -∂x_p/∂r_j, so -Jᵀ g = incidenceᵀ (g x³ (r_i - r_j))
        forces = self.incidence_T @ ((grad_x * x**3)[:, None] * pair)
        return energy, forces
