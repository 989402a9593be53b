"""ASE calculator for any alforge potential, uncertainty included.

Example
-------
>>> atoms.calc = model.calculator()                       # doctest: +SKIP
>>> atoms.get_potential_energy(), atoms.get_forces()       # doctest: +SKIP
>>> atoms.calc.results["energy_std"], atoms.calc.results["forces_std"]  # doctest: +SKIP
>>> atoms.calc = model.calculator(uncertainty=False)     # production MD: energy and forces only  # doctest: +SKIP
>>> atoms.calc = model.calculator(uncertainty="on_request")  # the std only when asked for  # doctest: +SKIP
>>> atoms.calc.get_property("forces_std", atoms)            # doctest: +SKIP
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator, all_changes

from alforge.errors import ModelInputError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from alforge.models.base import Potential
    from alforge.models.prediction import Prediction

__all__ = ["PotentialCalculator"]


class PotentialCalculator(Calculator):
    """Energy, forces and their uncertainties from a fitted :class:`~alforge.models.base.Potential`.

    Results (ASE shapes and units):

    - ``energy``, ``free_energy``: predicted energy in eV (the model's mean);
    - ``forces``: predicted forces in eV/Å, shape ``(N, 3)``, the exact negative gradient of
      ``energy`` for GP models (so NVE dynamics conserve energy);
    - ``energy_std``: standard deviation of the energy in eV;
    - ``forces_std``: per-atom force uncertainty in eV/Å, shape ``(N,)``, the square root of the
      mean over x, y, z of the component variances.

    Parameters
    ----------
    model
        A fitted potential.
    uncertainty
        ``True`` (default): compute ``energy_std`` and ``forces_std`` with every prediction.
        ``False`` leaves them out and predicts the mean only: for production MD on a finished
        model, several times faster per step (for a GP the variance costs 5–20 times the mean);
        asking for them then raises :class:`~ase.calculators.calculator.PropertyNotImplementedError`.
        ``"on_request"``: the mean only, unless ``energy_std`` or ``forces_std`` is asked for
        (``get_property``), which then predicts them for the current positions: for MD that
        reads the uncertainty every few steps (the walker's ``check_interval``).
    **kwargs
        Passed to :class:`ase.calculators.calculator.Calculator`.
    """

    implemented_properties: ClassVar[list[str]] = [  # type: ignore[misc]
        "energy",
        "free_energy",
        "forces",
        "energy_std",
        "forces_std",
    ]

    def __init__(
        self, model: Potential, *, uncertainty: bool | Literal["on_request"] = True, **kwargs: Any
    ) -> None:
        if uncertainty not in (True, False, "on_request"):
            msg = f"uncertainty must be True, False or 'on_request', not {uncertainty!r}"
            raise ValueError(msg)
        super().__init__(**kwargs)
        self.model = model
        self.uncertainty = uncertainty
        if not uncertainty:
            self.implemented_properties = ["energy", "free_energy", "forces"]  # type: ignore[misc]

    def check_state(self, atoms: Atoms, tol: float = 1e-15) -> list[str]:
        """What changed since the last calculation among what the model depends on.

        Only atomic numbers, positions, cell and periodicity enter a prediction. Comparing those
        exactly is much cheaper than ASE's general :func:`~ase.calculators.calculator.compare_atoms`,
        which an MD step with uncertainty otherwise pays several times.
        """
        previous = self.atoms
        if previous is None or len(previous) != len(atoms):
            return list(all_changes)
        checks = (
            ("numbers", previous.numbers, atoms.numbers),
            ("positions", previous.positions, atoms.positions),
            ("cell", previous.cell.array, atoms.cell.array),
            ("pbc", previous.pbc, atoms.pbc),
        )
        return [name for name, before, now in checks if not np.array_equal(before, now)]

    def get_property(self, name: str, atoms: Atoms | None = None, allow_calculation: bool = True) -> Any:
        """ASE's ``get_property``, answered from the results at once when ``atoms`` has not moved.

        An MD step asks for energy and forces several times at the same positions (a walker
        also for the uncertainty); ASE's path checks the state and copies the structure each time.
        """
        previous = self.atoms
        if (
            atoms is not None
            and previous is not None
            and name in self.results
            and np.array_equal(previous.positions, atoms.positions)
            and not self.check_state(atoms)
        ):
            result = self.results[name]
            return result.copy() if isinstance(result, np.ndarray) else result
        return super().get_property(name, atoms, allow_calculation)

    def calculate(
        self,
        atoms: Atoms | None = None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        """Predict for ``atoms``: every implemented property at once."""
        if atoms is not None and (self.atoms is None or self.check_state(atoms)):
            self.atoms = atoms.copy()  # ASE's get_property has just copied it; a direct call has not
        if self.atoms is None:
            msg = "no structure to predict for; pass atoms or attach the calculator to an Atoms object"
            raise ModelInputError(msg)
        with_std = self.uncertainty is True or (
            self.uncertainty == "on_request" and bool({"energy_std", "forces_std"} & set(properties))
        )
        prediction = self._predict(self.atoms, with_std=with_std)
        energy = float(prediction.energy_eV[0])
        self.results = {"energy": energy, "free_energy": energy, "forces": prediction.forces_eV_per_A[0]}
        if with_std:
            self.results["energy_std"] = float(prediction.energy_std_eV[0])
            self.results["forces_std"] = prediction.forces_std_eV_per_A[0]

    def _predict(self, atoms: Atoms, *, with_std: bool) -> Prediction:
        """The model's prediction for ``atoms``, which must be the model's molecule in its atom order."""
        numbers = self.model.numbers
        if numbers is None:
            msg = "the model is not fitted; call fit(frames) or load a saved model before using its calculator"
            raise ModelInputError(msg)
        if len(atoms) != len(numbers) or not np.array_equal(atoms.numbers, numbers):
            msg = (
                f"the structure is {atoms.get_chemical_formula()} but the model is for "
                f"{Atoms(numbers).get_chemical_formula()} in a fixed atom order; use a model of this molecule"
            )
            raise ModelInputError(msg)
        return self.model.predict_positions(finite_positions(atoms)[None], with_std=with_std)


def finite_positions(atoms: Atoms) -> np.ndarray:
    """``atoms.positions``, or :class:`ModelInputError` if any coordinate is NaN or infinite."""
    if not np.isfinite(atoms.positions).all():
        msg = "the structure has non-finite coordinates; fix the structure (an MD run may have exploded)"
        raise ModelInputError(msg)
    return atoms.positions
