"""Score a potential on labelled frames: accuracy, uncertainty quality and speed.

Example
-------
>>> scores = evaluate(model, read_labelled("test.extxyz"))     # doctest: +SKIP
>>> scores["force_mae_eV_per_A"], scores["spearman_std_error"]   # doctest: +SKIP
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import Atoms
from scipy.stats import spearmanr

from alforge.models.base import Potential
from alforge.models.common.frames import read_labels, stack_labelled

__all__ = ["evaluate"]


def evaluate(model: Potential, frames: Sequence[Atoms]) -> dict[str, Any]:
    """Errors, uncertainty calibration and prediction time of ``model`` on labelled ``frames``.

    Parameters
    ----------
    model
        A fitted potential.
    frames
        Labelled frames of the model's molecule (of any size and composition for a ``"local"`` model).

    Returns
    -------
    dict
        ``energy_mae_eV``, ``energy_rmse_eV``; ``force_mae_eV_per_A``, ``force_rmse_eV_per_A``
        (over force components); ``spearman_std_error`` (Spearman rank correlation between the
        predicted per-atom force std and the per-atom force error, the root mean square over
        x, y, z); ``within_1sigma``, ``within_2sigma`` (fraction of force-component errors
        within 1 and 2 predicted per-atom σ); ``predict_ms_per_structure`` (one batched
        :meth:`~Potential.predict` call, with uncertainties); ``n_structures``.

    Raises
    ------
    ModelInputError
        Frames that are unlabelled or of another molecule.
    """
    if getattr(model, "predict_each", None) is not None:  # a local model: frames of any size
        energies, per_frame = read_labels(frames)
        forces = np.concatenate(per_frame)
        start = time.perf_counter()
        parts = model.predict_each(frames)  # type: ignore[attr-defined]
        elapsed = time.perf_counter() - start
        predicted_energy = np.concatenate([p.energy_eV for p in parts])
        predicted_forces = np.concatenate([p.forces_eV_per_A[0] for p in parts])
        predicted_std = np.concatenate([p.forces_std_eV_per_A[0] for p in parts])
    else:
        _, _, energies, forces = stack_labelled(frames, model.numbers)
        start = time.perf_counter()
        prediction = model.predict(frames)
        elapsed = time.perf_counter() - start
        predicted_energy, predicted_forces = prediction.energy_eV, prediction.forces_eV_per_A
        predicted_std = prediction.forces_std_eV_per_A
    energy_error = predicted_energy - energies
    force_error = predicted_forces - forces
    atom_error = np.sqrt((force_error**2).mean(-1))
    sigma = predicted_std[..., None]
    std, err = predicted_std.ravel(), atom_error.ravel()
    spearman = float(spearmanr(std, err).statistic) if np.ptp(std) > 0 and np.ptp(err) > 0 else float("nan")
    return {
        "energy_mae_eV": float(np.abs(energy_error).mean()),
        "energy_rmse_eV": float(np.sqrt((energy_error**2).mean())),
        "force_mae_eV_per_A": float(np.abs(force_error).mean()),
        "force_rmse_eV_per_A": float(np.sqrt((force_error**2).mean())),
        "spearman_std_error": spearman,
        "within_1sigma": float((np.abs(force_error) <= sigma).mean()),
        "within_2sigma": float((np.abs(force_error) <= 2 * sigma).mean()),
        "predict_ms_per_structure": 1000.0 * elapsed / len(frames),
        "n_structures": len(frames),
    }
