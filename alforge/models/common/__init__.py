"""What every model kind shares: frames and their labels, farthest-point sampling, calibration."""

from __future__ import annotations

from alforge.models.common.calibration import calibration_factor
from alforge.models.common.farthest_point import farthest_point_indices
from alforge.models.common.frames import LEVEL_KEY, label_of, level_hashes, read_labels, stack_labelled, stack_positions

__all__ = [
    "LEVEL_KEY",
    "calibration_factor",
    "farthest_point_indices",
    "label_of",
    "level_hashes",
    "read_labels",
    "stack_labelled",
    "stack_positions",
]
