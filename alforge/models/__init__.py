"""Potentials with uncertainty: gradient-domain GPs, committees and local many-body GPs, their ASE calculator.

Layout (as GPyTorch separates kernels, likelihoods and models):

- this package: the :class:`Potential` interface, its ASE calculator, :class:`Prediction`,
  :class:`FitReport`, :func:`evaluate`, the model file and the registry of kinds;
- ``common/``: frames and their labels (read and checked once), farthest-point sampling, the
  calibration factor, PyTorch thread control;
- ``gdml/``: the global gradient-domain GP of one molecule (:class:`GPPotential`);
- ``local/``: the local many-body GP for structures of any size (:class:`LocalGPPotential`);
- ``committee/``: a committee of potentials (:class:`CommitteePotential`).

Example
-------
Fit a GP on eight structures, save it, and score the saved model on four it has not seen:

>>> import tempfile
>>> from pathlib import Path
>>> from ase.build import molecule
>>> from alforge.models.common.toy import emt_methane
>>> frames = emt_methane(12)  # toy data: displaced methane labelled by ASE's EMT
>>> from alforge.models import build_model, evaluate, load_model
>>> model = build_model("gp")
>>> report = model.fit(frames[:8])
>>> folder = tempfile.TemporaryDirectory()
>>> path = model.save(Path(folder.name) / "model.pt")
>>> evaluate(load_model(path), frames[8:])["force_mae_eV_per_A"] < 0.1
True
>>> folder.cleanup()
"""

from __future__ import annotations

from alforge.models.base import Potential
from alforge.models.calculator import PotentialCalculator
from alforge.models.committee.committee_potential import CommitteePotential
from alforge.models.evaluate import evaluate
from alforge.models.fit_report import FitReport
from alforge.models.gdml.gp_potential import GPPotential
from alforge.models.local.local_gp_potential import LocalGPPotential
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
