"""The log-uniform interval constraint."""

from __future__ import annotations

import pytest
import torch

from alforge.models.gdml.log_interval import LogInterval


def test_round_trip_and_bounds():
    constraint = LogInterval(0.01, 100.0)
    values = torch.tensor([0.02, 1.0, 50.0], dtype=torch.float64)
    torch.testing.assert_close(constraint.transform(constraint.inverse_transform(values)), values)
    extreme = constraint.transform(torch.tensor([-1e3, 1e3], dtype=torch.float64))
    assert float(extreme[0]) == pytest.approx(0.01)
    assert float(extreme[1]) == pytest.approx(100.0)


def test_rejects_bad_bounds():
    with pytest.raises(ValueError, match="0 < lower < upper"):
        LogInterval(1.0, 0.5)
