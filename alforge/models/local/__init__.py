"""The local many-body GP (pair and triplet terms within a cutoff), for systems of any size."""

from __future__ import annotations

from alforge.models.local.local_gp_potential import LocalGPPotential

__all__ = ["LocalGPPotential"]
