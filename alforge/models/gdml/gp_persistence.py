"""What a saved :class:`~alforge.models.gdml.gp_potential.GPPotential` holds, and how it is rebuilt.

The state holds tensors, numbers and strings only (see :mod:`~alforge.models.model_file`); the
hyperparameters are stored as :attr:`GPPotential.hyperparameters` gives them, the noise as its raw
parameters so that a noise fitted onto its floor comes back bit for bit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

import torch

from alforge.errors import ModelError

if TYPE_CHECKING:
    from alforge.models.gdml.gp_potential import GPPotential

__all__ = ["gp_from_state", "gp_state"]

GPT = TypeVar("GPT", bound="GPPotential")


def gp_state(model: GPPotential) -> dict[str, Any]:
    """The state :meth:`GPPotential.save` writes: options, hyperparameters, noise, centres, weights, factors."""
    posterior = model._require_posterior()
    hyper = model.hyperparameters
    if model.noise is None:  # pragma: no cover - a posterior implies a fitted noise module
        msg = "the GP has no noise module; fit it first"
        raise ModelError(msg)
    return {
        "options": {
            "kernel": model.kernel_name,
            "bond_scale": model.bond_scale,
            "max_symmetries": model.max_symmetries,
            "n_hyperparameter_structures": model.n_hyperparameter_structures,
            "max_iterations": model.max_iterations,
            "min_force_noise_eV_per_A": model.min_force_noise_eV_per_A,
            "min_energy_noise_eV": model.min_energy_noise_eV,
            "solver": model.solver,
            "n_inducing": model.n_inducing,
            "variance_rank": model.variance_rank,
            "n_neighbours": model.n_neighbours,
            "calibrate": model.calibrate,
            "dtype": str(model.dtype).removeprefix("torch."),
            "seed": model.seed,
        },
        "descriptor": {"name": "inverse_distance", "n_atoms": int(posterior.descriptor.n_atoms)},
        "permutations": torch.as_tensor(model.permutations),
        "hyperparameters": hyper,
        "noise_state": {k: v.cpu() for k, v in model.noise.state_dict().items()},
        "centres_A": posterior.centres_A.cpu(),
        "weights": posterior.weights.cpu(),
        "factor": None if posterior.factor is None else posterior.factor.cpu(),
        "local_basis": None if posterior.local_basis is None else posterior.local_basis.cpu(),
    }


def gp_from_state(cls: type[GPT], state: dict[str, Any]) -> GPT:
    """A fitted GP of class ``cls`` from :func:`gp_state`'s dict.

    Raises
    ------
    ModelError
        The state is incomplete.
    """
    try:
        options = dict(state["options"])
        hyper = state["hyperparameters"]
        model = cls(
            options.pop("kernel"),
            symmetries=state["permutations"].numpy(),
            optimize=False,
            lengthscale=hyper["lengthscale_per_A"],
            signal_variance_eV2=hyper["signal_variance_eV2"],
            energy_noise_eV=hyper["energy_noise_eV"],
            force_noise_eV_per_A=hyper["force_noise_eV_per_A"],
            device="auto",
            **options,
        )
        centres = state["centres_A"]
        model.permutations = state["permutations"].numpy()
        covar, noise = model._build_modules(int(state["descriptor"]["n_atoms"]))
        model._apply_fixed(covar, noise)
        # The raw noise parameters restore the fitted noise bit for bit; setting it through
        # the constrained property would clamp a value fitted onto its floor.
        noise.load_state_dict(state["noise_state"])
        noise.to(model.device, model.dtype)
        model.covar_module, model.noise = covar, noise
        model.prior_mean_eV = float(hyper["prior_mean_eV"])
        model.calibration = float(hyper.get("calibration", 1.0))
        model.posterior = model._make_posterior(
            centres.numpy(), state["weights"], state["factor"], state.get("local_basis")
        )
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        msg = f"the GP model state is incomplete ({exc!r}); the file is corrupt or from another version, refit"
        raise ModelError(msg) from exc
    return model
