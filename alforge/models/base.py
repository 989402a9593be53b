"""The interface every alforge potential implements.

A potential is fitted on labelled frames of one molecule (energy in eV, forces in eV/Å), predicts
energies, forces and their uncertainties, acts as an ASE calculator, and saves to one file.
Frames and models of different levels of theory never mix: frames may carry their label's
level-of-theory hash in ``atoms.info["level_of_theory_hash"]``, and a model remembers the level
it was trained on (:attr:`Potential.level_of_theory`, or the hash its training frames carried).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import torch
from ase import Atoms

from alforge.errors import ModelError, ModelInputError
from alforge.models.calculator import PotentialCalculator
from alforge.models.common.frames import level_hashes, stack_labelled, stack_positions
from alforge.models.fit_report import FitReport
from alforge.models.model_file import write_model_file
from alforge.models.prediction import Prediction

__all__ = ["FitReport", "Potential", "Prediction", "resolve_device", "resolve_dtype"]

_DTYPES = {"float64": torch.float64, "float32": torch.float32}


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` → CUDA when available, else CPU; ``"cpu"``/``"cuda"`` as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        msg = f"device {str(device)!r} requested but PyTorch sees no CUDA GPU; use device='cpu' or 'auto'"
        raise ModelError(msg)
    if str(device) != "cpu" and not str(device).startswith("cuda"):
        msg = f"unknown device {str(device)!r}; use 'auto', 'cpu' or 'cuda'"
        raise ModelError(msg)
    return torch.device(device)


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``"float64"`` (default, recommended) or ``"float32"``."""
    if isinstance(dtype, torch.dtype) and dtype in _DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype in _DTYPES:
        return _DTYPES[dtype]
    msg = f"unknown dtype {dtype!r}; use 'float64' or 'float32'"
    raise ModelError(msg)


