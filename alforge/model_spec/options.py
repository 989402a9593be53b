"""The ``options`` table of each model kind, checked by pydantic (an unknown option is refused)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["CommitteeOptions", "GPOptions", "LocalOptions", "check_keys"]


def check_keys(data: Any, allowed: set[str] | frozenset[str], what: str) -> None:
    """Refuse a key of the dict ``data`` outside ``allowed``, naming the valid ones."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            msg = f"unknown {what} {unknown[0]!r}; valid choices: {', '.join(sorted(allowed))}"
            raise ValueError(msg)


class _Options(BaseModel):
    """Options of one model kind; an unknown one is refused with the list of valid ones."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
    what: ClassVar[str] = "option"

    @model_validator(mode="before")
    @classmethod
    def _known(cls, data: Any) -> Any:
        check_keys(data, set(cls.model_fields), cls.what)
        return data


class GPOptions(_Options):
    """Options of :class:`~alforge.models.gdml.gp_potential.GPPotential` (see its docstring)."""

    what: ClassVar[str] = "gp option"

    symmetries: Literal["auto", "none"] = "auto"
    bond_scale: float = Field(default=1.2, gt=0)
    max_symmetries: int = Field(default=1000, ge=1)
    n_hyperparameter_structures: int = Field(default=40, ge=2)
    max_iterations: int = Field(default=10, ge=1)
    min_force_noise_eV_per_A: float = Field(default=1e-3, gt=0)
    min_energy_noise_eV: float = Field(default=1e-3, gt=0)
    solver: Literal["auto", "exact", "sparse"] = "auto"
    n_inducing: int | None = Field(default=None, ge=1)
    variance_rank: Literal["auto", "exact"] | Annotated[int, Field(ge=1)] = "auto"
    n_neighbours: int = Field(default=8, ge=0)
    calibrate: bool = True

    def potential_options(self) -> dict[str, Any]:
        """Keyword arguments of the potential (``variance_rank="exact"`` → ``None``)."""
        options = self.model_dump()
        if options["variance_rank"] == "exact":
            options["variance_rank"] = None
        return options


class CommitteeOptions(GPOptions):
    """Committee size and resampling, plus the options of its GP members.

    ``calibrate`` here fits the committee's calibration factor on out-of-bag structures (the
    members themselves are not calibrated).
    """

    what: ClassVar[str] = "committee option"

    n_members: int = Field(default=4, ge=2, le=32)
    share_hyperparameters: bool = True


class LocalOptions(_Options):
    """Options of :class:`~alforge.models.local.local_gp_potential.LocalGPPotential` (see its docstring).

    ``pair_cutoff_A`` unset: the cutoff is chosen from the data (held-out force error).
    """

    what: ClassVar[str] = "local option"

    three_body: bool = True
    pair_cutoff_A: float | None = Field(default=None, gt=0)
    triplet_cutoff_A: float | None = Field(default=None, gt=0)
    n_pair_inducing: int = Field(default=64, ge=2)
    n_triplet_inducing: int = Field(default=96, ge=1)
    n_hyperparameter_structures: int = Field(default=24, ge=1)
    max_iterations: int = Field(default=40, ge=1)
    min_energy_noise_eV: float = Field(default=1e-4, gt=0)
    min_force_noise_eV_per_A: float = Field(default=1e-4, gt=0)
    offset_prior_eV: float = Field(default=1.0, gt=0)
    batch_structures: int = Field(default=4, ge=1)
    threads: int | None = Field(default=1, ge=1)

    @model_validator(mode="after")
    def _triplet_within_pair(self) -> LocalOptions:
        pair, triplet = self.pair_cutoff_A, self.triplet_cutoff_A
        if pair is not None and triplet is not None and triplet > pair:
            msg = f"triplet_cutoff_A={triplet} exceeds pair_cutoff_A={pair}; make it at most the pair cutoff"
            raise ValueError(msg)
        return self
