"""The campaign spec: everything a campaign needs, validated, loadable from TOML.

Unknown keys and impossible values are refused with the key's dotted name, e.g.
``SpecError: exploration.walkers: must be ≥ 1 (got 0)``.

Example
-------
>>> spec = CampaignSpec.model_validate({"name": "demo", "system": {"molecule": "H2O"}})
>>> spec.oracle.level_of_theory_key()["method"]
'HF'
>>> spec.exploration.walkers
2
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alforge.errors import SpecError
from alforge.model_spec import GPModelSpec, ModelSpec

__all__ = [
    "CampaignSpec",
    "ComputeSpec",
    "ExplorationSpec",
    "ModelSpec",
    "OracleSpec",
    "SelectionSpec",
    "StoppingSpec",
    "SystemSpec",
    "ValidationSpec",
    "load_spec",
]


STRUCTURE_SUFFIXES = frozenset({".xyz", ".extxyz", ".traj", ".pdb", ".cif", ".xsf", ".vasp", ".json"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class SystemSpec(_Section):
    """What to simulate: start structures (file or ASE molecule name), charge and spin."""

    structures: Path | None = Field(default=None, description="extxyz/xyz file of start structures")
    molecule: str | None = Field(default=None, description="ASE molecule name, e.g. H2O, CH3CH2OH")
    charge: int = 0
    spin: int = Field(default=0, ge=0, description="unpaired electrons (2S)")
    seed_structures: int = Field(
        default=4, ge=1, le=1000, description="structures labelled first: the start structures, then rattled conformers"
    )
    rattle_A: float = Field(default=0.04, ge=0.0, le=0.5, description="std of the seed rattle (Å)")
    seed_conformers: bool = Field(
        default=True,
        description="seeds beyond the start structures are conformers of them (every rotatable single bond turned "
        "by a random angle) before their rattle, and the first walkers start from them too; a molecule without a "
        "rotatable bond (water) gets rattled copies either way",
    )

    @field_validator("structures")
    @classmethod
    def _structure_file(cls, value: Path | None) -> Path | None:
        if value is not None and value.suffix.lower() not in STRUCTURE_SUFFIXES:
            msg = (
                f"{value.name!r} is not a structure file; use one of {', '.join(sorted(STRUCTURE_SUFFIXES))}"
            )
            raise ValueError(msg)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SystemSpec:
        if (self.structures is None) == (self.molecule is None):
            msg = "give exactly one of system.structures (a file) or system.molecule (an ASE name)"
            raise ValueError(msg)
        if self.molecule is not None:
            from ase.collections import g2

            if self.molecule not in g2.names:
                msg = f"system.molecule {self.molecule!r} is not an ASE molecule name (e.g. H2O, CH3CH2OH)"
                raise ValueError(msg)
        return self


class OracleSpec(_Section):
    """The reference: oracle name and settings. Together these fix the level of theory."""

    name: str = "pyscf"
    method: str = "HF"
    basis: str | None = "sto-3g"
    density_fit: bool = False
    dispersion: str | None = None
    conv_tol: float = Field(default=1e-9, gt=0, lt=1e-3)
    max_cycle: int = Field(default=100, ge=1)
    threads: int = Field(default=1, ge=1)
    wall_time_s: float = Field(default=600.0, gt=0)
    options: dict[str, Any] = Field(default_factory=dict, description="extra oracle keyword arguments")

    def level_of_theory_key(self) -> dict[str, Any]:
        """The settings that change the numbers (compared on resume)."""
        return {
            "name": self.name,
            "method": self.method,
            "basis": self.basis,
            "density_fit": self.density_fit,
            "dispersion": self.dispersion,
            "conv_tol": self.conv_tol,
            "options": self.options,
        }


class ExplorationSpec(_Section):
    """MD walkers on the current model."""

    walkers: int = Field(default=2, ge=1, le=256)
    temperatures_K: list[Annotated[float, Field(gt=0, le=10_000)]] = Field(default_factory=lambda: [300.0])
    timestep_fs: float = Field(default=0.5, gt=0, le=10)
    steps: int = Field(default=400, ge=1, le=10_000_000)
    thermostat: Literal["langevin", "nve", "berendsen"] = "langevin"
    friction_per_fs: float = Field(default=0.02, gt=0, le=1)
    check_interval: int = Field(
        default=1, ge=1,
        description="MD steps between two readings of the uncertainty (the largest per-atom force std): the "
        "trust window, the confident time and the candidates are judged there, and in between the walker's "
        "calculator computes no std. Every 5th step runs the walkers about 3x faster; in two benchmark runs "
        "ethanol's uncertainty arm learned alike but its random-selection arm worse (0.062 and 0.047 against "
        "0.040-0.044 eV/A at 112 labels), so the default stays every step, what the benchmarks validate",
    )
    rewind_after: int = Field(
        default=25, ge=0,
        description="MD steps beyond the trust window (counted at consecutive checks) after which a walker goes "
        "back to its last confident frame (1: at once; 0: never, it runs on as DP-GEN's do); see the README for "
        "what each measured",
    )
    min_distance_A: float = Field(default=0.5, gt=0, le=3)
    max_force_eV_per_A: float = Field(default=50.0, gt=0)
    sampled_frames: int = Field(
        default=8, ge=0, le=1000, description="frames kept per walker, evenly spaced in time (held-out, random arm)"
    )
    max_candidates: int = Field(
        default=16, ge=1, le=10_000, description="uncertain frames kept per walker (the peak of each excursion)"
    )
    start: Literal["continue", "labelled", "initial"] = Field(
        default="continue",
        description="continue: each walker resumes where it ended in the last generation (positions and "
        "velocities); labelled: a seeded draw of the start and labelled structures; initial: the start structures",
    )

    @field_validator("temperatures_K")
    @classmethod
    def _non_empty(cls, value: list[float]) -> list[float]:
        if not value:
            msg = "give at least one temperature"
            raise ValueError(msg)
        return value


class SelectionSpec(_Section):
    """Which explored frames go to the oracle."""

    method: Literal["uncertainty", "random"] = "uncertainty"
    threshold_eV_per_A: float | None = Field(
        default=None, gt=0, description="expert override: absolute largest per-atom force-std threshold"
    )
    threshold_relative: float | None = Field(
        default=None, gt=0, description="expert override: threshold as a multiple of the fitted force noise"
    )
    upper_factor: float = Field(
        default=3.0, gt=1, le=100,
        description="trust window: frames above upper_factor × threshold are beyond it (the walker rewinds)",
    )
    max_labels: int = Field(default=4, ge=1, le=10_000, description="labels per generation")
    diversity: Literal["fps", "none"] = "fps"

    @model_validator(mode="after")
    def _one_threshold(self) -> SelectionSpec:
        if self.threshold_eV_per_A is not None:
            self.__dict__["threshold_relative"] = None
        return self


class ValidationSpec(_Section):
    """Held-out frames: randomly chosen explored frames labelled each generation."""

    labels_per_generation: int = Field(
        default=4, ge=0, le=1000,
        description="held-out labels drawn each generation; the error the verdict states rests on them "
        "(they join the training set later, see retire_to_training)",
    )
    confirm_labels: int = Field(
        default=40, ge=0, le=1000,
        description="held-out labels drawn in a generation that would confirm convergence (the criterion held "
        "in the one before), so the error a converged campaign states rests on more frames; "
        "the larger of this and labels_per_generation (0: no larger draw); the label budget also keeps "
        "this many (at most a quarter of stopping.max_labels) for the last generation's verdict",
    )
    confirm_steps_factor: int = Field(
        default=16, ge=1, le=100,
        description="a generation that would confirm convergence runs its walkers this many times "
        "exploration.steps, so that the error it states averages over more simulated time (1: as usual); "
        "the stated error speaks for that MD, so give each temperature enough of it to see the rare large "
        "errors (water at 600 K: about 10 ps, benchmarks/verdict_md.py)",
    )
    window_generations: int = Field(
        default=1, ge=1, le=1000,
        description="the held-out error is scored on the labels of the last N generations (1: the model's own MD)",
    )
    retire_to_training: bool = Field(
        default=True,
        description="held-out labels join the training set once no verdict reads them any more "
        "(window_generations generations later), so that no oracle call is spent on validation alone",
    )


class StoppingSpec(_Section):
    """When the campaign ends."""

    max_labels: int = Field(default=100, ge=1)
    max_generations: int = Field(default=10, ge=1)
    target_force_mae_eV_per_A: float | None = Field(default=0.1, gt=0)
    confident_fraction: float = Field(
        default=0.95, gt=0, le=1, description="share of budgeted MD steps that must be confident"
    )
    confirm_generations: int = Field(
        default=2, ge=1, le=10, description="the criterion must hold in this many consecutive generations"
    )
    max_quarantine_fraction: float = Field(default=0.5, gt=0, le=1)
    converge_on: Literal["estimate", "upper"] = Field(
        default="estimate",
        description="which force error must be within the target: the estimate the verdict states, or the "
        "upper end of its 90 % bootstrap interval over the held-out frames ('upper': converged only when the "
        "target holds even at that end; more labels, fewer campaigns converged on a lucky draw)",
    )


class ComputeSpec(_Section):
    """Where the work runs."""

    oracle_workers: int = Field(default=2, ge=1, le=1024)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    dtype: Literal["float64", "float32"] = "float64"
    task_runner: Literal["threads", "dask"] = "threads"
    dask_address: str | None = None
    dask_cluster: str | None = Field(default=None, description="e.g. dask_jobqueue.SLURMCluster")
    dask_cluster_kwargs: dict[str, Any] = Field(default_factory=dict)
    dask_workers: int = Field(default=2, ge=1)
    max_oracle_jobs: int | None = Field(
        default=None, ge=1, description="global cap on oracle jobs across all campaigns (Prefect limit)"
    )


class CampaignSpec(BaseModel):
    """A whole campaign. Load one with :meth:`from_toml` or :func:`load_spec`."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
    seed: int = 0
    system: SystemSpec
    oracle: OracleSpec = Field(default_factory=OracleSpec)
    model: ModelSpec = Field(default_factory=GPModelSpec)
    exploration: ExplorationSpec = Field(default_factory=ExplorationSpec)
    selection: SelectionSpec = Field(default_factory=SelectionSpec)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    stopping: StoppingSpec = Field(default_factory=StoppingSpec)
    compute: ComputeSpec = Field(default_factory=ComputeSpec)
    schedule: str | None = Field(default=None, description="cron schedule for `alforge serve`")

    @model_validator(mode="after")
    def _threshold_source(self) -> CampaignSpec:
        s, target = self.selection, self.stopping.target_force_mae_eV_per_A
        if s.threshold_eV_per_A is None and s.threshold_relative is None and target is None:
            msg = (
                "no uncertainty threshold: give stopping.target_force_mae_eV_per_A (the threshold is derived "
                "from it) or set selection.threshold_eV_per_A"
            )
            raise ValueError(msg)
        return self

    @classmethod
    def from_toml(cls, path: str | Path) -> CampaignSpec:
        """Read and validate a TOML spec; relative structure paths are resolved against its folder."""
        return load_spec(path)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, base: Path | None = None) -> CampaignSpec:
        """Validate a plain dict, raising :class:`SpecError` naming the first bad key."""
        try:
            spec = cls.model_validate(data)
        except ValidationError as exc:
            raise SpecError(_describe(exc)) from None
        if base is not None and spec.system.structures is not None and not spec.system.structures.is_absolute():
            spec.system.structures = (base / spec.system.structures).resolve()
        return spec

    def to_json_dict(self) -> dict[str, Any]:
        """JSON-ready dict (paths as strings), as stored in the database and sent to Prefect."""
        return self.model_dump(mode="json")


