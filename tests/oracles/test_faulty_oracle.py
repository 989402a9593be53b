"""The fault-injecting oracle of the reliability tests produces each of its faults for real.

A fault that the machine's speed could dodge (a 0.05-s wall time on a calculation that finishes in
0.035 s) would make the campaign-fault tests pass or fail by machine, so each kind is checked alone.
"""

from __future__ import annotations

import pytest
from ase.build import molecule

from tests.support.faulty_oracle import FAULT_KINDS, FaultyOracle

REASONS = {
    "nonconvergence": "SCF not converged",
    "killed": "process died",
    "timeout": "wall time",
    "exception": "PySCF failed",
}


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_each_injected_fault_is_a_real_quarantined_failure(kind: str) -> None:
    oracle = FaultyOracle(every=1, kinds=[kind], method="HF", basis="sto-3g", wall_time_s=60)
    water = molecule("H2O")
    assert oracle.base.compute(water).status == "ok"  # warm: a previous guess, as in a campaign
    result = oracle.compute(water)
    assert result.status == "quarantined"
    assert REASONS[kind] in (result.error or "")
    assert result.details["injected_fault"] == kind
    assert oracle.base.compute(water).status == "ok"  # the wrapped oracle is untouched
