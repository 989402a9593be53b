"""Potentials with uncertainty: gradient-domain GPs, committees and local many-body GPs, their ASE calculator.

Example
-------
>>> from alforge.models import build_model, evaluate, load_model   # doctest: +SKIP
>>> model = build_model("gp")
>>> model.fit(train_frames)
>>> model.save("model.pt")
>>> evaluate(load_model("model.pt"), test_frames)["force_mae_eV_per_A"]
"""

from __future__ import annotations

from alforge.models.base import Potential
from alforge.models.calculator import PotentialCalculator
from alforge.models.committee_potential import CommitteePotential
from alforge.models.evaluate import evaluate
from alforge.models.fit_report import FitReport
from alforge.models.gp_potential import GPPotential
from alforge.models.local_gp_potential import LocalGPPotential
from alforge.models.prediction import Prediction
from alforge.models.registry import KINDS, build_model, load_model

__all__ = [
    "KINDS",
    "CommitteePotential",
    "FitReport",
    "GPPotential",
    "LocalGPPotential",
    "Potential",
    "PotentialCalculator",
    "Prediction",
    "build_model",
    "evaluate",
    "load_model",
]
