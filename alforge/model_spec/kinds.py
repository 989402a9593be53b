"""One ``[model]`` section class per kind: ``gp``, ``committee`` and ``local``; each builds its potential."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import Field, model_validator

from alforge.model_spec.options import CommitteeOptions, GPOptions, LocalOptions, check_keys
from alforge.model_spec.section import ModelSpecBase, check_hyperparameters

if TYPE_CHECKING:
    from alforge.models.base import Potential

__all__ = ["CommitteeModelSpec", "GPModelSpec", "LocalModelSpec"]

_GP_HYPERPARAMETERS = frozenset({"lengthscale_per_A", "signal_variance_eV2", "energy_noise_eV", "force_noise_eV_per_A"})
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


class GPModelSpec(ModelSpecBase):
    """A symmetrised gradient-domain GP of one molecule."""

    kind: Literal["gp"] = "gp"
    kernel: Literal["matern52", "rbf"] = "matern52"
    options: GPOptions = Field(default_factory=GPOptions)
    legacy: ClassVar[frozenset[str]] = frozenset({"committee_size"})

    @model_validator(mode="after")
    def _hyperparameters(self) -> GPModelSpec:
        if isinstance(self.hyperparameters, dict):
            check_hyperparameters(self.hyperparameters, _GP_HYPERPARAMETERS, _GP_HYPERPARAMETERS_INFO, "gp")
            _adopt_kernel(self, self.hyperparameters)
        return self

    def build(self, device: str = "auto", dtype: str = "float64", seed: int = 0) -> Potential:
        """A new, unfitted :class:`~alforge.models.gdml.gp_potential.GPPotential` (see :meth:`ModelSpecBase.build`)."""
        from alforge.models.gdml.gp_potential import GPPotential

        model = GPPotential(self.kernel, device=device, dtype=dtype, seed=seed, **self.options.potential_options())
        if isinstance(self.hyperparameters, dict):
            model.set_hyperparameters(self.hyperparameters)
        return model


class CommitteeModelSpec(ModelSpecBase):
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
        check_keys(hyper, {"n_members", "calibration", "members"}, "committee hyperparameter")
        members = hyper.get("members")
        if not isinstance(members, list) or not members:
            msg = "committee hyperparameters need `members`, a list of the members' GP hyperparameters"
            raise ValueError(msg)
        self.options.__dict__["n_members"] = len(members)
        for member in members:
            if not isinstance(member, dict):
                msg = "every entry of committee hyperparameters `members` must be a GP's .hyperparameters table"
                raise ValueError(msg)
            check_hyperparameters(member, _GP_HYPERPARAMETERS, _GP_HYPERPARAMETERS_INFO, "gp")
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


class LocalModelSpec(ModelSpecBase):
    """A sparse two- and three-body local GP (any atom count, periodic cells)."""

    kind: Literal["local"] = "local"
    options: LocalOptions = Field(default_factory=LocalOptions)
    legacy: ClassVar[frozenset[str]] = frozenset({"committee_size", "kernel"})

    @model_validator(mode="after")
    def _hyperparameters(self) -> LocalModelSpec:
        if isinstance(self.hyperparameters, dict):
            check_hyperparameters(self.hyperparameters, _LOCAL_HYPERPARAMETERS, _LOCAL_HYPERPARAMETERS_INFO, "local")
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
