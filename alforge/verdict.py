"""The campaign's verdict: thresholds from the user's target, MD confidence over the budget, decide.

Plain numbers in, plain numbers out: nothing here reads a database or runs MD, so every rule is
testable in milliseconds (``tests/test_verdict.py``).

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
is lost there and the walker rewinds (see :mod:`alforge.explore`).

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

The verdict
-----------
- The *confident fraction* is the share of all walkers' **budgeted** MD steps spent at ``m ≤ τ``.
  Steps a walker did not run (a physical guard stopped it, or it crashed) count as not confident.
- A generation meets the criterion when its confident fraction reaches
  ``stopping.confident_fraction`` and both its held-out force MAE (frames drawn uniformly in time
  from the walkers' full trajectories, the model never trained on them) and the estimate over its
  whole MD (above) are at or below the target.
- "Converged" needs the criterion in ``stopping.confirm_generations`` (default 2) consecutive
  generations. A campaign whose label or generation budget ends first is "stopped" and says
  what error it reached; it never reports "converged".

Example
-------
>>> round(threshold_eV_per_A(0.1, KAPPA_PRIOR), 4)
0.1253
>>> v = [GenerationVerdict(1, 0.05, 0.97, 4), GenerationVerdict(2, 0.04, 0.98, 4)]
>>> decide(v, StoppingSpec(target_force_mae_eV_per_A=0.1), labels_total=30).state
'converged'
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from alforge.config import StoppingSpec

__all__ = [
    "KAPPA_PRIOR",
    "Decision",
    "GenerationVerdict",
    "WalkerTally",
    "calibrate_kappa",
    "criterion_met",
    "decide",
    "estimate_force_mae_eV_per_A",
    "expected_force_mae_eV_per_A",
    "md_confidence",
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


@dataclass(frozen=True)
class WalkerTally:
    """How a walker spent its step budget in one generation."""

    steps_budget: int
    steps_done: int
    confident_steps: int


def md_confidence(walkers: Sequence[WalkerTally], planned_walkers: int, steps_budget: int) -> tuple[float, float]:
    """(confident fraction, completed fraction) of the generation's budgeted MD steps.

    The budget is ``planned_walkers × steps_budget``: a walker that crashed and left no record,
    or stopped early on a guard, counts its unspent steps as neither confident nor completed.
    """
    budget = max(planned_walkers, len(walkers)) * steps_budget
    if budget <= 0:
        return 0.0, 0.0
    confident = sum(min(w.confident_steps, w.steps_budget) for w in walkers)
    done = sum(min(w.steps_done, w.steps_budget) for w in walkers)
    return confident / budget, done / budget


@dataclass(frozen=True)
class GenerationVerdict:
    """What one generation measured, for the decision.

    ``force_mae_eV_per_A`` is the held-out error of the generation's model (``None`` without
    held-out labels), ``confident_fraction`` the share of budgeted MD steps below the threshold
    (``None`` for generation 0, which runs no MD), ``held_out_frames`` how many held-out labels
    that error rests on, ``estimated_force_mae_eV_per_A`` the estimate over the generation's whole
    MD (:func:`estimate_force_mae_eV_per_A`; ``None`` if it could not be made).
    """

    index: int
    force_mae_eV_per_A: float | None
    confident_fraction: float | None
    held_out_frames: int
    estimated_force_mae_eV_per_A: float | None = None

    @property
    def stated_force_mae_eV_per_A(self) -> float | None:
        """The error the verdict states: the larger of the held-out MAE and the MD-wide estimate."""
        known = [v for v in (self.force_mae_eV_per_A, self.estimated_force_mae_eV_per_A) if v is not None]
        return max(known) if known else None

    @classmethod
    def from_metrics(cls, index: int, metrics: dict[str, Any]) -> GenerationVerdict:
        """The verdict inputs of generation ``index`` from the metrics its evaluation stored."""
        return cls(
            index=index,
            force_mae_eV_per_A=metrics.get("force_mae_eV_per_A"),
            confident_fraction=metrics.get("confident_fraction"),
            held_out_frames=int(metrics.get("held_out_frames") or 0),
            estimated_force_mae_eV_per_A=metrics.get("estimated_force_mae_eV_per_A"),
        )


@dataclass(frozen=True)
class Decision:
    """The campaign's state after a generation and why."""

    state: str  # running, converged or stopped
    reason: str
    criterion_met: bool


