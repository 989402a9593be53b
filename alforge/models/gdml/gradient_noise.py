"""Observation noise of energies and energy gradients (forces), two variances."""

from __future__ import annotations

import torch
from gpytorch.constraints import GreaterThan
from gpytorch.module import Module
from torch import Tensor

__all__ = ["GradientNoise"]


class GradientNoise(Module):
    """Homoskedastic Gaussian noise, one variance for energies and one for force components.

    Both are behind GPyTorch constraints (default: at least ``1e-10``, log-transformed so that
    optimisers step in ``log σ²``).

    Parameters
    ----------
    energy_noise_constraint
        Constraint on the energy noise variance in eV².
    force_noise_constraint
        Constraint on the force-component noise variance in (eV/Å)².

    Example
    -------
    >>> noise = GradientNoise()
    >>> noise.force_noise = 1e-4
    >>> noise.diagonal(n_structures=2, n_gradients=3).shape
    torch.Size([8])
    """

    def __init__(
        self,
        energy_noise_constraint: GreaterThan | None = None,
        force_noise_constraint: GreaterThan | None = None,
    ) -> None:
        super().__init__()
        if energy_noise_constraint is None:
            energy_noise_constraint = GreaterThan(1e-10, transform=torch.exp, inv_transform=torch.log)
        if force_noise_constraint is None:
            force_noise_constraint = GreaterThan(1e-10, transform=torch.exp, inv_transform=torch.log)
        self.register_parameter("raw_energy_noise", torch.nn.Parameter(torch.zeros(())))
        self.register_parameter("raw_force_noise", torch.nn.Parameter(torch.zeros(())))
        self.register_constraint("raw_energy_noise", energy_noise_constraint)
        self.register_constraint("raw_force_noise", force_noise_constraint)

    @property
    def energy_noise(self) -> Tensor:
        """Energy noise variance in eV²."""
        return self.raw_energy_noise_constraint.transform(self.raw_energy_noise)

    @energy_noise.setter
    def energy_noise(self, value: float | Tensor) -> None:
        value = _at_least(value, self.raw_energy_noise_constraint, self.raw_energy_noise)
        self.initialize(raw_energy_noise=self.raw_energy_noise_constraint.inverse_transform(value))

    @property
    def force_noise(self) -> Tensor:
        """Force-component noise variance in (eV/Å)²."""
        return self.raw_force_noise_constraint.transform(self.raw_force_noise)

    @force_noise.setter
    def force_noise(self, value: float | Tensor) -> None:
        value = _at_least(value, self.raw_force_noise_constraint, self.raw_force_noise)
        self.initialize(raw_force_noise=self.raw_force_noise_constraint.inverse_transform(value))

    def diagonal(self, n_structures: int, n_gradients: int) -> Tensor:
        """Noise variances in the kernel's interleaved order.

        Parameters
        ----------
        n_structures
            Number of structures ``n``.
        n_gradients
            Gradient components per structure, ``3N``.

        Returns
        -------
        Tensor
            Shape ``(n (1 + 3N),)``: per structure the energy noise, then ``3N`` force noises.
        """
        block = torch.cat([self.energy_noise.reshape(1), self.force_noise.reshape(1).expand(n_gradients)])
        return block.repeat(n_structures)


def _at_least(value: float | Tensor, constraint: GreaterThan, like: Tensor) -> Tensor:
    """``value`` as a tensor like ``like``; on or below the constraint's lower bound, just above it.

    Noise guesses from very few or very clean structures can fall below the floor; setting such a
    value would make GPyTorch raise, so the floor is used instead (the optimiser starts there). A
    value above the floor, however close (a fitted noise on its bound), is kept as it is.
    """
    tensor = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    lower = torch.as_tensor(constraint.lower_bound, dtype=like.dtype, device=like.device)
    return torch.where(tensor > lower, tensor, lower * (1 + 1e-6))
