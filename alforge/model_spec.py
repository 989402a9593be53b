"""The ``[model]`` section of a campaign spec: one pydantic class per model kind.

``kind`` picks the class (``gp``, ``committee`` or ``local``; default ``gp``); each class
validates its own ``options`` and ``hyperparameters`` and builds its unfitted
:class:`~alforge.models.base.Potential` with :meth:`build`. This module imports pydantic only:
the model stack (PyTorch) is imported when a model is built, so loading a spec stays fast.

``hyperparameters = "fit"`` searches them by marginal likelihood; a table (a fitted model's
``.hyperparameters``, pasted as is) fixes them, and fitting on the same data gives the same model.

Example
-------
>>> spec = parse_model_spec({"kind": "local", "options": {"pair_cutoff_A": 8.5}})
>>> spec.options.pair_cutoff_A
8.5
>>> parse_model_spec({"kind": "committee", "committee_size": 8}).options.n_members
8
>>> with_settings(spec, ["n_pair_inducing=32"]).options.n_pair_inducing
32
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from alforge.errors import SpecError

if TYPE_CHECKING:
    from alforge.models.base import Potential

__all__ = [
    "CommitteeModelSpec",
    "CommitteeOptions",
    "GPModelSpec",
    "GPOptions",
    "LocalModelSpec",
    "LocalOptions",
    "ModelSpec",
    "load_model_spec",
    "parse_model_spec",
    "with_settings",
]

_GP_HYPERPARAMETERS = frozenset(
    {"lengthscale_per_A", "signal_variance_eV2", "energy_noise_eV", "force_noise_eV_per_A"}
)
_GP_HYPERPARAMETERS_INFO = frozenset({"kernel", "prior_mean_eV", "n_symmetries", "calibration"})
_LOCAL_HYPERPARAMETERS = frozenset(
    {"pair_lengthscale_A", "pair_signal_variance_eV2", "energy_noise_per_atom_eV", "force_noise_eV_per_A"}
)
_LOCAL_HYPERPARAMETERS_INFO = frozenset(
    {
        "triplet_lengthscale_A",
        "triplet_signal_variance_eV2",
        "pair_cutoff_A",
        "triplet_cutoff_A",
        "n_inducing",
        "element_offsets_eV",
    }
)
# Keys that every kind accepted before the kinds had their own classes; a stored spec carries
# them with these defaults, so a resumed campaign still loads.
_LEGACY_DEFAULTS = {"committee_size": 4, "kernel": "matern52"}


def _check_keys(data: Any, allowed: set[str] | frozenset[str], what: str) -> None:
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
        _check_keys(data, set(cls.model_fields), cls.what)
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


class _ModelSpecBase(BaseModel):
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
        _check_keys(data, set(cls.model_fields), f"{cls.model_fields['kind'].default} [model] key")
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


def _check_hyperparameters(
    values: dict[str, Any], required: frozenset[str], informative: frozenset[str], kind: str
) -> None:
    missing = sorted(required - set(values))
    if missing:
        msg = (
            f"hyperparameters of a {kind} model lack {', '.join(missing)}; paste a fitted {kind} model's "
            'complete .hyperparameters or use "fit"'
        )
        raise ValueError(msg)
    _check_keys(values, required | informative, f"{kind} hyperparameter")


class GPModelSpec(_ModelSpecBase):
    """A symmetrised gradient-domain GP of one molecule."""

    kind: Literal["gp"] = "gp"
    kernel: Literal["matern52", "rbf"] = "matern52"
    options: GPOptions = Field(default_factory=GPOptions)
    legacy: ClassVar[frozenset[str]] = frozenset({"committee_size"})

    @model_validator(mode="after")
    def _hyperparameters(self) -> GPModelSpec:
        if isinstance(self.hyperparameters, dict):
            _check_hyperparameters(self.hyperparameters, _GP_HYPERPARAMETERS, _GP_HYPERPARAMETERS_INFO, "gp")
            _adopt_kernel(self, self.hyperparameters)
        return self

    def build(self, device: str = "auto", dtype: str = "float64", seed: int = 0) -> Potential:
        """A new, unfitted :class:`~alforge.models.gdml.gp_potential.GPPotential` (see :meth:`_ModelSpecBase.build`)."""
        from alforge.models.gdml.gp_potential import GPPotential

        model = GPPotential(self.kernel, device=device, dtype=dtype, seed=seed, **self.options.potential_options())
        if isinstance(self.hyperparameters, dict):
            model.set_hyperparameters(self.hyperparameters)
        return model


class CommitteeModelSpec(_ModelSpecBase):
    """A committee of GPs on bootstrap resamples; ``committee_size`` is kept as ``options.n_members``."""

    kind: Literal["committee"] = "committee"
    kernel: Literal["matern52", "rbf"] = "matern52"
    options: CommitteeOptions = Field(default_factory=CommitteeOptions)

    @classmethod
    def _legacy_keys(cls, data: dict[str, Any]) -> dict[str, Any]:
        if "committee_size" not in data:
            return data
        size = data.pop("committee_size")
        options = dict(data.get("options") or {})
        if options.setdefault("n_members", size) != size:
            msg = f"committee_size={size} and options.n_members={options['n_members']} disagree; give one of them"
            raise ValueError(msg)
        data["options"] = options
        return data

    @model_validator(mode="after")
    def _hyperparameters(self) -> CommitteeModelSpec:
        hyper = self.hyperparameters
        if not isinstance(hyper, dict):
            return self
        _check_keys(hyper, {"n_members", "calibration", "members"}, "committee hyperparameter")
        members = hyper.get("members")
        if not isinstance(members, list) or not members:
            msg = "committee hyperparameters need `members`, a list of the members' GP hyperparameters"
            raise ValueError(msg)
        self.options.__dict__["n_members"] = len(members)
        for member in members:
            if not isinstance(member, dict):
                msg = "every entry of committee hyperparameters `members` must be a GP's .hyperparameters table"
                raise ValueError(msg)
            _check_hyperparameters(member, _GP_HYPERPARAMETERS, _GP_HYPERPARAMETERS_INFO, "gp")
        _adopt_kernel(self, members[0])
        return self

    def build(self, device: str = "auto", dtype: str = "float64", seed: int = 0) -> Potential:
        """A new, unfitted :class:`~alforge.models.committee.committee_potential.CommitteePotential` of GP members."""
        from alforge.models.committee.committee_potential import CommitteePotential

        options = self.options.potential_options()
        n_members = options.pop("n_members")
        share = options.pop("share_hyperparameters")
        calibrate = options.pop("calibrate")
        member_options = {"kernel": self.kernel, "device": device, "dtype": dtype, **options}
        committee = CommitteePotential(
            n_members,
            member_options=member_options,
            share_hyperparameters=share,
            calibrate=calibrate,
            seed=seed,
        )
        if isinstance(self.hyperparameters, dict):
            committee.set_hyperparameters(self.hyperparameters)
        return committee


class LocalModelSpec(_ModelSpecBase):
    """A sparse two- and three-body local GP (any atom count, periodic cells)."""

    kind: Literal["local"] = "local"
    options: LocalOptions = Field(default_factory=LocalOptions)
    legacy: ClassVar[frozenset[str]] = frozenset({"committee_size", "kernel"})

    @model_validator(mode="after")
    def _hyperparameters(self) -> LocalModelSpec:
        if isinstance(self.hyperparameters, dict):
            _check_hyperparameters(
                self.hyperparameters, _LOCAL_HYPERPARAMETERS, _LOCAL_HYPERPARAMETERS_INFO, "local"
            )
        return self

    def build(self, device: str = "auto", dtype: str = "float64", seed: int = 0) -> Potential:
        """A new, unfitted :class:`~alforge.models.local.local_gp_potential.LocalGPPotential`."""
        from alforge.models.local.local_gp_potential import LocalGPPotential

        options = self.options.model_dump()
        hyper = self.hyperparameters
        if isinstance(hyper, dict):
            for key in ("pair_cutoff_A", "triplet_cutoff_A"):
                if hyper.get(key) is not None:
                    options[key] = hyper[key]
            options.update(optimize=False, hyperparameters=hyper)
            return LocalGPPotential(**options, device=device, dtype=dtype, seed=seed)
        return LocalGPPotential(**options, device=device, dtype=dtype, seed=seed)


def _adopt_kernel(spec: GPModelSpec | CommitteeModelSpec, hyper: dict[str, Any]) -> None:
    """Take the kernel of pasted hyperparameters unless the section names another one."""
    kernel = hyper.get("kernel")
    if kernel is None or kernel == spec.kernel:
        return
    if "kernel" in spec.model_fields_set:
        msg = f"kernel={spec.kernel!r} but the hyperparameters are of a {kernel!r} kernel; give one kernel"
        raise ValueError(msg)
    spec.__dict__["kernel"] = kernel


def _kind_of(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("kind", "gp"))
    return str(getattr(value, "kind", "gp"))


ModelSpec = Annotated[
    Annotated[GPModelSpec, Tag("gp")]
    | Annotated[CommitteeModelSpec, Tag("committee")]
    | Annotated[LocalModelSpec, Tag("local")],
    Discriminator(
        _kind_of,
        custom_error_type="model_kind",
        custom_error_message="unknown model kind; use gp, committee or local",
    ),
]
"""The ``[model]`` section: a :class:`GPModelSpec`, :class:`CommitteeModelSpec` or :class:`LocalModelSpec`."""

_ADAPTER: TypeAdapter[Any] = TypeAdapter(ModelSpec)
_KINDS = ("gp", "committee", "local")


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"] if part not in _KINDS)
    message = error["msg"].removeprefix("Value error, ")
    if error["type"] == "model_kind":
        message = f"{message} (got {error['input'].get('kind')!r})" if isinstance(error["input"], dict) else message
    elif error["type"] not in ("value_error",) and not isinstance(error.get("input"), dict):
        message = f"{message} (got {error.get('input')!r})"
    return f"model{'.' + where if where else ''}: {message}"


def parse_model_spec(data: dict[str, Any]) -> GPModelSpec | CommitteeModelSpec | LocalModelSpec:
    """Validate a ``[model]`` table.

    Raises
    ------
    SpecError
        One line naming the bad key, e.g. ``model.options: unknown local option 'cutoff'; valid choices: ...``.
    """
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise SpecError(_describe(exc)) from None


def load_model_spec(path: str | Path) -> GPModelSpec | CommitteeModelSpec | LocalModelSpec:
    """Read the ``[model]`` section of a TOML file (a campaign spec or a file holding only that section)."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such model file; give a TOML file with a [model] section"
        raise SpecError(msg)
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid TOML ({exc}); fix the syntax"
        raise SpecError(msg) from None
    if not isinstance(data.get("model"), dict):
        msg = f"{path}: has no [model] section; write the model as in a campaign spec ([model] kind = ...)"
        raise SpecError(msg)
    try:
        return parse_model_spec(data["model"])
    except SpecError as exc:
        msg = f"{path}: {exc}"
        raise SpecError(msg) from None


