"""The generation's plan, resolved once before its walkers start and stored in typed columns.

- The threshold on the largest per-atom force std comes, in order of precedence, from
  ``selection.threshold_eV_per_A`` (absolute), ``selection.threshold_relative`` (× the fitted
  force noise) or the user's target force MAE, ``τ = target / κ``
  (:mod:`alforge.campaign.calibration`); the trust ceiling is ``selection.upper_factor · τ``.
- Where each walker starts (:mod:`alforge.campaign.starts`, table ``walker_starts``).
- The label budget: held-out labels first (``validation.labels_per_generation``; in a generation
  that would confirm convergence, ``validation.confirm_labels``, see :func:`held_out_budget`), then
  training labels (``selection.max_labels``), both within what ``stopping.max_labels`` leaves
  (:func:`label_split`).
- The MD steps per walker: ``exploration.steps``, times ``validation.confirm_steps_factor`` in a
  generation that would confirm convergence (:func:`would_confirm`). A converged campaign states
  its last generation's error over that generation's MD, and on water that error is carried by
  rare frames with large errors: one short stretch of MD sees too few of them to pin it (two
  halves of one 1.8-ps trajectory put the same model 2.2–4.6× apart; ``benchmarks/verdict_md.py``).
- The *last* generation (:func:`is_last`: after it the label budget would leave less than the
  final verdict's reserve, :func:`verdict_reserve`, or the generation budget ends with it) is a
  verdict generation too: a campaign that stops there states its error. No model that is judged
  would train on its training labels, so every label it may draw is held out, and its MD is as
  long as a confirming generation's. (Before 2026-12-05 it drew the usual 8 held-out frames and
  4 training labels that nothing read: ethanol's final verdicts, which rest on it, ranged
  0.65–1.05× the independent error over seven runs. Until 2026-12-05 it began when fewer than
  one usual held-out draw would be left, so a stopped campaign stated its error on the 12–19
  labels the budget happened to leave: water's stated error then fell outside 0.67–1.5× its
  own MD's true error in 10–35 % of simulated draws of 12–16 frames, against 4–10 % with 40.)

Explore, select, evaluate and the dashboard read the stored plan (``generations`` columns with
units); none recomputes it, and a rerun after a crash reads what the first run stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from alforge.campaign.artifacts import load_model_record
from alforge.campaign.calibration import calibrate_kappa, threshold_eV_per_A
from alforge.campaign.context import get_generation, load_context
from alforge.campaign.decide import GenerationVerdict, criterion_met
from alforge.campaign.starts import resolve_starts
from alforge.config import StoppingSpec, ValidationSpec
from alforge.db import Database, Generation
from alforge.db.labels import campaign_calculation_ids

__all__ = [
    "KAPPA_GENERATIONS", "Plan", "generation_plan", "held_out_budget", "is_last", "label_plan", "label_split",
    "plan_step", "stored_plan", "verdict_reserve", "would_confirm",
]

KAPPA_GENERATIONS = 3  # generations whose held-out frames calibrate the threshold


@dataclass(frozen=True)
class Plan:
    """What a generation's walkers and selection work with (eV/Å and label counts)."""

    threshold_eV_per_A: float
    upper_eV_per_A: float
    kappa: float
    kappa_frames: int
    threshold_source: str
    label_budget: int
    held_out_budget: int
    md_steps: int | None = None  # None: planned before revision 0005, ran exploration.steps


def stored_plan(generation: Generation) -> Plan | None:
    """The plan stored in a generation's columns, or ``None`` before :func:`plan_step` ran.

    (Revision 0004 copied older generations' thresholds but not their label budgets: such a plan
    counts as unresolved, and :func:`plan_step` completes it.)
    """
    if generation.threshold_eV_per_A is None or generation.label_budget is None:
        return None
    return Plan(
        threshold_eV_per_A=generation.threshold_eV_per_A,
        upper_eV_per_A=generation.upper_eV_per_A or float("inf"),
        kappa=generation.kappa or 0.0,
        kappa_frames=generation.kappa_frames or 0,
        threshold_source=generation.threshold_source or "",
        label_budget=generation.label_budget or 0,
        held_out_budget=generation.held_out_budget or 0,
        md_steps=generation.md_steps,
    )


def would_confirm(previous: GenerationVerdict | None, stopping: StoppingSpec) -> bool:
    """True if a generation would confirm convergence: the criterion held in the one before it.

    (Never where one generation converges, ``stopping.confirm_generations = 1``.)

    >>> stopping = StoppingSpec(target_force_mae_eV_per_A=0.1, confident_fraction=0.9)
    >>> would_confirm(GenerationVerdict(3, 0.05, 0.97, 8, 0.06), stopping)
    True
    >>> would_confirm(GenerationVerdict(3, 0.05, 0.50, 8, 0.06), stopping)  # its MD was not confident
    False
    """
    return stopping.confirm_generations > 1 and previous is not None and criterion_met(previous, stopping)


