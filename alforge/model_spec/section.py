"""What the ``[model]`` section of every kind shares: hyperparameters, warm starts, ``--set`` names."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from alforge.errors import SpecError
from alforge.model_spec.options import check_keys

if TYPE_CHECKING:
    from alforge.models.base import Potential

__all__ = ["ModelSpecBase", "check_hyperparameters"]

# Keys that every kind accepted before the kinds had their own classes; a stored spec carries
# them with these defaults, so a resumed campaign still loads.
_LEGACY_DEFAULTS = {"committee_size": 4, "kernel": "matern52"}


class ModelSpecBase(BaseModel):
    """The keys of every kind's section; a subclass per kind adds ``options`` and :meth:`build`."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    legacy: ClassVar[frozenset[str]] = frozenset()

    kind: str
    hyperparameters: Literal["fit"] | dict[str, Any] = Field(
        default="fit", description='"fit" (marginal likelihood) or a fitted model\'s .hyperparameters'
    )
    search_every: int = Field(
        default=3,
        ge=1,
        description="campaigns: full hyperparameter search every this many generations (and when the held-out "
        "error grows); in between the previous model's hyperparameters are reused",
    )

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = cls._legacy_keys(dict(data))
        check_keys(data, set(cls.model_fields), f"{cls.model_fields['kind'].default} [model] key")
        return data

    @classmethod
    def _legacy_keys(cls, data: dict[str, Any]) -> dict[str, Any]:
        for key in cls.legacy:
            if key in data and data[key] == _LEGACY_DEFAULTS[key]:
                del data[key]
        return data

    @property
    def option_names(self) -> list[str]:
        """Names ``--set`` accepts: the section's own keys and its options."""
        own = set(type(self).model_fields) - {"kind", "options", "hyperparameters", "search_every"}
        return sorted(own | set(type(self.options).model_fields))  # type: ignore[attr-defined]

    def with_hyperparameters(self, hyperparameters: dict[str, Any] | None) -> Self:
        """A copy with these hyperparameters fixed (``None``: unchanged), validated."""
        if hyperparameters is None:
            return self
        data = {**self.model_dump(exclude_unset=True), "kind": self.kind, "hyperparameters": hyperparameters}
        from alforge.model_spec.parsing import parse_model_spec  # the parser imports this module

        return parse_model_spec(data)  # type: ignore[return-value]

    def warm_start(
        self, previous: dict[str, Any] | None, generation: int, force_errors_eV_per_A: list[float]
    ) -> tuple[dict[str, Any] | None, str]:
        """Hyperparameters for a campaign's refit: the previous model's, or ``None`` for a full search.

        Parameters
        ----------
        previous
            ``.hyperparameters`` of the previous generation's model (``None``: there is none).
        generation
            Index of the generation being trained.
        force_errors_eV_per_A
            Held-out force MAEs of the finished generations, oldest first.

        Returns
        -------
        hyperparameters, reason
            What to fix (``None``: search) and why, for the model record.
        """
        if isinstance(self.hyperparameters, dict):
            return None, "hyperparameters fixed by the spec"
        if previous is None:
            return None, "full search: no previous model"
        if generation % self.search_every == 0:
            return None, f"full search: every {self.search_every} generations"
        if len(force_errors_eV_per_A) >= 2 and force_errors_eV_per_A[-1] > force_errors_eV_per_A[-2]:
            return None, (
                f"full search: held-out force MAE grew {force_errors_eV_per_A[-2]:.3g} → "
                f"{force_errors_eV_per_A[-1]:.3g} eV/Å"
            )
        reusable = self._reusable(previous)
        try:
            self.with_hyperparameters(reusable)
        except SpecError as exc:
            return None, f"full search: the previous hyperparameters do not fit this spec ({exc})"
        return reusable, "warm start from the previous model's hyperparameters"

    def _reusable(self, previous: dict[str, Any]) -> dict[str, Any]:
        """The previous hyperparameters less what must be refitted on new data (the calibration)."""
        return {k: v for k, v in previous.items() if k != "calibration"}

    def build(self, device: str = "auto", dtype: str = "float64", seed: int = 0) -> Potential:
        """A new, unfitted potential as this section describes.

        Parameters
        ----------
        device
            ``"auto"``, ``"cpu"`` or ``"cuda"`` (a campaign's ``compute.device``).
        dtype
            ``"float64"`` or ``"float32"`` (a campaign's ``compute.dtype``).
        seed
            Seed of the subsets, resampling and randomised factorisations.
        """
        raise NotImplementedError


def check_hyperparameters(
    values: dict[str, Any], required: frozenset[str], informative: frozenset[str], kind: str
) -> None:
    """Refuse pasted ``hyperparameters`` that lack a ``required`` key or have one outside both sets."""
    missing = sorted(required - set(values))
    if missing:
        msg = (
            f"hyperparameters of a {kind} model lack {', '.join(missing)}; paste a fitted {kind} model's "
            'complete .hyperparameters or use "fit"'
        )
        raise ValueError(msg)
    check_keys(values, required | informative, f"{kind} hyperparameter")
