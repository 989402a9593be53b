"""Squared-exponential (RBF) radial profile of the symmetrised gradient-domain kernel."""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from alforge.models.gdml.gdml_kernel import GDMLKernel

__all__ = ["RBFGDMLKernel"]


class RBFGDMLKernel(GDMLKernel):
    """:class:`GDMLKernel` with the infinitely smooth RBF profile.

    With ``t = r / ℓ``: ``φ = exp(-t²/2)``, ``c₁ = -φ / ℓ²``, ``c₂ = φ / ℓ⁴``.

    Example
    -------
    >>> import torch
    >>> from gpytorch.kernels import ScaleKernel
    >>> kernel = ScaleKernel(RBFGDMLKernel(n_atoms=3))
    >>> kernel(torch.randn(4, 9)).shape
    torch.Size([40, 40])
    """

    name: ClassVar[str] = "rbf"

    def radial(self, r: Tensor, lengthscale: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``φ``, ``c₁``, ``c₂`` of the RBF profile (see the class docstring)."""
        inv_l2 = lengthscale.pow(-2)
        phi = (-0.5 * r * r * inv_l2).exp()
        return phi, -inv_l2 * phi, inv_l2 * inv_l2 * phi
