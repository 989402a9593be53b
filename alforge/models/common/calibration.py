"""The calibration factor ``α`` that scales a model's predicted standard deviations.

Every model kind fits it the same way on structures its fit did not use (held-out or
out-of-bag): ``α² = mean(error²) / mean(σ²)`` over force components, so that the calibrated
variance matches the mean squared error there.
"""

from __future__ import annotations

import math

__all__ = ["ALPHA_BOUNDS", "calibration_factor"]

ALPHA_BOUNDS = (1e-2, 1e3)
"""``α`` is clipped to these bounds (a factor outside says the variance is unusable, not small)."""


def calibration_factor(error2: float, variance: float) -> float | None:
    """``α = √(error2 / variance)`` clipped to :data:`ALPHA_BOUNDS`, or ``None`` if ``variance ≤ 0``.

    Parameters
    ----------
    error2
        Mean squared force error on the calibration structures, (eV/Å)².
    variance
        Mean predicted force variance there (uncalibrated), (eV/Å)².

    Example
    -------
    >>> calibration_factor(4.0, 1.0)
    2.0
    """
    if not variance > 0.0:
        return None
    return min(max(math.sqrt(error2 / variance), ALPHA_BOUNDS[0]), ALPHA_BOUNDS[1])