class Potential(ABC):
    """A machine-learned potential with uncertainty for one molecule.

    Attributes
    ----------
    kind
        Registry name of the model class (``"gp"``, ``"committee"``).
    numbers
        Atomic numbers of the molecule, shape ``(N,)``; ``None`` before fitting.
    training_ids
        Database ids of the training structures (set by the caller; saved with the model).
    level_of_theory
        ``LevelOfTheory.to_dict()`` of the training labels, or ``None``; set before saving.
    metadata
        Free JSON-ready information saved with the model.
    fit_report
        Report of the last fit, ``None`` before fitting.
    """

    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.numbers: np.ndarray | None = None
        self.training_ids: list[int] = []
        self.level_of_theory: dict[str, Any] | None = None
        self.metadata: dict[str, Any] = {}
        self.fit_report: FitReport | None = None
        self._training_level_hash: str | None = None

    @property
    def is_fitted(self) -> bool:
        """Whether the model can predict."""
        return self.numbers is not None

    def _require_fitted(self) -> np.ndarray:
        if self.numbers is None:
            msg = f"the {self.kind} model is not fitted; call fit(frames) first or load a saved model"
            raise ModelError(msg)
        return self.numbers

    # ---- level of theory -------------------------------------------------------------------
    @property
    def level_hash(self) -> str | None:
        """Hash of the level of theory of the training labels, if known."""
        if self.level_of_theory:
            if self.level_of_theory.get("hash"):
                return str(self.level_of_theory["hash"])
            from alforge.oracles.level_of_theory import LevelOfTheory

            return LevelOfTheory.from_dict(self.level_of_theory).hash
        return self._training_level_hash

    def check_level(self, other: Sequence[Atoms] | Potential) -> None:
        """Refuse frames or a model whose level of theory differs from this model's.

        Parameters
        ----------
        other
            Frames (their ``atoms.info["level_of_theory_hash"]`` is read) or another potential.

        Raises
        ------
        ModelInputError
            The frames mix levels, or their level (or the other model's) differs from this one's.
        """
        if isinstance(other, Potential):
            hashes = {other.level_hash} if other.level_hash else set()
            what = f"the other {other.kind} model"
        else:
            hashes = level_hashes(other)
            what = "the frames"
        if len(hashes) > 1:
            msg = (
                f"{what} mix levels of theory {sorted(hashes)}; results of different levels never "
                "train the same model: split them by level"
            )
            raise ModelInputError(msg)
        mine = self.level_hash
        if mine and hashes and hashes != {mine}:
            msg = (
                f"{what} have level of theory {hashes.pop()} but this model's is {mine}; "
                "use data and models of one level of theory"
            )
            raise ModelInputError(msg)

    # ---- fit / predict ---------------------------------------------------------------------
    def fit(self, frames: Sequence[Atoms], *, energy_key: str = "energy", forces_key: str = "forces") -> FitReport:
        """Fit on labelled frames of one molecule.

        Parameters
        ----------
        frames
            Labelled frames (energy in eV, forces in eV/Å) of one molecule in one atom order.
        energy_key, forces_key
            Where the labels are: ``atoms.info[energy_key]`` and ``atoms.arrays[forces_key]``, or
            the results of the attached calculator (see :func:`~alforge.models.common.frames.label_of`).

        Returns
        -------
        FitReport
            Also kept as :attr:`fit_report`.

        Raises
        ------
        ModelInputError
            Empty data, unlabelled frames, NaN positions, mixed molecules or levels of theory.
        FitError
            Numerical failure (matrix not positive definite, NaN hyperparameters).
        """
        numbers, positions, energies, forces = stack_labelled(
            frames, energy_key=energy_key, forces_key=forces_key
        )
        self._training_level_hash = None
        self.check_level(frames)
        hashes = level_hashes(frames)
        start = time.perf_counter()
        report = self._fit(numbers, positions, energies, forces, frames)
        report.fit_time_s = time.perf_counter() - start
        self.numbers = np.asarray(numbers).copy()
        self._training_level_hash = next(iter(hashes)) if hashes else None
        self.fit_report = report
        return report

    @abstractmethod
    def _fit(
        self,
        numbers: np.ndarray,
        positions_A: np.ndarray,
        energies_eV: np.ndarray,
        forces_eV_per_A: np.ndarray,
        frames: Sequence[Atoms],
    ) -> FitReport:
        """Fit on checked arrays (shapes ``(N,)``, ``(n, N, 3)``, ``(n,)``, ``(n, N, 3)``)."""

    def predict(self, frames: Sequence[Atoms]) -> Prediction:
        """Energies, forces and uncertainties of structures of the model's molecule.

        Parameters
        ----------
        frames
            Structures (labels, if any, are ignored).

        Returns
        -------
        Prediction

        Raises
        ------
        ModelInputError
            Wrong molecule or atom order, or non-finite positions.
        """
        numbers = self._require_fitted()
        return self.predict_positions(stack_positions(frames, numbers), with_std=True)

    @abstractmethod
    def predict_positions(self, positions_A: np.ndarray, *, with_std: bool = True) -> Prediction:
        """Predict from checked positions in Å, shape ``(n, N, 3)``.

        With ``with_std=False`` the uncertainties are returned as zeros (faster).
        """

    @abstractmethod
    def descriptor(self, frames: Sequence[Atoms]) -> np.ndarray:
        """Feature vectors of structures, shape ``(n, d)`` (for farthest-point sampling)."""

    def calculator(self, *, uncertainty: bool | Literal["on_request"] = True) -> PotentialCalculator:
        """An ASE calculator on this model (see :class:`PotentialCalculator`); ``uncertainty=False``
        predicts energy and forces only, for production MD; ``"on_request"`` the uncertainty only
        when asked for."""
        self._require_fitted()
        return PotentialCalculator(self, uncertainty=uncertainty)

    @property
    @abstractmethod
    def force_noise_eV_per_A(self) -> float:
        """Fitted force noise (standard deviation per component) in eV/Å."""

    @property
    @abstractmethod
    def hyperparameters(self) -> dict[str, Any]:
        """Fitted hyperparameters, JSON-ready, with units in the names."""

    # ---- persistence -----------------------------------------------------------------------
    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """Model-specific state: tensors, numbers, strings, lists and dicts only."""

    @classmethod
    @abstractmethod
    def _from_state(cls, state: dict[str, Any]) -> Self:
        """Rebuild a fitted model from :meth:`_state`."""

    def full_state(self) -> dict[str, Any]:
        """Everything :meth:`save` writes: common attributes plus :meth:`_state`."""
        numbers = self._require_fitted()
        return {
            "numbers": [int(z) for z in numbers],
            "training_ids": [int(i) for i in self.training_ids],
            "level_of_theory": self.level_of_theory,
            "training_level_hash": self._training_level_hash,
            "metadata": dict(self.metadata),
            "fit_report": self.fit_report.to_dict() if self.fit_report else None,
            "model": self._state(),
        }

    @classmethod
    def from_full_state(cls, state: dict[str, Any]) -> Self:
        """Inverse of :meth:`full_state`."""
        model = cls._from_state(state["model"])
        model.numbers = np.asarray(state["numbers"], dtype=np.int64)
        model.training_ids = list(state.get("training_ids", []))
        model.level_of_theory = state.get("level_of_theory")
        model._training_level_hash = state.get("training_level_hash")
        model.metadata = dict(state.get("metadata") or {})
        report = state.get("fit_report")
        model.fit_report = FitReport.from_dict(report) if report else None
        return model

    def save(self, path: str | Path) -> Path:
        """Write the model to one file; read it back with :func:`alforge.models.load_model`."""
        return write_model_file(path, self.kind, self.full_state())

    def __repr__(self) -> str:
        if self.numbers is None:
            return f"{type(self).__name__}(not fitted)"
        n = self.fit_report.n_structures if self.fit_report else "?"
        return f"{type(self).__name__}({Atoms(self.numbers).get_chemical_formula()}, {n} structures)"
