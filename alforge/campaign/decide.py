"""The campaign's verdict: MD confidence over the budget and the decision, a pure function.

Plain numbers in, plain numbers out: nothing here reads a database or runs MD, so every rule is
testable in milliseconds (``tests/test_verdict.py``). The thresholds and the error estimate it
reads come from :mod:`alforge.campaign.calibration`.

The verdict
-----------
- The *confident fraction* is the share of all walkers' **budgeted** MD steps spent at ``m ≤ τ``.
  Steps a walker did not run (a physical guard stopped it, or it crashed) count as not confident.
- A generation meets the criterion when its confident fraction reaches
  ``stopping.confident_fraction`` and the force MAE it states is at or below the target: the
  estimate over its whole MD (:mod:`alforge.campaign.calibration`) from held-out frames the model
  never trained on, or, where no estimate could be made, the held-out force MAE itself. With
  ``stopping.converge_on = "upper"`` the upper end of the estimate's 90 % bootstrap interval must
  be within the target instead (the estimate where there is no interval: fewer than two frames).
- The stated error comes with that interval wherever it is shown (the reason below, ``alforge
  status``, the dashboard, the Prefect artifact): a handful of held-out frames leaves it open.
- "Converged" needs the criterion in ``stopping.confirm_generations`` (default 2) consecutive
  generations. A campaign whose label or generation budget ends first is "stopped" and says
  what error it reached; it never reports "converged".

Example
-------
>>> v = [GenerationVerdict(1, 0.05, 0.97, 4), GenerationVerdict(2, 0.04, 0.98, 4)]
>>> decide(v, StoppingSpec(target_force_mae_eV_per_A=0.1), labels_total=30).state
'converged'
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alforge.campaign.calibration import INTERVAL_LEVEL
from alforge.config import StoppingSpec

__all__ = [
    "Decision", "GenerationVerdict", "LabelTally", "WalkerTally", "criterion_met", "decide", "md_confidence",
]


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
    MD (:func:`estimate_force_mae_eV_per_A`; ``None`` if it could not be made), ``simulated_ps``
    how much MD that is (all walkers of the generation; the reason names it, since the stated
    error speaks for that MD and no more). The held-out frames are drawn towards uncertain frames,
    so their plain MAE overstates the MD's; the estimate weighs them back.
    """

    index: int
    force_mae_eV_per_A: float | None
    confident_fraction: float | None
    held_out_frames: int
    estimated_force_mae_eV_per_A: float | None = None
    simulated_ps: float | None = None
    interval_eV_per_A: tuple[float, float] | None = None

    @property
    def stated_force_mae_eV_per_A(self) -> float | None:
        """The error the verdict states: the MD-wide estimate, else the held-out MAE."""
        if self.estimated_force_mae_eV_per_A is not None:
            return self.estimated_force_mae_eV_per_A
        return self.force_mae_eV_per_A

    def judged_force_mae_eV_per_A(self, stopping: StoppingSpec) -> float | None:
        """The error held against the target: the stated one, or its interval's upper end (``converge_on``)."""
        if stopping.converge_on == "upper" and self.interval_eV_per_A is not None:
            return max(self.interval_eV_per_A[1], self.stated_force_mae_eV_per_A or 0.0)
        return self.stated_force_mae_eV_per_A

    @classmethod
    def from_metrics(cls, index: int, metrics: dict[str, Any]) -> GenerationVerdict:
        """The verdict inputs of generation ``index`` from the metrics its evaluation stored."""
        return cls(
            index=index,
            force_mae_eV_per_A=metrics.get("force_mae_eV_per_A"),
            confident_fraction=metrics.get("confident_fraction"),
            held_out_frames=int(metrics.get("held_out_frames") or 0),
            estimated_force_mae_eV_per_A=metrics.get("estimated_force_mae_eV_per_A"),
            simulated_ps=metrics.get("simulated_ps"),
            interval_eV_per_A=_interval(metrics.get("estimated_force_mae_interval_eV_per_A")),
        )


def _interval(value: Any) -> tuple[float, float] | None:
    """A stored ``[low, high]`` as a tuple; ``None`` for anything else (generations scored before it existed)."""
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int | float) for v in value):
        return float(value[0]), float(value[1])
    return None


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
    judged = verdict.judged_force_mae_eV_per_A(stopping)
    return (
        verdict.held_out_frames > 0
        and verdict.force_mae_eV_per_A is not None
        and judged is not None
        and judged <= stopping.target_force_mae_eV_per_A
    )


