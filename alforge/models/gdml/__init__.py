"""The global gradient-domain GP of one molecule (sGDML's kernel with energies, GPyTorch modules).

Kernels (:mod:`.gdml_kernel` and its radial siblings), noise (:mod:`.gradient_noise`), the
hyperparameter search, the exact and sparse solvers, the posterior used for prediction, and the
potential that ties them together (:class:`~alforge.models.gdml.gp_potential.GPPotential`).
"""

from __future__ import annotations

from alforge.models.gdml.gp_potential import KERNELS, GPPotential

__all__ = ["KERNELS", "GPPotential"]