def _typed(text: str) -> Any:
    """A ``--set`` value as TOML reads it (``8.5``, ``true``, ``[1, 2]``), else the plain string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def with_settings(
    spec: GPModelSpec | CommitteeModelSpec | LocalModelSpec, settings: list[str]
) -> GPModelSpec | CommitteeModelSpec | LocalModelSpec:
    """``spec`` with ``KEY=VALUE`` settings (the section's keys or its options), validated.

    Raises
    ------
    SpecError
        A setting without ``=``, an unknown key (the message lists the valid ones) or a bad value.
    """
    data = spec.model_dump(exclude_unset=True)
    options = dict(data.get("options") or {})
    names = spec.option_names
    own = set(type(spec).model_fields)
    for setting in settings:
        key, sep, text = setting.partition("=")
        key = key.strip()
        if not sep or not key:
            msg = f"--set {setting!r}: write KEY=VALUE, e.g. --set {names[0]}=..."
            raise SpecError(msg)
        if key not in names:
            msg = f"--set {key}: not an option of a {spec.kind} model; valid choices: {', '.join(names)}"
            raise SpecError(msg)
        if key in own:
            data[key] = _typed(text.strip())
        else:
            options[key] = _typed(text.strip())
    data["options"] = options
    data["kind"] = spec.kind
    return parse_model_spec(data)
