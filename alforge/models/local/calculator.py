"""ASE calculator for a local potential: any atom count, periodic cells included."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ase import Atoms

from alforge.models.calculator import PotentialCalculator, finite_positions

if TYPE_CHECKING:
    from alforge.models.prediction import Prediction

__all__ = ["LocalPotentialCalculator"]


class LocalPotentialCalculator(PotentialCalculator):
    """:class:`~alforge.models.calculator.PotentialCalculator` without the fixed-molecule check.

    The structure may have any number of atoms of the elements the model was trained on; its
    cell and periodic boundary conditions are used. Results as the parent's: ``energy``,
    ``free_energy``, ``forces`` (N, 3), ``energy_std`` (eV), ``forces_std`` (N,) in eV/Å.
    """

    def _predict(self, atoms: Atoms, *, with_std: bool) -> Prediction:
        frame = Atoms(atoms.numbers, finite_positions(atoms), cell=atoms.cell, pbc=atoms.pbc)
        return self.model.predict_each([frame], with_std=with_std)[0]  # type: ignore[attr-defined]
