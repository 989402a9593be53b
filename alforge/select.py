"""Selection: which explored frames go to the oracle.

``uncertainty`` (:func:`select_training`): frames where a physical guard ended a walker first,
then frames inside the trust window (threshold < std < upper), the most uncertain first, thinned
for diversity by farthest-point sampling in descriptor space, and only then, to fill the quota,
frames beyond the window, the least uncertain first (nearest to what the model knows).
``random``: a uniform draw from every kept frame (the baseline arm). Held-out frames are drawn
first, uniformly among the frames each walker kept evenly spaced in time, so that the held-out
error measures the model over the MD it runs, not where it already knew it was unsure.

Example
-------
>>> import numpy as np
>>> points = np.array([[0.0], [0.1], [5.0], [10.0]])
>>> farthest_point_sampling(points, 2, first=0)
[0, 3]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["farthest_point_sampling", "select_random", "select_training", "select_uncertain", "select_validation"]


def farthest_point_sampling(descriptors: np.ndarray, k: int, first: int = 0) -> list[int]:
    """Greedy farthest-point sampling.

    Parameters
    ----------
    descriptors
        ``(n, d)`` points.
    k
        How many to pick (at most ``n``).
    first
        Index of the first pick.

    Returns
    -------
    list of int
        Picked indices in the order picked.
    """
    points = np.asarray(descriptors, dtype=float).reshape(len(descriptors), -1)
    n = len(points)
    if n == 0 or k <= 0:
        return []
    picked = [first]
    distance = np.linalg.norm(points - points[first], axis=1)
    while len(picked) < min(k, n):
        candidate = int(np.argmax(distance))
        if distance[candidate] <= 0:
            break
        picked.append(candidate)
        distance = np.minimum(distance, np.linalg.norm(points - points[candidate], axis=1))
    return picked


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
    return [above[i] for i in farthest_point_sampling(subset, max_labels, first=0)]


def select_random(n: int, k: int, rng: np.random.Generator, exclude: Sequence[int] = ()) -> list[int]:
    """``k`` distinct indices drawn uniformly from ``range(n)`` minus ``exclude``."""
    pool = np.setdiff1d(np.arange(n), np.asarray(exclude, dtype=int))
    if len(pool) == 0 or k <= 0:
        return []
    return sorted(int(i) for i in rng.choice(pool, size=min(k, len(pool)), replace=False))


def select_validation(n: int, k: int, rng: np.random.Generator, exclude: Sequence[int]) -> list[int]:
    """Held-out frames: a uniform draw of ``k`` among the frames not picked for training."""
    return select_random(n, k, rng, exclude=exclude)


def select_training(
    uncertainties: Sequence[float],
    reasons: Sequence[str],
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
    reasons
        Why the walker kept each frame: ``guard`` frames come first.
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
    guards = [i for i in open_ if reasons[i].startswith("guard")]
    inside = [i for i in open_ if i not in guards and threshold < values[i] < upper]
    beyond = sorted((i for i in open_ if i not in guards and values[i] >= upper and np.isfinite(values[i])),
                    key=lambda i: values[i])
    picks = guards[:k]
    if len(picks) < k and inside:
        subset = None if descriptors is None else np.asarray(descriptors)[inside]
        local = select_uncertain(values[inside].tolist(), subset, threshold, k - len(picks), diversity)
        picks += [inside[i] for i in local]
    return picks + beyond[: k - len(picks)]
