"""Symmetrised gradient-domain kernel on inverse distances (the sGDML kernel, plus energies).

The energy of a molecule is modelled as a GP over its inverse-distance descriptor
``x(R)`` with an isotropic base kernel ``k(x, z) = φ(‖x - z‖ / ℓ)``, symmetrised over the
molecule's permutation group ``G`` (descriptor permutations ``σ``):

.. math:: k_G(R, R') = \\frac{1}{|G|} \\sum_{σ ∈ G} k(x(R)[σ], x(R'))

Forces are minus the gradient of the energy, so the joint covariance of energies and energy
gradients follows from the kernel's derivatives, mapped through the descriptor Jacobian
``J = ∂x/∂R``. With ``u = x[σ] - z`` and ``r = ‖u‖``, the radial profile supplies ``φ(r)``,
``c₁(r) = φ'(r) / r`` and ``c₂(r) = c₁'(r) / r`` so that

.. math::
    ∇_x k = c₁ u, \\qquad ∇_z k = -c₁ u, \\qquad
    ∂^2 k / ∂x ∂z^T = -(c₁ I + c₂ u u^T).

Like :class:`gpytorch.kernels.RBFKernelGrad` the kernel maps ``n`` inputs to ``n (1 + D)``
outputs, interleaved per structure: ``[E, ∂E/∂R_1x, ∂E/∂R_1y, …, ∂E/∂R_Nz]``. Inputs are
flattened Cartesian positions in Å (``D = 3N``). It has no output scale: wrap it in a
:class:`gpytorch.kernels.ScaleKernel`. Concrete radial profiles are the siblings
:class:`~alforge.models.gdml.matern52_gdml_kernel.Matern52GDMLKernel` and
:class:`~alforge.models.gdml.rbf_gdml_kernel.RBFGDMLKernel`.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import Kernel
from torch import Tensor

from alforge.models.gdml.inverse_distance import InverseDistance

__all__ = ["GDMLKernel", "exp"]

ArrayT = TypeVar("ArrayT", Tensor, np.ndarray)


def exp(x: ArrayT) -> ArrayT:
    """``eˣ`` of a tensor or of a NumPy array: the radial profiles serve both (NumPy for the
    single-structure mean of :class:`~alforge.models.gdml.single_structure.SingleStructureMean`)."""
    return x.exp() if isinstance(x, Tensor) else np.exp(x)


class GDMLKernel(Kernel):
    """Joint energy–gradient covariance of a permutation-symmetrised inverse-distance kernel.

    Parameters
    ----------
    n_atoms
        Number of atoms ``N`` of the molecule.
    permutations
        Atom permutations of the molecule's symmetry group, integer array ``(S, N)`` with the
        identity in any row; ``None`` means no symmetrisation.
    lengthscale_constraint
        Constraint on the descriptor-space length scale ``ℓ`` (1/Å); default ``ℓ > 1e-4`` with a
        log transform, so that the optimiser works on ``log ℓ``.
    """

    has_lengthscale = True
    name: ClassVar[str] = ""

    def __init__(
        self,
        n_atoms: int,
        permutations: np.ndarray | None = None,
        lengthscale_constraint: GreaterThan | None = None,
        **kwargs: Any,
    ) -> None:
        if lengthscale_constraint is None:
            lengthscale_constraint = GreaterThan(1e-4, transform=torch.exp, inv_transform=torch.log)
        super().__init__(lengthscale_constraint=lengthscale_constraint, **kwargs)
        self.descriptor = InverseDistance(n_atoms)
        if permutations is None:
            permutations = np.arange(n_atoms)[None, :]
        atom_perms = np.asarray(permutations, dtype=np.int64)
        descriptor_perms = np.stack([self.descriptor.permutation(p) for p in atom_perms])
        self.register_buffer("atom_permutations", torch.as_tensor(atom_perms))
        self.register_buffer("descriptor_permutations", torch.as_tensor(descriptor_perms))

    @property
    def n_atoms(self) -> int:
        """Number of atoms ``N``."""
        return self.descriptor.n_atoms

    @property
    def n_symmetries(self) -> int:
        """Size ``S`` of the permutation group."""
        return int(self.descriptor_permutations.shape[0])

    @abstractmethod
    def radial(self, r: ArrayT, lengthscale: ArrayT | float) -> tuple[ArrayT, ArrayT, ArrayT]:
        """Radial profile and its derivative factors at descriptor distance ``r``.

        Parameters
        ----------
        r
            Descriptor-space distances ``‖x - z‖`` in 1/Å, any shape: a tensor, or a NumPy array
            (then ``lengthscale`` is a float).
        lengthscale
            Length scale ``ℓ`` in 1/Å, a scalar tensor or a float.

        Returns
        -------
        phi, c1, c2 : Tensor or numpy.ndarray
            ``φ``, ``c₁ = φ'/r`` and ``c₂ = c₁'/r`` (derivatives with respect to ``r``), each the
            shape of ``r`` and finite at ``r = 0``.
        """

    def forward(self, x1: Tensor, x2: Tensor, diag: bool = False, **params: Any) -> Tensor:
        """Joint covariance of energies and energy gradients.

        Parameters
        ----------
        x1, x2
            Flattened positions in Å, shapes ``(n1, 3N)`` and ``(n2, 3N)``.
        diag
            Return only the diagonal (requires ``x1`` and ``x2`` to be the same structures).

        Returns
        -------
        Tensor
            Shape ``(n1 (1 + 3N), n2 (1 + 3N))`` (or ``(n1 (1 + 3N),)`` with ``diag``), in eV²
            up to the output scale, interleaved per structure.
        """
        lengthscale = self.lengthscale.reshape(())
        x1_desc, jac1 = self.descriptor.with_jacobian(x1.reshape(x1.shape[0], self.n_atoms, 3))
        if diag:
            if x1.shape != x2.shape or not torch.equal(x1, x2):
                msg = "GDMLKernel: diag=True needs x1 and x2 to be the same structures; pass diag=False"
                raise ValueError(msg)
            jac1_perm = jac1[:, self.descriptor_permutations, :]
            return self._diag(x1_desc, jac1, jac1_perm, lengthscale).reshape(-1)
        x2_desc, jac2 = self.descriptor.with_jacobian(x2.reshape(x2.shape[0], self.n_atoms, 3))
        return self.joint_covariance(x1_desc, jac1, x2_desc, jac2, lengthscale)

    def joint_covariance(
        self, x1_desc: Tensor, jac1: Tensor, x2_desc: Tensor, jac2: Tensor, lengthscale: Tensor
    ) -> Tensor:
        """:meth:`forward` from precomputed descriptors ``(n, d)`` and Jacobians ``(n, d, 3N)``."""
        perms = self.descriptor_permutations
        n_outputs = 1 + 3 * self.n_atoms
        jac1_perm = jac1[:, perms, :]
        n1, n2 = x1_desc.shape[0], x2_desc.shape[0]
        diff = x1_desc[:, perms].unsqueeze(2) - x2_desc[None, None, :, :]
        phi, c1, c2 = self.radial(diff.pow(2).sum(-1).sqrt(), lengthscale)
        n_sym = perms.shape[0]
        u_jac2 = torch.einsum("asbd,bdl->asbl", diff, jac2)
        jac1_u = torch.einsum("asbd,asdk->asbk", diff, jac1_perm)
        k_ee = phi.mean(1)
        k_eg = -(c1.unsqueeze(-1) * u_jac2).mean(1)
        k_ge = (c1.unsqueeze(-1) * jac1_u).mean(1)
        weighted_jac1 = torch.einsum("asb,asdk->abdk", c1, jac1_perm)
        k_gg = -(
            torch.einsum("abdk,bdl->abkl", weighted_jac1, jac2)
            + torch.einsum("asb,asbk,asbl->abkl", c2, jac1_u, u_jac2)
        ) / n_sym
        top = torch.cat([k_ee.unsqueeze(-1), k_eg], dim=-1)
        bottom = torch.cat([k_ge.unsqueeze(-1), k_gg], dim=-1)
        joint = torch.cat([top.unsqueeze(1), bottom.permute(0, 2, 1, 3)], dim=1)
        return joint.reshape(n1 * n_outputs, n2 * n_outputs)

    def _diag(self, x_desc: Tensor, jac: Tensor, jac_perm: Tensor, lengthscale: Tensor) -> Tensor:
        """Prior variances of ``[E, ∂E/∂R]`` per structure, shape ``(n, 1 + 3N)``."""
        perms = self.descriptor_permutations
        diff = x_desc[:, perms] - x_desc[:, None, :]
        phi, c1, c2 = self.radial(diff.pow(2).sum(-1).sqrt(), lengthscale)
        jac_u = torch.einsum("asd,asdk->ask", diff, jac_perm)
        u_jac = torch.einsum("asd,adk->ask", diff, jac)
        cross = torch.einsum("asdk,adk->ask", jac_perm, jac)
        grad_var = -(c1.unsqueeze(-1) * cross + c2.unsqueeze(-1) * jac_u * u_jac).mean(1)
        return torch.cat([phi.mean(1, keepdim=True), grad_var], dim=-1)

    def num_outputs_per_input(self, x1: Tensor, x2: Tensor) -> int:
        """``1 + 3N``: the energy and its gradient per structure."""
        return 1 + x1.size(-1)
