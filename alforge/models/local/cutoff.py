"""The local GP's cutoff, chosen from the data when none is given.

Candidates are a few cutoffs from a fixed grid that the pair-distance distribution allows: from
1.3 nearest-neighbour distances (a cutoff must reach past the first shell) up to the largest
pair distance in clusters and molecules (a longer one adds nothing; the largest distance plus
0.5 Å is itself a candidate, the cutoff that sees every pair) or, in periodic cells, up to the
radius where atoms have :data:`MAX_MEAN_NEIGHBOURS` neighbours on average (cost). A model with the
same options is fitted for each candidate on three quarters of the structures and scored by its
force MAE on the rest; the shortest cutoff within 10 % of the best error wins (shorter is cheaper
and extrapolates better). With fewer than :data:`MIN_STRUCTURES` structures there is nothing to
hold out and the candidate nearest 5 Å is taken.

Example
-------
The candidates for ethanol; ``LocalGPPotential().fit(frames)`` then scores each and states the
choice in the first of its report's ``notes``:

>>> from ase.build import molecule
>>> candidates, why = cutoff_candidates([molecule("CH3CH2OH")])
>>> candidates
[3.0, 4.0, 4.57]
>>> why
'from 1.42 Å (1.3 × the median nearest-neighbour distance) to 4.57 Å (the largest pair distance 4.07 Å + 0.5 Å)'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list
from scipy.spatial.distance import pdist

if TYPE_CHECKING:
    from alforge.models.local.local_gp_potential import LocalGPPotential

__all__ = ["CUTOFF_GRID_A", "CutoffChoice", "choose_cutoff", "cutoff_candidates"]

CUTOFF_GRID_A = (3.0, 4.0, 5.0, 6.5, 8.5, 11.0)
MAX_MEAN_NEIGHBOURS = 150  # periodic cells: no candidate beyond the radius holding this many on average
MIN_STRUCTURES = 4
AUTO_TRIPLET_MAX_A = 5.0  # the three-body cutoff follows the pair cutoff up to here (triplets grow as r⁶)
_TOLERANCE = 1.1
_SAMPLE = 16  # structures whose distances are examined
_MAX_HELD_OUT = 50
_MAX_TRIAL_TRAIN = 120


@dataclass(frozen=True)
class CutoffChoice:
    """The chosen cutoffs and the reason, as the fit report shows it."""

    pair_cutoff_A: float
    triplet_cutoff_A: float | None
    errors_eV_per_A: dict[float, float]
    note: str


def cutoff_candidates(frames: Sequence[Atoms], at_least_A: float = 0.0) -> tuple[list[float], str]:
    """Candidate pair cutoffs in Å allowed by the pair distances of ``frames``, and why those.

    Parameters
    ----------
    frames
        Structures (molecules, clusters or periodic cells).
    at_least_A
        Smallest acceptable cutoff (a fixed three-body cutoff).
    """
    step = max(1, len(frames) // _SAMPLE)
    sample = list(frames[::step])[:_SAMPLE]
    nearest: list[float] = []
    longest = 0.0
    reach = np.inf
    periodic = False
    for atoms in sample:
        if len(atoms) < 2:
            continue
        if atoms.pbc.any():
            periodic = True
            i, d = neighbor_list("id", atoms, CUTOFF_GRID_A[-1])
            if len(d):
                nearest.extend(np.minimum.reduceat(d[np.argsort(i, kind="stable")], _starts(np.sort(i))))
                counts = np.sort(d)
                if len(counts) >= MAX_MEAN_NEIGHBOURS * len(atoms):
                    reach = min(reach, float(counts[MAX_MEAN_NEIGHBOURS * len(atoms) - 1]))
        else:
            distances = pdist(atoms.positions)
            square = np.full((len(atoms), len(atoms)), np.inf)
            square[np.triu_indices(len(atoms), 1)] = distances
            square = np.minimum(square, square.T)
            nearest.extend(square.min(1))
            longest = max(longest, float(distances.max()))
    if not nearest:
        return [max(at_least_A, CUTOFF_GRID_A[2])], "no pairs to measure"
    lower = max(1.3 * float(np.median(nearest)), at_least_A)
    if periodic:
        upper = min(reach, CUTOFF_GRID_A[-1])
        why = (
            f"from 1.3 × the median nearest-neighbour distance ({lower:.2f} Å) to where atoms have "
            f"{MAX_MEAN_NEIGHBOURS} neighbours ({upper:.2f} Å)"
            if np.isfinite(reach)
            else f"from {lower:.2f} Å (1.3 × the median nearest-neighbour distance) to {upper:.2f} Å"
        )
        candidates = [c for c in CUTOFF_GRID_A if lower <= c <= upper]
    else:
        every_pair = round(longest + 0.5, 2)
        upper = every_pair
        why = (
            f"from {lower:.2f} Å (1.3 × the median nearest-neighbour distance) to {every_pair:.2f} Å "
            f"(the largest pair distance {longest:.2f} Å + 0.5 Å)"
        )
        candidates = [c for c in CUTOFF_GRID_A if lower <= c < every_pair]
        if every_pair <= CUTOFF_GRID_A[-1] and every_pair >= lower:
            candidates.append(every_pair)
    if not candidates:
        candidates = [max(lower, min(upper, CUTOFF_GRID_A[2]))]
    return candidates, why


def _starts(sorted_index: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, sorted_index[1:] != sorted_index[:-1]])


def choose_cutoff(
    model: LocalGPPotential, frames: list[Atoms], energies_eV: np.ndarray, forces_eV_per_A: list[np.ndarray]
) -> CutoffChoice:
    """Pick the pair (and three-body) cutoff of ``model`` by held-out force MAE (see the module docstring).

    Parameters
    ----------
    model
        The model to be fitted; trial models take its options with each candidate cutoff.
    frames, energies_eV, forces_eV_per_A
        The checked training data (``forces_eV_per_A[i]`` of shape ``(len(frames[i]), 3)``).
    """
    from alforge.models.local.local_gp_potential import LocalGPPotential

    fixed_triplet = model.triplet_cutoff_option if model.three_body else None
    candidates, why = cutoff_candidates(frames, fixed_triplet or 0.0)

    def triplet_of(cutoff: float) -> float | None:
        if not model.three_body:
            return None
        return fixed_triplet if fixed_triplet is not None else min(cutoff, AUTO_TRIPLET_MAX_A)

    if len(candidates) == 1 or len(frames) < MIN_STRUCTURES:
        chosen = candidates[0] if len(candidates) == 1 else min(candidates, key=lambda c: abs(c - CUTOFF_GRID_A[2]))
        reason = "the only candidate" if len(candidates) == 1 else f"fewer than {MIN_STRUCTURES} structures to compare"
        note = f"pair cutoff {chosen:.2f} Å chosen automatically ({reason}; candidates {why})"
        return CutoffChoice(chosen, triplet_of(chosen), {}, note)
    order = np.random.default_rng(model.seed + 1).permutation(len(frames))
    n_held = int(np.clip(len(frames) // 4, 1, _MAX_HELD_OUT))
    held, train = order[:n_held], order[n_held:][:_MAX_TRIAL_TRAIN]
    held_frames = [frames[i] for i in held]
    reference = np.concatenate([forces_eV_per_A[i].ravel() for i in held])
    errors: dict[float, float] = {}
    for cutoff in candidates:
        options = {**model.options(), "pair_cutoff_A": cutoff, "triplet_cutoff_A": triplet_of(cutoff)}
        trial = LocalGPPotential(**options)
        trial._fit_frames([frames[i] for i in train], energies_eV[train], [forces_eV_per_A[i] for i in train])
        trial.numbers = np.asarray(frames[0].numbers)
        predicted = trial._predict_each(held_frames, with_std=False)
        forces = np.concatenate([p.forces_eV_per_A.ravel() for p in predicted])
        errors[cutoff] = float(np.abs(forces - reference).mean())
    best = min(errors.values())
    chosen = min(c for c, e in errors.items() if e <= _TOLERANCE * best)
    shown = ", ".join(f"{c:g} Å: {e:.3g}" for c, e in errors.items())
    note = (
        f"pair cutoff {chosen:g} Å chosen by held-out force MAE in eV/Å ({shown}) on {n_held} of "
        f"{len(frames)} structures, the shortest within {_TOLERANCE - 1:.0%} of the best; candidates {why}"
    )
    return CutoffChoice(chosen, triplet_of(chosen), errors, note)
