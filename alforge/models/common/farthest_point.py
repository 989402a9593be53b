"""Greedy farthest-point sampling, the one implementation every model kind and selection use."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["farthest_point_indices"]


def farthest_point_indices(
    points: np.ndarray | Tensor,
    n_select: int,
    *,
    first: int = 0,
    permutations: np.ndarray | Tensor | None = None,
    min_distance: float | None = None,
) -> np.ndarray:
    """Indices of up to ``n_select`` points, each the farthest from those picked before it.

    Parameters
    ----------
    points
        Shape ``(n, d)`` (numpy or torch; other shapes are flattened to ``(n, -1)``).
    n_select
        How many to pick (at most ``n``).
    first
        Index of the first pick.
    permutations
        Index permutations of the feature axis, shape ``(S, d)``: the distance between two points
        is then the smallest over the permuted copies of the picked one (a symmetrised distance,
        as the GDML descriptors need). ``None``: the Euclidean distance.
    min_distance
        Stop once every remaining point is closer than this to a picked one.

    Returns
    -------
    numpy.ndarray
        Picked indices in pick order, shape ``(k,)`` with ``k ≤ min(n, n_select)``; sampling also
        stops when the remaining points duplicate picked ones (distance 0).

    Example
    -------
    >>> farthest_point_indices(np.array([[0.0], [1.0], [10.0], [4.0]]), 3).tolist()
    [0, 2, 3]
    """
    tensor = torch.as_tensor(points)
    tensor = tensor.reshape(tensor.shape[0], -1)
    if not tensor.is_floating_point():
        tensor = tensor.double()
    n = tensor.shape[0]
    if n == 0 or n_select <= 0:
        return np.zeros(0, dtype=np.int64)
    perms = None if permutations is None else torch.as_tensor(permutations, device=tensor.device)

    def distance_to(index: int) -> Tensor:
        if perms is None:
            return (tensor - tensor[index]).norm(dim=-1)
        return (tensor[:, None, :] - tensor[index][perms][None]).norm(dim=-1).amin(1)

    picked = [first]
    distance = distance_to(first)
    while len(picked) < min(n_select, n):
        candidate = int(distance.argmax())
        farthest = float(distance[candidate])
        if farthest <= 0.0 or (min_distance is not None and farthest < min_distance):
            break
        picked.append(candidate)
        distance = torch.minimum(distance, distance_to(candidate))
    return np.asarray(picked, dtype=np.int64)
