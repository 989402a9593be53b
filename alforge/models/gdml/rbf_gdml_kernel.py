"""Squared-exponential (RBF) radial profile of the symmetrised gradient-domain kernel."""

from __future__ import annotations

from typing import ClassVar

from alforge.models.gdml.gdml_kernel import ArrayT, GDMLKernel, exp

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

    def radial(self, r: ArrayT, lengthscale: ArrayT | float) -> tuple[ArrayT, ArrayT, ArrayT]:
        """``φ``, ``c₁``, ``c₂`` of the RBF profile (see the class docstring)."""
        inv_l2 = lengthscale**-2
        phi = exp(-0.5 * r * r * inv_l2)
        return phi, -inv_l2 * phi, inv_l2 * inv_l2 * phi
