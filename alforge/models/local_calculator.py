"""ASE calculator for a local potential: any atom count, periodic cells included."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import all_changes

from alforge.errors import ModelInputError
from alforge.models.calculator import PotentialCalculator

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["LocalPotentialCalculator"]


class LocalPotentialCalculator(PotentialCalculator):
    """:class:`~alforge.models.calculator.PotentialCalculator` without the fixed-molecule check.

    The structure may have any number of atoms of the elements the model was trained on; its
    cell and periodic boundary conditions are used. Results as the parent's: ``energy``,
    ``free_energy``, ``forces`` (N, 3), ``energy_std`` (eV), ``forces_std`` (N,) in eV/Å.
    """

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        """Predict for ``atoms`` (all properties at once)."""
        super(PotentialCalculator, self).calculate(atoms, list(properties), list(system_changes))
        if not np.isfinite(self.atoms.positions).all():
            msg = "the structure has non-finite coordinates; fix the structure (an MD run may have exploded)"
            raise ModelInputError(msg)
        frame = Atoms(self.atoms.numbers, self.atoms.positions, cell=self.atoms.cell, pbc=self.atoms.pbc)
        prediction = self.model.predict([frame])
        energy = float(prediction.energy_eV[0])
        self.results: dict[str, Any] = {
            "energy": energy,
            "free_energy": energy,
            "forces": prediction.forces_eV_per_A[0],
            "energy_std": float(prediction.energy_std_eV[0]),
            "forces_std": prediction.forces_std_eV_per_A[0],
        }