def held_out_budget(validation: ValidationSpec, confirming: bool, remaining: int) -> int:
    """How many held-out labels a generation draws.

    Usually ``validation.labels_per_generation``. A generation that would confirm convergence
    (:func:`would_confirm`) draws the larger of that and ``validation.confirm_labels``: the error a
    converged campaign states is its last generation's, and on water 8 held-out frames put it
    within 0.67–1.5× the truth in 61 % of draws (16: 76 %, 32: 86 %); frames spent in every
    generation would cost labels all along. None where ``labels_per_generation`` is 0, and never
    more than the label budget leaves (``remaining``).

    >>> held_out_budget(ValidationSpec(labels_per_generation=8, confirm_labels=24), True, remaining=100)
    24
    """
    wanted = validation.labels_per_generation
    if confirming and wanted > 0:
        wanted = max(wanted, validation.confirm_labels)
    return max(0, min(wanted, remaining))


def verdict_reserve(validation: ValidationSpec, max_labels: int) -> int:
    """Held-out labels the label budget keeps for the last generation's verdict.

    ``validation.confirm_labels``, as many as a confirming draw, but at most a quarter of
    ``stopping.max_labels`` (a small budget still trains) and never fewer than a usual held-out
    draw; 0 with validation off. A campaign that runs out of labels states its error on at
    least this many frames (fewer only where a label failed or the budget is smaller). On water,
    12–16 frames put the stated error outside 0.67–1.5× the truth in 10–35 % of draws, 40 in
    4–10 % (an ad hoc study of the final generations of a kept ``benchmarks/active_vs_random.py
    --only water`` run, every frame of their MD labelled and the draw simulated, 2026-12-05).

    >>> v = ValidationSpec(labels_per_generation=8, confirm_labels=40)
    >>> verdict_reserve(v, 160), verdict_reserve(v, 60), verdict_reserve(v, 20)
    (40, 15, 8)
    """
    usual = validation.labels_per_generation
    if usual <= 0:
        return 0
    return max(usual, min(validation.confirm_labels, max_labels // 4))


def is_last(
    index: int, remaining: int, stopping: StoppingSpec, *, held_out: int, training: int, reserve: int
) -> bool:
    """True if generation ``index`` is to be the campaign's last.

    Either the generation budget ends with it, or after its draw (``held_out`` + ``training``
    labels; ``held_out`` is a confirming generation's larger draw where it would confirm) the label
    budget would leave fewer than the final verdict's ``reserve`` (:func:`verdict_reserve`): the
    generation after it would state its error on too few frames, so this one holds them all out
    instead. (Counting only the usual draw, a confirming generation that failed to confirm left
    16 labels for the last one: water, 2026-12-05.)

    >>> stopping = StoppingSpec(max_labels=160, max_generations=50)
    >>> [is_last(9, left, stopping, held_out=8, training=4, reserve=40) for left in (12, 51, 52)]
    [True, True, False]
    """
    return index + 1 >= stopping.max_generations or _budget_ends(
        remaining, held_out=held_out, training=training, reserve=reserve
    )


def _budget_ends(remaining: int, *, held_out: int, training: int, reserve: int) -> bool:
    """True if, after a draw of ``held_out + training`` labels, the label budget would leave fewer than ``reserve``."""
    return remaining - (held_out + training) < reserve


def label_split(
    validation: ValidationSpec, training_labels: int, remaining: int, *, confirming: bool, last: bool, reserve: int
) -> tuple[int, int]:
    """(held-out, training) labels a generation draws, within the ``remaining`` label budget.

    Held-out labels come first (:func:`held_out_budget`), training labels (``training_labels``,
    ``selection.max_labels``) take what is left. The last generation (:func:`is_last`) draws no
    training label: the campaign stops after it, so no model it judges would learn from one.
    Every label it may draw is held out instead (where the label budget ends it, every label
    left: at least ``reserve``, :func:`verdict_reserve`, unless fewer remain), at least the
    confirming draw, so that the error a stopped campaign states rests on as many frames as its
    budget allows. With validation off (``labels_per_generation = 0``) every generation trains as
    usual.

    >>> v = ValidationSpec(labels_per_generation=8, confirm_labels=40)
    >>> label_split(v, 4, 100, confirming=False, last=False, reserve=40)
    (8, 4)
    >>> label_split(v, 4, 51, confirming=False, last=True, reserve=40)
    (51, 0)
    """
    held_out = held_out_budget(validation, confirming or last, remaining)
    if last and held_out > 0:
        if _budget_ends(remaining, held_out=held_out, training=training_labels, reserve=reserve):
            return remaining, 0
        return min(remaining, max(held_out, validation.labels_per_generation + training_labels)), 0
    return held_out, max(0, min(training_labels, remaining - held_out))


def label_plan(
    validation: ValidationSpec, stopping: StoppingSpec, training_labels: int, index: int, remaining: int, *,
    confirming: bool,
) -> tuple[int, int, bool]:
    """(held-out, training) labels of generation ``index``, and whether it is the last.

    :func:`is_last` on this generation's draw (a confirming one's is larger) and the verdict
    reserve (:func:`verdict_reserve`), then :func:`label_split`.

    >>> v, stopping = ValidationSpec(labels_per_generation=8, confirm_labels=40), StoppingSpec(max_labels=160)
    >>> label_plan(v, stopping, 4, 5, 60, confirming=False), label_plan(v, stopping, 4, 5, 60, confirming=True)
    ((8, 4, False), (60, 0, True))
    """
    reserve = verdict_reserve(validation, stopping.max_labels)
    draw = held_out_budget(validation, confirming, remaining)
    last = is_last(index, remaining, stopping, held_out=draw, training=training_labels, reserve=reserve)
    held_out, training = label_split(validation, training_labels, remaining, confirming=confirming, last=last,
                                     reserve=reserve)
    return held_out, training, last


def generation_plan(db: Database, generation_id: int) -> Plan | None:
    """The stored plan of generation ``generation_id`` (``None`` for generation 0 or before planning)."""
    with db.session(readonly=True) as session:
        return stored_plan(get_generation(session, generation_id))


def plan_step(db: Database, campaign_id: int, generation_id: int, model_id: int) -> Plan:
    """Resolve and store generation ``generation_id``'s plan (once; a rerun returns the stored one).

    ``κ`` is fitted on the last ``KAPPA_GENERATIONS`` generations' held-out frames, each as scored
    by its own generation's model on frames from that model's own MD and weighted by the inverse
    of its inclusion probability (:func:`~alforge.campaign.calibration.calibrate_kappa`). (Scoring them with this
    generation's model instead would read frames next in time to ones it trained on, and flatter
    it.)
    """
    ctx = load_context(db, campaign_id)
    with db.session(readonly=True) as session:
        generation = get_generation(session, generation_id)
        plan, generation_index = stored_plan(generation), generation.index
        if plan is not None:
            resolve_starts(db, ctx, generation_id, generation_index)  # no-op once stored
            return plan
        earlier = session.execute(
            select(Generation.index, Generation.metrics)
            .where(
                Generation.campaign_id == campaign_id,
                Generation.state == "complete",
                Generation.index < generation.index,
                Generation.index >= generation.index - KAPPA_GENERATIONS,
            )
        ).tuples().all()
        labels_so_far = len(campaign_calculation_ids(session, campaign_id, split=None))
    # [force MAE, largest std, inclusion probability] per held-out frame; a frame not drawn by
    # probability (topped up, or stored by an older alforge) weighs as if certain
    frames = [[*row, None][:3] for _, metrics in earlier for row in (metrics or {}).get("held_out_own", [])]
    errors = [e for e, _, _ in frames]
    inclusion = [1.0 if p is None else p for _, _, p in frames]
    kappa = calibrate_kappa(errors, [m for _, m, _ in frames], inclusion=inclusion)
    s, target = ctx.spec.selection, ctx.spec.stopping.target_force_mae_eV_per_A
    if s.threshold_eV_per_A is not None:
        threshold, source = s.threshold_eV_per_A, "selection.threshold_eV_per_A"
    elif s.threshold_relative is not None or target is None:
        noise = float(getattr(load_model_record(db, model_id), "force_noise_eV_per_A", 0.0) or 0.0)
        factor = s.threshold_relative or 3.0
        threshold, source = max(factor * noise, 1e-3), f"selection.threshold_relative × force noise {noise:.3g} eV/Å"
    else:
        threshold = threshold_eV_per_A(target, kappa)
        source = f"target {target:g} eV/Å / kappa {kappa:.3g} ({len(errors)} held-out frames)"
    remaining = max(0, ctx.spec.stopping.max_labels - labels_so_far)
    previous = next((GenerationVerdict.from_metrics(i, metrics or {}) for i, metrics in earlier
                     if i == generation_index - 1), None)
    confirming = would_confirm(previous, ctx.spec.stopping)
    held_out, training, last = label_plan(ctx.spec.validation, ctx.spec.stopping, s.max_labels, generation_index,
                                          remaining, confirming=confirming)
    steps = ctx.spec.exploration.steps * (ctx.spec.validation.confirm_steps_factor if confirming or last else 1)
    with db.session() as session:
        generation = get_generation(session, generation_id)
        if generation.threshold_eV_per_A is None:
            generation.threshold_eV_per_A = float(threshold)
            generation.upper_eV_per_A = float(threshold * s.upper_factor)
            generation.kappa = float(kappa)
            generation.kappa_frames = len(errors)
            generation.threshold_source = source[:200]
        if generation.label_budget is None:
            generation.held_out_budget = held_out
            generation.label_budget = training
            generation.md_steps = steps
        plan = stored_plan(generation)
    resolve_starts(db, ctx, generation_id, generation_index)
    return plan  # type: ignore[return-value]
