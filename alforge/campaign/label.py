"""Labelling: one reference calculation through the oracle, its outcome stored (ok or quarantined)."""

from __future__ import annotations

from alforge.campaign.context import build_oracle, jsonable, load_context
from alforge.db import Calculation, Database, Generation, Structure
from alforge.db.calculations import finish_calculation, start_calculation
from alforge.db.labels import selected_calculations
from alforge.db.structures import atoms_from_row

__all__ = ["failed_calculations", "label_step", "mark_failed"]


def label_step(db: Database, campaign_id: int, calculation_id: int) -> str:
    """Run the oracle for one pending calculation and store the outcome; return its status.

    A calculation that is already finished (``ok`` or ``quarantined``) is not run again, nor one
    that another live process is computing (``"in-flight elsewhere"`` is returned).
    """
    ctx = load_context(db, campaign_id)
    lease_s = ctx.spec.oracle.wall_time_s + 120.0
    with db.session() as session:
        calc = start_calculation(session, calculation_id, lease_s=lease_s)
        if calc is None:
            status = session.get(Calculation, calculation_id).status  # type: ignore[union-attr]
            return "in-flight elsewhere" if status in ("pending", "failed") else str(status)
        atoms = atoms_from_row(session.get(Structure, calc.structure_id))  # type: ignore[arg-type]
    oracle = build_oracle(ctx.spec)
    result = oracle.compute(atoms)
    with db.session() as session:
        finish_calculation(
            session,
            calculation_id,
            status=result.status,
            energy_eV=result.energy_eV,
            forces_eV_per_A=result.forces_eV_per_A,
            error=result.error,
            wall_time_s=result.wall_time_s,
            details=jsonable({**(result.details or {}), "scf_attempts": result.attempts}),
            code_version=result.level.code_version,
        )
    return result.status


def mark_failed(db: Database, calculation_id: int, error: str) -> None:
    """Record that a label task failed outside the oracle (:func:`failed_calculations` finds it to retry)."""
    with db.session() as session:
        finish_calculation(session, calculation_id, status="failed", error=error[:500])


def failed_calculations(db: Database, campaign_id: int) -> list[int]:
    """Ids of the campaign's selected calculations whose label task failed: the flow retries them
    when the campaign runs again, before it decides anything."""
    level_hash = load_context(db, campaign_id).level.hash
    with db.session(readonly=True) as session:
        return list(session.scalars(
            selected_calculations(level_hash).add_columns(Calculation.id)
            .where(Generation.campaign_id == campaign_id, Calculation.status == "failed")
            .order_by(Calculation.id).distinct()
        ))
