"""Exact Gaussian log-likelihood of a dense covariance, with a cheap analytic backward.

``log N(y | 0, K) = -½ (yᵀ K⁻¹ y + log det K + M log 2π)`` and
``∂/∂K = ½ (α αᵀ - K⁻¹)`` with ``α = K⁻¹ y``. The backward needs one ``cholesky_inverse``
(≈ ⅔ M³ flops); the generic backward of a Cholesky through GPyTorch's
:meth:`~gpytorch.distributions.MultivariateNormal.log_prob` costs about four times more on
the dense matrices of the hyperparameter search (measured: 5 s against 1.3 s at M = 2800).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from linear_operator.utils.errors import NotPSDError
from torch import Tensor

__all__ = ["ExactGaussianLogLikelihood"]


class ExactGaussianLogLikelihood(torch.autograd.Function):
    """``ExactGaussianLogLikelihood.apply(K, y)`` → ``log N(y | 0, K)`` (a scalar tensor).

    Raises
    ------
    linear_operator.utils.errors.NotPSDError
        ``K`` is not numerically positive definite.
    """

    @staticmethod
    def forward(ctx: Any, covariance: Tensor, y: Tensor) -> Tensor:
        """Log-likelihood in nats from a Cholesky factorisation of ``covariance`` ``(M, M)``."""
        lower, info = torch.linalg.cholesky_ex(covariance)
        if int(info) != 0:
            msg = f"covariance not positive definite (leading minor {int(info)})"
            raise NotPSDError(msg)
        alpha = torch.cholesky_solve(y.unsqueeze(-1), lower).squeeze(-1)
        logdet = 2.0 * lower.diagonal().log().sum()
        ctx.save_for_backward(lower, alpha)
        return -0.5 * (y @ alpha + logdet + y.shape[0] * math.log(2 * math.pi))

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> tuple[Tensor, None]:
        """``∂L/∂K = ½ (α αᵀ - K⁻¹)`` (no gradient for ``y``)."""
        lower, alpha = ctx.saved_tensors
        grad = torch.cholesky_inverse(lower).mul_(-0.5)
        grad.addr_(alpha, alpha, alpha=0.5)
        return grad * grad_output, None
