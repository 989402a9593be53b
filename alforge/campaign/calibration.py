"""From the model's std to an expected force error: the threshold and the error the verdict states.

Plain numbers in, plain numbers out (tested in ``tests/test_verdict.py``).

From the target force error to an uncertainty threshold
-------------------------------------------------------
The user states one number, the force MAE wanted, ``target`` (eV/Å). Walkers read one number per
frame, the largest per-atom force std ``m = max_i σ_i`` (eV/Å; ``σ_i`` is the RMS over x, y, z
of atom ``i``'s component stds). For a calibrated Gaussian posterior a force component with std
``σ`` has an expected absolute error ``√(2/π)·σ``, so a frame's expected force MAE is
``√(2/π)·mean_i σ_i ≤ √(2/π)·m``. alforge writes the expected MAE as ``κ·m``:

- before any held-out label exists ``κ = κ₀ = √(2/π) ≈ 0.80``, the bound for a frame whose atoms
  are all as uncertain as its worst one (conservative: the threshold is as low as it can be);
- once held-out labels exist, ``κ`` is fitted on them, each frame scored by the model whose MD
  produced it (which never trained on it nor on its trajectory):
  ``κ = (Σ_f e_f + n₀ κ₀ m̄) / (Σ_f m_f + n₀ m̄)``, the ratio of observed per-frame force MAE
  ``e_f`` to ``m_f``, shrunk towards ``κ₀`` by ``n₀ = 2`` pseudo-frames at the mean std ``m̄``
  (few frames move it little, many decide it).

A frame is *uncertain* when its expected error exceeds the target, ``κ·m > target``, i.e. when
``m > τ = target / κ``. Frames with ``m ≥ upper_factor·τ`` lie beyond the trust window: the model
is lost there and the walker rewinds (see :mod:`alforge.campaign.walker`).

The error the verdict states
----------------------------
A handful of held-out frames cannot see a heavy tail. Measured on water (HF/STO-3G, 500 K, a GP
on 40–160 random frames of an ab initio trajectory), 3 % of the frames carried 37–72 % of the
force MAE, and the mean of 4 held-out frames had a median of 0.15–0.33× the true MAE: the
campaign claimed an error it did not have. The model's std sees the tail without labels: every
MD check of the generation records ``m``, and the per-frame error grows like ``m²`` there (log–log
slope 2.0 over 300 frames). So the verdict states the larger of two *ratio estimates* (survey
sampling's estimator with an auxiliary variable known for the whole population):

``Ê₁ = (Σ_h e_h / Σ_h m_h)·mean_t m_t`` and ``Ê₂ = (Σ_h e_h / Σ_h m_h²)·mean_t m_t²``,

``h`` over the generation's held-out frames, ``t`` over every MD check its walkers made on the same
model. If errors are proportional to ``m`` the first is exact, if proportional to ``m²`` the
second. On the same data the larger of the two had a median of 0.7–1.1× the true MAE with 4–16
held-out frames (water) and 1.02–1.03× (ethanol, whose errors are not heavy-tailed).

Example
-------
>>> round(threshold_eV_per_A(0.1, KAPPA_PRIOR), 4)
0.1253
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "KAPPA_PRIOR",
    "PRIOR_FRAMES",
    "calibrate_kappa",
    "estimate_force_mae_eV_per_A",
    "expected_force_mae_eV_per_A",
    "threshold_eV_per_A",
]

KAPPA_PRIOR = math.sqrt(2.0 / math.pi)
PRIOR_FRAMES = 2.0


def expected_force_mae_eV_per_A(max_force_std_eV_per_A: float | np.ndarray, kappa: float = KAPPA_PRIOR) -> float:
    """Expected force MAE (eV/Å) of a frame whose largest per-atom force std is given: ``κ·m``."""
    return float(kappa * np.asarray(max_force_std_eV_per_A, dtype=float))


def threshold_eV_per_A(target_force_mae_eV_per_A: float, kappa: float) -> float:
    """The largest per-atom force std at which a frame's expected force MAE equals the target."""
    if not (target_force_mae_eV_per_A > 0 and kappa > 0):
        msg = f"target ({target_force_mae_eV_per_A}) and kappa ({kappa}) must be positive"
        raise ValueError(msg)
    return target_force_mae_eV_per_A / kappa


def calibrate_kappa(
    frame_mae_eV_per_A: Sequence[float] | np.ndarray,
    frame_max_std_eV_per_A: Sequence[float] | np.ndarray,
    prior: float = KAPPA_PRIOR,
    prior_frames: float = PRIOR_FRAMES,
) -> float:
    """``κ`` from held-out frames: observed force MAE per unit of largest per-atom std, shrunk to ``prior``.

    Parameters
    ----------
    frame_mae_eV_per_A
        Observed force MAE of each held-out frame, shape ``(n,)``.
    frame_max_std_eV_per_A
        The model's largest per-atom force std on the same frames, shape ``(n,)``.
    prior, prior_frames
        ``κ₀`` and how many frames' weight it carries.
    """
    errors = np.asarray(frame_mae_eV_per_A, dtype=float)
    stds = np.asarray(frame_max_std_eV_per_A, dtype=float)
    keep = np.isfinite(errors) & np.isfinite(stds) & (stds > 0)
    errors, stds = errors[keep], stds[keep]
    if errors.size == 0:
        return prior
    mean_std = float(stds.mean())
    return float((errors.sum() + prior_frames * prior * mean_std) / (stds.sum() + prior_frames * mean_std))


def estimate_force_mae_eV_per_A(
    frame_mae_eV_per_A: Sequence[float] | np.ndarray,
    frame_max_std_eV_per_A: Sequence[float] | np.ndarray,
    trajectory_max_std_eV_per_A: Sequence[float] | np.ndarray,
) -> float | None:
    """Force MAE (eV/Å) over a generation's whole MD: the larger of the ``m`` and ``m²`` ratio estimates.

    Parameters
    ----------
    frame_mae_eV_per_A, frame_max_std_eV_per_A
        Observed force MAE and largest per-atom force std of the held-out frames, shape ``(n,)``.
    trajectory_max_std_eV_per_A
        The largest per-atom force std at every MD check of the same model, shape ``(T,)``.

    Returns ``None`` when either side has no finite, positive data.

    >>> round(estimate_force_mae_eV_per_A([0.01, 0.01], [0.1, 0.1], [0.1, 0.1, 0.1, 0.4]), 4)
    0.0475
    """
    errors = np.asarray(frame_mae_eV_per_A, dtype=float)
    stds = np.asarray(frame_max_std_eV_per_A, dtype=float)
    keep = np.isfinite(errors) & np.isfinite(stds) & (stds > 0)
    errors, stds = errors[keep], stds[keep]
    population = np.asarray(trajectory_max_std_eV_per_A, dtype=float)
    population = population[np.isfinite(population)]
    if errors.size == 0 or population.size == 0:
        return None
    linear = errors.sum() / stds.sum() * population.mean()
    quadratic = errors.sum() / np.square(stds).sum() * np.square(population).mean()
    return float(max(linear, quadratic))

