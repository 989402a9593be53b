"""Committee potential: K models on resampled data; their mean drives MD, their spread is the uncertainty.

Each member is fitted on the distinct structures of a bootstrap resample (drawing ``n`` of ``n``
with replacement keeps about 63 % of them). The spread of the members' predictions, times a
calibration factor ``α``, is the uncertainty. ``α`` is fitted on the out-of-bag structures:
each is predicted by the members that did not see it, and ``α² = mean(error²) / mean(σ²)`` over
their force components (Musil et al., J. Chem. Theory Comput. 15, 906 (2019), simplified).

Members are any :class:`~alforge.models.base.Potential`; by default GPs
(:class:`~alforge.models.gdml.gp_potential.GPPotential`) that share the hyperparameters found for
the first member, so only one marginal-likelihood search runs.

Example
-------
>>> from ase.build import molecule
>>> from alforge.models.common.toy import emt_methane
>>> frames = emt_methane(12)  # toy data: displaced methane labelled by ASE's EMT
>>> committee = CommitteePotential(n_members=3)
>>> report = committee.fit(frames)
>>> atoms = molecule("CH4")
>>> atoms.calc = committee.calculator()
>>> atoms.get_forces().shape, atoms.calc.results["forces_std"].shape  # forces_std: one per atom
((5, 3), (5,))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

import numpy as np
from ase import Atoms

from alforge.data import labelled
from alforge.errors import ModelError, ModelInputError
from alforge.models.base import Potential
from alforge.models.common.calibration import calibration_factor
from alforge.models.fit_report import FitReport
from alforge.models.prediction import Prediction

__all__ = ["CommitteePotential"]

_MIN_OUT_OF_BAG = 5


class CommitteePotential(Potential):
    """Mean and calibrated spread of ``K`` member potentials.

    Parameters
    ----------
    n_members
        Committee size ``K`` (at least 2).
    member_kind
        Registry kind of the default members (``"gp"``).
    member_options
        Keyword options of the default members (e.g. ``{"kernel": "rbf"}``).
    member_factory
        Callable ``index -> Potential`` building unfitted members (overrides ``member_kind``);
        use it to plug in other regressors.
    share_hyperparameters
        Fit the first member's hyperparameters and reuse them for the others (members must
        offer ``set_hyperparameters``, as GPs do).
    calibrate
        Fit the calibration factor on out-of-bag structures (else ``α = 1``).
    seed
        Seed of the resampling.
    """

    kind: ClassVar[str] = "committee"

    def __init__(
        self,
        n_members: int = 4,
        *,
        member_kind: str = "gp",
        member_options: dict[str, Any] | None = None,
        member_factory: Callable[[int], Potential] | None = None,
        share_hyperparameters: bool = True,
        calibrate: bool = True,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if n_members < 2:
            msg = f"a committee needs at least 2 members, got n_members={n_members}"
            raise ModelError(msg)
        self.n_members = n_members
        self.member_kind = member_kind
        self.member_options = dict(member_options or {})
        self.member_factory = member_factory
        self.share_hyperparameters = share_hyperparameters
        self.calibrate = calibrate
        self.seed = seed
        self.members: list[Potential] = []
        self.calibration = 1.0
        self.fixed_member_hyperparameters: list[dict[str, Any]] | None = None
        self.fixed_calibration: float | None = None

    def set_hyperparameters(self, hyperparameters: dict[str, Any]) -> None:
        """Fix every member's hyperparameters and the calibration (as :attr:`hyperparameters` returns them).

        ``hyperparameters`` is a committee's ``{"n_members", "calibration", "members": [...]}`` (the
        committee size becomes the number of members), or one member's hyperparameters, shared by all.

        Raises
        ------
        ModelError
            Members' hyperparameters that are not a list of dicts, or fewer than 2 of them.
        """
        members = hyperparameters.get("members")
        if members is None:
            self.fixed_member_hyperparameters = [dict(hyperparameters)] * self.n_members
            self.fixed_calibration = None
            return
        if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, dict) for m in members):
            msg = "committee hyperparameters need `members`, a list of at least 2 members' .hyperparameters"
            raise ModelError(msg)
        self.n_members = len(members)
        self.fixed_member_hyperparameters = [dict(m) for m in members]
        calibration = hyperparameters.get("calibration")
        self.fixed_calibration = None if calibration is None else float(calibration)

    @classmethod
    def from_members(cls, members: Sequence[Potential], calibration: float = 1.0) -> Self:
        """A committee of already fitted members of one molecule and one level of theory.

        Raises
        ------
        ModelInputError
            Fewer than 2 members, unfitted members, different molecules or levels of theory.
        """
        if len(members) < 2:
            msg = f"a committee needs at least 2 members, got {len(members)}"
            raise ModelInputError(msg)
        first = members[0]
        if first.numbers is None:
            msg = "member 0 is not fitted; fit every member before combining them"
            raise ModelInputError(msg)
        for i, member in enumerate(members[1:], start=1):
            if member.numbers is None or not np.array_equal(member.numbers, first.numbers):
                msg = f"member {i} is not fitted on the same molecule as member 0; combine models of one molecule"
                raise ModelInputError(msg)
            first.check_level(member)
        committee = cls(n_members=len(members))
        committee.members = list(members)
        committee.numbers = np.asarray(first.numbers).copy()
        committee.level_of_theory = first.level_of_theory
        committee._training_level_hash = first.level_hash
        committee.calibration = float(calibration)
        return committee

    def _new_member(self, index: int) -> Potential:
        if self.member_factory is not None:
            return self.member_factory(index)
        from alforge.models.registry import build_model

        options = dict(self.member_options)
        if self.member_kind == "gp":
            options.setdefault("seed", self.seed + index)
            options.setdefault("calibrate", False)  # the committee calibrates its spread instead
        return build_model(self.member_kind, **options)

    def _fit(
        self,
        numbers: np.ndarray,
        positions_A: np.ndarray,
        energies_eV: np.ndarray,
        forces_eV_per_A: np.ndarray,
        frames: Sequence[Atoms],
    ) -> FitReport:
        n_structures = len(frames)
        rng = np.random.default_rng(self.seed)
        samples = [np.unique(rng.integers(0, n_structures, size=n_structures)) for _ in range(self.n_members)]
        # the members read the labels already checked here, wherever the caller stored them
        checked = [labelled(f, e, fr) for f, e, fr in zip(frames, energies_eV, forces_eV_per_A, strict=True)]
        fixed = self.fixed_member_hyperparameters
        members: list[Potential] = []
        for index, sample in enumerate(samples):
            member = self._new_member(index)
            if fixed is not None:
                _set_member_hyperparameters(member, fixed[index], index)
            elif self.share_hyperparameters and members and hasattr(member, "set_hyperparameters"):
                _set_member_hyperparameters(member, members[0].hyperparameters, index)
            member.level_of_theory = self.level_of_theory
            member.fit([checked[i] for i in sample])
            members.append(member)
        self.members = members
        self.numbers = np.asarray(numbers).copy()
        self.calibration = 1.0
        notes: list[str] = []
        if self.fixed_calibration is not None:
            self.calibration = self.fixed_calibration
            notes.append(f"calibration α = {self.calibration:.3g} as given")
        elif self.calibrate:
            notes.append(self._calibrate(positions_A, forces_eV_per_A, samples))
        return FitReport(
            kind=self.kind,
            n_structures=n_structures,
            n_atoms=positions_A.shape[1],
            solver="committee",
            fit_time_s=0.0,
            hyperparameters=self.hyperparameters,
            n_rows=sum(m.fit_report.n_rows for m in members if m.fit_report),
            variance="committee spread",
            notes=notes,
            members=[m.fit_report for m in members if m.fit_report],
        )

    def _calibrate(self, positions_A: np.ndarray, forces: np.ndarray, samples: list[np.ndarray]) -> str:
        n_structures = positions_A.shape[0]
        in_bag = np.zeros((self.n_members, n_structures), dtype=bool)
        for index, sample in enumerate(samples):
            in_bag[index, sample] = True
        out_of_bag = np.flatnonzero((~in_bag).any(0))
        if out_of_bag.size < _MIN_OUT_OF_BAG:
            return f"calibration skipped: only {out_of_bag.size} out-of-bag structures (α = 1)"
        predictions = np.stack(
            [m.predict_positions(positions_A[out_of_bag], with_std=False).forces_eV_per_A for m in self.members]
        )
        mask = (~in_bag[:, out_of_bag])[..., None, None]
        oob_mean = (predictions * mask).sum(0) / mask.sum(0)
        error2 = float(((oob_mean - forces[out_of_bag]) ** 2).mean())
        spread2 = float(predictions.var(0, ddof=1).mean())
        alpha = calibration_factor(error2, spread2)
        if alpha is None:
            return "calibration skipped: the members agree exactly (α = 1)"
        self.calibration = alpha
        return f"calibration α = {self.calibration:.3g} from {out_of_bag.size} out-of-bag structures"

    def _require_members(self) -> list[Potential]:
        self._require_fitted()
        if not self.members:
            msg = "the committee has no members; fit it first"
            raise ModelError(msg)
        return self.members

    def predict_positions(self, positions_A: np.ndarray, *, with_std: bool = True) -> Prediction:
        """Mean of the members; std = ``α`` × spread across members (see the module docstring)."""
        members = self._require_members()
        predictions = [m.predict_positions(positions_A, with_std=False) for m in members]
        energies = np.stack([p.energy_eV for p in predictions])
        forces = np.stack([p.forces_eV_per_A for p in predictions])
        energy_std = self.calibration * energies.std(0, ddof=1)
        forces_std = self.calibration * np.sqrt(forces.var(0, ddof=1).mean(-1))
        if not with_std:
            energy_std, forces_std = np.zeros_like(energy_std), np.zeros_like(forces_std)
        return Prediction(energies.mean(0), forces.mean(0), energy_std, forces_std)

    def descriptor(self, frames: Sequence[Atoms]) -> np.ndarray:
        """The first member's descriptor, shape ``(n, d)``."""
        return self._require_members()[0].descriptor(frames)

    @property
    def force_noise_eV_per_A(self) -> float:
        """Mean fitted force noise of the members in eV/Å."""
        return float(np.mean([m.force_noise_eV_per_A for m in self._require_members()]))

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """Committee size, calibration factor and the members' hyperparameters."""
        members = self._require_members()
        return {
            "n_members": len(members),
            "calibration": self.calibration,
            "members": [m.hyperparameters for m in members],
        }

    def _state(self) -> dict[str, Any]:
        members = self._require_members()
        return {
            "options": {
                "member_kind": self.member_kind,
                "member_options": self.member_options,
                "share_hyperparameters": self.share_hyperparameters,
                "calibrate": self.calibrate,
                "seed": self.seed,
            },
            "calibration": self.calibration,
            "members": [{"kind": m.kind, "state": m.full_state()} for m in members],
        }

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Self:
        from alforge.models.registry import model_class

        try:
            members = [model_class(m["kind"]).from_full_state(m["state"]) for m in state["members"]]
            committee = cls(n_members=len(members), **state["options"])
            committee.members = members
            committee.calibration = float(state["calibration"])
        except (KeyError, TypeError) as exc:
            msg = f"the committee state is incomplete ({exc!r}); the file is corrupt or from another version, refit"
            raise ModelError(msg) from exc
        return committee


def _set_member_hyperparameters(member: Potential, hyperparameters: dict[str, Any], index: int) -> None:
    setter = getattr(member, "set_hyperparameters", None)
    if setter is None:
        msg = (
            f"member {index} ({type(member).__name__}) cannot take fixed hyperparameters; "
            "use members with set_hyperparameters or share_hyperparameters=False"
        )
        raise ModelError(msg)
    setter(hyperparameters)
