"""The threshold derived from the user's target force MAE behaves as documented on a real GP.

``alforge.campaign.calibration`` maps the largest per-atom force std ``m`` of a frame to an expected force MAE
``κ·m``, with ``κ`` fitted on held-out labels, and calls a frame uncertain when ``κ·m`` exceeds
the target. Here a real GP (methane, RHF/STO-3G labels from PySCF) is fitted on a few frames, ``κ``
on a calibration set it never saw, and the mapping is checked on a third, independent set.
"""

from __future__ import annotations

import numpy as np

from alforge.campaign.calibration import KAPPA_PRIOR, calibrate_kappa, threshold_eV_per_A
from alforge.models import build_model


def per_frame(model, frames):  # type: ignore[no-untyped-def]
    prediction = model.predict(frames)
    reference = np.stack([f.get_forces() for f in frames])
    errors = np.abs(prediction.forces_eV_per_A - reference).mean(axis=(1, 2))
    return errors, prediction.forces_std_eV_per_A.max(axis=1)


def test_target_threshold_separates_frames_by_their_real_error(methane) -> None:  # type: ignore[no-untyped-def]
    model = build_model("gp", device="cpu")
    model.fit(methane.train[:16])
    calibration, test = methane.train[16:], methane.test
    kappa = calibrate_kappa(*per_frame(model, calibration))
    assert 0.0 < kappa < 2 * KAPPA_PRIOR

    errors, stds = per_frame(model, test)
    # the mapping predicts the error of frames it was not fitted on, erring (if at all) high:
    # the shrinkage towards κ₀ is conservative
    predicted = kappa * stds
    assert 0.5 < errors.mean() / predicted.mean() < 1.3
    assert np.corrcoef(predicted, errors)[0, 1] > 0.3

    # a target in the middle of the test frames' errors splits them as documented
    target = float(np.median(errors))
    tau = threshold_eV_per_A(target, kappa)
    uncertain = stds > tau
    assert 0 < uncertain.sum() < len(test)
    assert errors[uncertain].mean() > errors[~uncertain].mean()
    assert errors[~uncertain].mean() <= 1.3 * target  # confident frames meet the target on average
