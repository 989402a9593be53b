"""What a potential returns for a batch of structures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Self

import numpy as np

__all__ = ["Prediction"]


@dataclass(frozen=True)
class Prediction:
    """Energies, forces and their uncertainties for ``n`` structures of ``N`` atoms.

    Attributes
    ----------
    energy_eV
        Predicted energies, shape ``(n,)``.
    forces_eV_per_A
        Predicted forces, shape ``(n, N, 3)``.
    energy_std_eV
        Standard deviation of the energy, shape ``(n,)``.
    forces_std_eV_per_A
        Per-atom force uncertainty, shape ``(n, N)``: the square root of the mean over x, y, z
        of the component variances, so that it compares with per-component force errors.
    """

    energy_eV: np.ndarray
    forces_eV_per_A: np.ndarray
    energy_std_eV: np.ndarray
    forces_std_eV_per_A: np.ndarray

    def __len__(self) -> int:
        return int(self.energy_eV.shape[0])

    @classmethod
    def concatenate(cls, parts: Sequence[Prediction]) -> Self:
        """One prediction of the structures of ``parts`` in order (they must have equal atom counts)."""
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))