def criterion_met(verdict: GenerationVerdict, stopping: StoppingSpec) -> bool:
    """True if the generation's MD was confident enough and its held-out error within the target."""
    if verdict.index <= 0 or verdict.confident_fraction is None:
        return False
    if verdict.confident_fraction < stopping.confident_fraction:
        return False
    if stopping.target_force_mae_eV_per_A is None:
        return True
    stated = verdict.stated_force_mae_eV_per_A
    return (
        verdict.held_out_frames > 0
        and verdict.force_mae_eV_per_A is not None
        and stated is not None
        and stated <= stopping.target_force_mae_eV_per_A
    )


def _describe(verdict: GenerationVerdict | None, stopping: StoppingSpec) -> str:
    if verdict is None:
        return "no generation scored yet"
    stated = verdict.stated_force_mae_eV_per_A
    error = "n/a" if stated is None else f"{stated:.3g} eV/Å"
    target = stopping.target_force_mae_eV_per_A
    confident = "n/a" if verdict.confident_fraction is None else f"{verdict.confident_fraction:.0%}"
    wanted = "" if target is None else f" (target {target:.3g})"
    held_out = "n/a" if verdict.force_mae_eV_per_A is None else f"{verdict.force_mae_eV_per_A:.3g}"
    estimate = verdict.estimated_force_mae_eV_per_A
    over_md = "n/a" if estimate is None else f"{estimate:.3g}"
    return (
        f"force MAE {error}{wanted}: held-out {held_out} on {verdict.held_out_frames} frames, "
        f"estimate over the MD {over_md}; "
        f"{confident} of budgeted MD steps confident (target {stopping.confident_fraction:.0%})"
    )


def decide(
    history: Sequence[GenerationVerdict],
    stopping: StoppingSpec,
    *,
    labels_total: int,
    tried: int = 0,
    quarantined: int = 0,
) -> Decision:
    """The campaign's state after the last generation of ``history`` (ordered by index).

    In order: too many quarantined reference calculations stop the campaign; the criterion held
    in the last ``confirm_generations`` consecutive generations converges it; a used-up label or
    generation budget stops it (saying what was reached); otherwise it runs on.
    """
    last = history[-1] if history else None
    met = last is not None and criterion_met(last, stopping)
    if tried and quarantined / tried > stopping.max_quarantine_fraction:
        return Decision("stopped", (
            f"{quarantined} of {tried} reference calculations quarantined (> {stopping.max_quarantine_fraction:.0%}); "
            "check the oracle settings and the quarantined errors (`alforge status`)"
        ), met)
    needed = stopping.confirm_generations
    recent = list(history[-needed:])
    consecutive = len(recent) == needed and all(
        b.index == a.index + 1 for a, b in itertools.pairwise(recent)
    )
    if met and consecutive and all(criterion_met(v, stopping) for v in recent):
        return Decision("converged", f"{_describe(last, stopping)}; held for {needed} generations in a row", met)
    index = -1 if last is None else last.index
    if labels_total >= stopping.max_labels:
        return Decision("stopped", f"label budget of {stopping.max_labels} used before convergence: "
                        f"{_describe(last, stopping)}", met)
    if index + 1 >= stopping.max_generations:
        return Decision("stopped", f"reached {stopping.max_generations} generations before convergence: "
                        f"{_describe(last, stopping)}", met)
    return Decision("running", "criterion met once; confirming" if met else "continue", met)