def _describe(verdict: GenerationVerdict | None, stopping: StoppingSpec) -> str:
    if verdict is None:
        return "no generation scored yet"
    stated = verdict.stated_force_mae_eV_per_A
    error = "n/a" if stated is None else f"{stated:.3g} eV/Å"
    if verdict.interval_eV_per_A is not None:
        low, high = verdict.interval_eV_per_A
        judged = ", judged on its upper end" if stopping.converge_on == "upper" else ""
        error += f" ({INTERVAL_LEVEL * 100:.0f} % interval {low:.3g}–{high:.3g}{judged})"
    target = stopping.target_force_mae_eV_per_A
    confident = "n/a" if verdict.confident_fraction is None else f"{verdict.confident_fraction:.0%}"
    wanted = "" if target is None else f" (target {target:.3g})"
    held_out = "n/a" if verdict.force_mae_eV_per_A is None else f"{verdict.force_mae_eV_per_A:.3g}"
    estimate = verdict.estimated_force_mae_eV_per_A
    over_md = "n/a" if estimate is None else f"{estimate:.3g}"
    md = "the MD" if not verdict.simulated_ps else f"the {verdict.simulated_ps:.3g} ps of MD"
    return (
        f"force MAE {error}{wanted}: held-out {held_out} on {verdict.held_out_frames} frames, "
        f"estimate over {md} {over_md}; "
        f"{confident} of budgeted MD steps confident (target {stopping.confident_fraction:.0%})"
    )


@dataclass(frozen=True)
class LabelTally:
    """The campaign's reference calculations by outcome, now (statuses of ``alforge status``).

    ``tried``: all selected; ``quarantined``: the oracle answered that it cannot label them;
    ``failed``: the label task itself failed (after its retries) before the oracle answered: a
    worker that cannot start, a lost database. ``generation_tried`` and ``generation_failed`` count
    the same for the last generation alone. A failed label is retried when the campaign runs again.
    """

    tried: int = 0
    quarantined: int = 0
    failed: int = 0
    generation_tried: int = 0
    generation_failed: int = 0
    failure: str = ""  # the newest failed label's error, to show the user

    def stop_reason(self, stopping: StoppingSpec, index: int) -> str | None:
        """Why the campaign must stop for its labels, or ``None``.

        Too many quarantined calculations; or label tasks failing: all of the last generation's
        (more generations would only repeat the MD and get no label) or more than
        ``max_quarantine_fraction`` of all tried.
        """
        limit = stopping.max_quarantine_fraction
        if self.tried and self.quarantined / self.tried > limit:
            return (f"{self.quarantined} of {self.tried} reference calculations quarantined (> {limit:.0%}); "
                    "check the oracle settings and the quarantined errors (`alforge status`)")
        every = self.generation_tried and self.generation_failed >= self.generation_tried
        if every or (self.tried and self.failed / self.tried > limit):
            what = (f"all {self.generation_tried} label tasks of generation {index} failed" if every
                    else f"{self.failed} of {self.tried} label tasks failed (> {limit:.0%})")
            cause = f" (last error: {self.failure})" if self.failure else ""
            return (f"{what} before the oracle answered{cause}; fix the cause and run the campaign again: "
                    "failed labels are retried first")
        return None


def decide(
    history: Sequence[GenerationVerdict],
    stopping: StoppingSpec,
    *,
    labels_total: int,
    labels: LabelTally | None = None,
) -> Decision:
    """The campaign's state after the last generation of ``history`` (ordered by index).

    In order: too many quarantined or failed reference calculations stop the campaign
    (:meth:`LabelTally.stop_reason`); the criterion held in the last ``confirm_generations``
    consecutive generations converges it; a used-up label or generation budget stops it (saying
    what was reached); otherwise it runs on.
    """
    last = history[-1] if history else None
    met = last is not None and criterion_met(last, stopping)
    index = -1 if last is None else last.index
    trouble = None if labels is None else labels.stop_reason(stopping, index)
    if trouble is not None:
        return Decision("stopped", trouble, met)
    needed = stopping.confirm_generations
    recent = list(history[-needed:])
    consecutive = len(recent) == needed and all(
        b.index == a.index + 1 for a, b in itertools.pairwise(recent)
    )
    if met and consecutive and all(criterion_met(v, stopping) for v in recent):
        return Decision("converged", f"{_describe(last, stopping)}; held for {needed} generations in a row", met)
    if labels_total >= stopping.max_labels:
        return Decision("stopped", f"label budget of {stopping.max_labels} used before convergence: "
                        f"{_describe(last, stopping)}", met)
    if index + 1 >= stopping.max_generations:
        return Decision("stopped", f"reached {stopping.max_generations} generations before convergence: "
                        f"{_describe(last, stopping)}", met)
    return Decision("running", "criterion met once; confirming" if met else "continue", met)

