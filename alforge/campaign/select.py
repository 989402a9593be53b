"""Selection: which explored frames go to the oracle.

``uncertainty`` (:func:`select_training`): frames where a physical guard ended a walker first,
then frames inside the trust window (threshold < std < upper), the most uncertain first, thinned
for diversity by farthest-point sampling in descriptor space, and only then, to fill the quota,
frames beyond the window, the least uncertain first (nearest to what the model knows).
``random``: a uniform draw from every kept frame (the baseline arm). Held-out frames are drawn
first, among the frames each walker kept evenly spaced in time, the uncertain ones more often
(:func:`alforge.campaign.calibration.draw_held_out`): the estimate the verdict states weights each
by the inverse of its inclusion probability, so it measures the model over the MD it runs.

Example
-------
>>> stds = [0.05, 0.30, 0.28, 0.90, 0.20]   # largest per-atom force std of each frame (eV/Å)
>>> origins = ["sampled", "uncertain", "uncertain", "beyond", "guard"]
>>> select_training(stds, origins, None, threshold=0.1, upper=0.6, k=3)
[4, 1, 2]
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sqlalchemy import select

from alforge.campaign.artifacts import load_model_record
from alforge.campaign.calibration import draw_held_out
from alforge.campaign.context import get_generation, load_context
from alforge.campaign.plan import plan_step
from alforge.db import Candidate, Database
from alforge.db import campaigns as store
from alforge.db.structures import atoms_from_row
from alforge.models.common.farthest_point import farthest_point_indices

__all__ = [
    "select_random",
    "select_step",
    "select_training",
    "select_uncertain",
    "select_validation",
]


def select_uncertain(
    uncertainties: Sequence[float],
    descriptors: np.ndarray | None,
    threshold: float,
    max_labels: int,
    diversity: str = "fps",
) -> list[int]:
    """Indices of frames above ``threshold`` to label: most uncertain first, diverse if asked."""
    values = np.asarray(uncertainties, dtype=float)
    above = [int(i) for i in np.argsort(-values) if values[i] > threshold]
    if len(above) <= max_labels or diversity == "none" or descriptors is None:
        return above[:max_labels]
    subset = np.asarray(descriptors)[above]
    return [above[i] for i in farthest_point_indices(subset, max_labels, first=0).tolist()]


def select_random(n: int, k: int, rng: np.random.Generator, exclude: Sequence[int] = ()) -> list[int]:
    """``k`` distinct indices drawn uniformly from ``range(n)`` minus ``exclude``."""
    pool = np.setdiff1d(np.arange(n), np.asarray(exclude, dtype=int))
    if len(pool) == 0 or k <= 0:
        return []
    return sorted(int(i) for i in rng.choice(pool, size=min(k, len(pool)), replace=False))


def select_validation(
    uncertainties: Sequence[float], origins: Sequence[str], k: int, rng: np.random.Generator
) -> list[int]:
    """Indices of ``k`` held-out frames: drawn among the ``sampled`` frames (:func:`draw_held_out`).

    Where the walkers kept fewer than ``k`` sampled frames, the rest is a uniform draw among the
    ``uncertain`` ones: that errs towards a higher, more conservative held-out error.
    """
    sampled = [i for i, origin in enumerate(origins) if origin == "sampled"]
    picks = [sampled[i] for i in draw_held_out([uncertainties[i] for i in sampled], k, rng)]
    if len(picks) < k:
        others = [i for i, origin in enumerate(origins) if origin not in ("sampled", "uncertain")]
        picks += select_random(len(origins), k - len(picks), rng, exclude=[*picks, *others])
    return picks


def select_training(
    uncertainties: Sequence[float],
    origins: Sequence[str],
    descriptors: np.ndarray | None,
    threshold: float,
    upper: float,
    k: int,
    diversity: str = "fps",
    exclude: Sequence[int] = (),
) -> list[int]:
    """Indices of up to ``k`` frames to label, in priority order (see the module docstring).

    Parameters
    ----------
    uncertainties
        Largest per-atom force std of each frame (eV/Å); ``inf`` where unknown.
    origins
        Why the walker kept each frame (``CANDIDATE_ORIGINS``): ``guard`` frames come first.
    descriptors
        ``(n, d)`` descriptors for farthest-point diversity, or ``None``.
    threshold, upper
        The trust window (eV/Å).
    k
        How many to pick.
    exclude
        Indices already taken (the held-out frames).
    """
    values = np.asarray(uncertainties, dtype=float)
    taken = set(exclude)
    open_ = [i for i in range(len(values)) if i not in taken]
    guards = [i for i in open_ if origins[i] == "guard"]
    inside = [i for i in open_ if i not in guards and threshold < values[i] < upper]
    beyond = sorted((i for i in open_ if i not in guards and values[i] >= upper and np.isfinite(values[i])),
                    key=lambda i: values[i])
    picks = guards[:k]
    if len(picks) < k and inside:
        subset = None if descriptors is None else np.asarray(descriptors)[inside]
        local = select_uncertain(values[inside].tolist(), subset, threshold, k - len(picks), diversity)
        picks += [inside[i] for i in local]
    return picks + beyond[: k - len(picks)]


def select_step(db: Database, campaign_id: int, generation_id: int, model_id: int | None) -> list[int]:
    """Choose the held-out frames, then the frames to label; return the generation's calculation ids.

    Held-out labels come out of the label budget first (:func:`select_validation`). Training
    labels follow :func:`select_training` (or a uniform draw for the random arm).
    """
    ctx = load_context(db, campaign_id)
    plan = None if model_id is None else plan_step(db, campaign_id, generation_id, model_id)  # stored before MD
    with db.session() as session:
        generation = get_generation(session, generation_id)
        already = session.scalar(
            select(Candidate.id).where(Candidate.generation_id == generation_id, Candidate.selected.is_(True)).limit(1)
        )
        if already is None and plan is not None:
            candidates = list(session.scalars(store.generation_candidates(generation_id)))
            n_held_out, k = plan.held_out_budget, plan.label_budget
            rng = np.random.default_rng([ctx.spec.seed, generation.index])
            origins = [c.origin or "" for c in candidates]
            uncertainties = [math.inf if c.uncertainty_eV_per_A is None else c.uncertainty_eV_per_A
                             for c in candidates]
            held_out = select_validation(uncertainties, origins, n_held_out, rng)
            if ctx.spec.selection.method == "random":
                train = select_random(len(candidates), k, rng, exclude=held_out)
                selected_as = "random"
            else:
                descriptors = None
                if ctx.spec.selection.diversity == "fps" and candidates and k > 0:
                    model = load_model_record(db, model_id)  # type: ignore[arg-type]
                    descriptors = model.descriptor([atoms_from_row(c.structure) for c in candidates])
                train = select_training(
                    uncertainties, origins, descriptors, plan.threshold_eV_per_A, plan.upper_eV_per_A, k,
                    ctx.spec.selection.diversity, exclude=held_out,
                )
                selected_as = "uncertain"
            picks = {candidates[i].id: ("validation", "held-out") for i in held_out}
            picks.update({candidates[i].id: ("train", selected_as) for i in train})
            store.mark_selected(session, picks)
        mapping = store.generation_calculations(session, generation_id, ctx.level)
        return sorted(mapping.values())

