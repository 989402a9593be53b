"""A GPyTorch interval constraint that is uniform in the logarithm of the parameter."""

from __future__ import annotations

import math

import torch
from gpytorch.constraints import Interval
from torch import Tensor

__all__ = ["LogInterval"]


class LogInterval(Interval):
    """``lower ≤ value ≤ upper`` with ``value = exp(log lower + (log upper - log lower) · sigmoid(raw))``.

    For positive parameters that may span orders of magnitude (length scales): the optimiser's
    steps are relative changes, and the bounds are hard.

    Parameters
    ----------
    lower_bound, upper_bound
        Positive bounds with ``lower_bound < upper_bound``.

    Example
    -------
    >>> constraint = LogInterval(0.01, 100.0)
    >>> float(constraint.transform(torch.zeros(())))
    1.0
    """

    def __init__(self, lower_bound: float, upper_bound: float) -> None:
        if not 0 < lower_bound < upper_bound:
            msg = f"LogInterval needs 0 < lower < upper, got ({lower_bound}, {upper_bound})"
            raise ValueError(msg)
        super().__init__(lower_bound, upper_bound, transform=torch.sigmoid, inv_transform=torch.logit)
        self._log_lower = math.log(lower_bound)
        self._log_span = math.log(upper_bound) - math.log(lower_bound)

    def transform(self, tensor: Tensor) -> Tensor:
        """Raw parameter → bounded value."""
        return (self._log_lower + self._log_span * torch.sigmoid(tensor)).exp()

    def inverse_transform(self, transformed_tensor: Tensor) -> Tensor:
        """Bounded value → raw parameter (values are clamped just inside the bounds)."""
        fraction = (transformed_tensor.log() - self._log_lower) / self._log_span
        return torch.logit(fraction.clamp(1e-9, 1 - 1e-9))