def _describe(exc: ValidationError) -> str:
    error = exc.errors()[0]
    parts = [str(part) for part in error["loc"]]
    where = ".".join(parts) or "spec"
    message = error["msg"].removeprefix("Value error, ")
    odd = next((part for part in parts if not part or not part.isprintable() or "`" in part), None)
    if odd is not None:  # a key that cannot be shown between backticks on one line
        parent = ".".join(parts[: parts.index(odd)]) or "spec"
        return f"spec: `{parent}` has an invalid key {odd!r}; remove it (keys are documented names)"
    if error["type"] == "extra_forbidden":
        return f"spec: unknown key `{where}`; check its spelling against the documented keys"
    if error["type"] == "missing":
        return f"spec: `{where}` is required"
    value = error.get("input")
    shown = "" if isinstance(value, dict) else f" (got {value!r})"
    more = f" [+{len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
    return f"spec: `{where}`: {message}{shown}{more}"


def load_spec(path: str | Path) -> CampaignSpec:
    """Read a TOML (or JSON, by suffix) campaign spec; errors name the file and the key."""
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such spec file; give the path of a campaign TOML file"
        raise SpecError(msg)
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        msg = f"{path}: not valid {kind} ({exc}); fix the syntax"
        raise SpecError(msg) from None
    try:
        return CampaignSpec.from_dict(data, base=path.parent.resolve())
    except SpecError as exc:
        msg = f"{path}: {exc}"
        raise SpecError(msg) from None
