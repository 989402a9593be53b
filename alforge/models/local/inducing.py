"""Where the local GP puts its inducing points, and the length-scale bounds they allow."""

from __future__ import annotations

import numpy as np
import torch

from alforge.models.common.farthest_point import farthest_point_indices
from alforge.models.local.descriptors import LocalEnvironments
from alforge.models.local.kernel import LocalInducing

__all__ = ["MIN_SPACING", "MIN_TRIPLET_SPACING", "choose_inducing", "lengthscale_bounds"]

MIN_SPACING = 0.6  # pair grid spacing over the largest pair length scale (see choose_inducing)
MIN_TRIPLET_SPACING = 0.2  # closest triplet inducing points, in triplet length scales


def choose_inducing(
    envs: list[LocalEnvironments],
    *,
    pair_cutoff_A: float,
    triplet_cutoff_A: float | None,
    n_pair_inducing: int,
    n_triplet_inducing: int,
    seed: int,
    dtype: torch.dtype,
    device: torch.device,
    min_triplet_distance_A: float | None = None,
) -> LocalInducing:
    """Pair grids and farthest-point triplets (no two closer than ``min_triplet_distance_A``).

    Inducing points much closer than a length scale make ``k(Z, Z)`` nearly singular: its
    whitening then has entries of 10⁴–10⁶, the energy becomes a sum of large cancelling
    terms and carries round-off noise of ~10⁻⁹ eV that finite differences and lattice
    shifts see. The pair length scale is therefore at most ``1/MIN_SPACING`` grid spacings
    (:func:`lengthscale_bounds`), and triplet points closer than ``MIN_TRIPLET_SPACING`` of
    the fitted triplet length scale are dropped.
    """
    shortest: dict[tuple[int, int], float] = {}
    triplets: dict[tuple[int, int, int], list[np.ndarray]] = {}
    for env in envs:
        r = np.linalg.norm(env.pair_vec_A, axis=1)
        for b, pair_key in enumerate(env.pair_keys):
            shortest[pair_key] = min(shortest.get(pair_key, np.inf), float(r[env.pair_key == b].min()))
        if triplet_cutoff_A is not None and len(env.trip_ij):
            c = np.linalg.norm(env.pair_vec_A[env.trip_ik] - env.pair_vec_A[env.trip_ij], axis=1)
            feats = np.stack([r[env.trip_ij], r[env.trip_ik], c], axis=1)
            for b, triplet_key in enumerate(env.triplet_keys):
                triplets.setdefault(triplet_key, []).append(feats[env.trip_key == b])
    pair_keys = sorted(shortest)
    pair_points = []
    for pair_key in pair_keys:
        low = max(0.5 * shortest[pair_key], shortest[pair_key] - 0.05 * (pair_cutoff_A - shortest[pair_key]))
        pair_points.append(torch.linspace(low, pair_cutoff_A, n_pair_inducing, dtype=dtype, device=device))
    rng = np.random.default_rng(seed)
    triplet_keys = sorted(triplets)
    triplet_points = []
    for triplet_key in triplet_keys:
        feats = np.concatenate(triplets[triplet_key])
        if len(feats) > 20 * n_triplet_inducing:
            feats = feats[rng.choice(len(feats), size=20 * n_triplet_inducing, replace=False)]
        chosen = farthest_point_indices(feats, n_triplet_inducing, min_distance=min_triplet_distance_A)
        triplet_points.append(torch.as_tensor(feats[chosen], dtype=dtype, device=device))
    return LocalInducing(pair_keys, pair_points, triplet_keys, triplet_points)


def lengthscale_bounds(
    inducing: LocalInducing, pair_cutoff_A: float, triplet_cutoff_A: float | None, n_pair_inducing: int
) -> dict[str, tuple[float, float]]:
    """Search intervals of the length scales in Å (pair: 0.75 to 1/``MIN_SPACING`` grid spacings)."""
    spacing = pair_cutoff_A / n_pair_inducing
    if inducing.pair_points_A:
        spacing = max(float(z[1] - z[0]) for z in inducing.pair_points_A)
    triplet_cut = triplet_cutoff_A or pair_cutoff_A
    return {
        "pair": (0.75 * spacing, spacing / MIN_SPACING),
        "triplet": (0.05 * triplet_cut, 2.0 * triplet_cut),
    }
