"""What fitting a potential did: sizes, solver, hyperparameters and timings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FitReport"]


@dataclass
class FitReport:
    """Summary of one fit, JSON-ready through :meth:`to_dict`.

    Attributes
    ----------
    kind
        Model kind (``"gp"``, ``"committee"``, ...).
    n_structures
        Training structures used.
    n_atoms
        Atoms per structure.
    solver
        ``"exact"`` (Cholesky of the full kernel matrix), ``"sparse"`` (inducing structures),
        ``"iterative"`` or, for a committee, ``"committee"``.
    fit_time_s
        Wall time of the whole fit in seconds.
    hyperparameters
        Fitted hyperparameters (see :attr:`Potential.hyperparameters`).
    n_rows
        Rows of the kernel matrix (energies + force components).
    variance
        How predictive variances are computed: ``"exact"``, ``"low-rank(r)"``, or
        ``"committee spread"``.
    hyperparameter_time_s
        Part of ``fit_time_s`` spent maximising the marginal likelihood.
    n_hyperparameter_structures
        Structures the marginal likelihood was maximised on.
    log_marginal_likelihood
        Log marginal likelihood of the training data under the final model (nats), if known.
    notes
        Anything worth telling the user (jitter added, bounds hit, ...).
    members
        Reports of committee members.
    timings_s
        Where the fit time went, in seconds (e.g. ``search``, ``solve``, ``calibration``).
    """

    kind: str
    n_structures: int
    n_atoms: int
    solver: str
    fit_time_s: float
    hyperparameters: dict[str, Any]
    n_rows: int = 0
    variance: str = "exact"
    hyperparameter_time_s: float = 0.0
    n_hyperparameter_structures: int = 0
    log_marginal_likelihood: float | None = None
    notes: list[str] = field(default_factory=list)
    members: list[FitReport] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FitReport:
        """Inverse of :meth:`to_dict`."""
        data = dict(data)
        data["members"] = [cls.from_dict(m) for m in data.get("members", [])]
        return cls(**data)
