"""Matérn-5/2 radial profile of the symmetrised gradient-domain kernel (sGDML's choice)."""

from __future__ import annotations

import math
from typing import ClassVar

from alforge.models.gdml.gdml_kernel import ArrayT, GDMLKernel, exp

__all__ = ["Matern52GDMLKernel"]

_SQRT5 = math.sqrt(5.0)


class Matern52GDMLKernel(GDMLKernel):
    """:class:`GDMLKernel` with the Matérn ν = 5/2 profile, twice differentiable.

    With ``t = r / ℓ``:

    .. math::
        φ = (1 + \\sqrt5 t + 5t^2/3)\\, e^{-\\sqrt5 t}, \\quad
        c₁ = -\\frac{5}{3ℓ^2}(1 + \\sqrt5 t)\\, e^{-\\sqrt5 t}, \\quad
        c₂ = \\frac{25}{3ℓ^4} e^{-\\sqrt5 t}.

    Example
    -------
    >>> import torch
    >>> from gpytorch.kernels import ScaleKernel
    >>> kernel = ScaleKernel(Matern52GDMLKernel(n_atoms=3))
    >>> kernel(torch.randn(4, 9)).shape
    torch.Size([40, 40])
    """

    name: ClassVar[str] = "matern52"

    def radial(self, r: ArrayT, lengthscale: ArrayT | float) -> tuple[ArrayT, ArrayT, ArrayT]:
        """``φ``, ``c₁``, ``c₂`` of the Matérn-5/2 profile (see the class docstring)."""
        t = r / lengthscale
        decay = exp(-_SQRT5 * t)
        inv_l2 = lengthscale**-2
        phi = (1.0 + _SQRT5 * t + (5.0 / 3.0) * t * t) * decay
        c1 = -(5.0 / 3.0) * inv_l2 * (1.0 + _SQRT5 * t) * decay
        c2 = (25.0 / 3.0) * inv_l2 * inv_l2 * decay
        return phi, c1, c2
