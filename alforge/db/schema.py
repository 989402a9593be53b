"""The campaign database schema (SQLAlchemy 2.0 typed ORM).

Science data lives here and nowhere else: a campaign can always be resumed from these rows.

Tables
------
campaigns      one per campaign (unique name, spec, state, level of theory)
campaign_starts the start structures of a campaign, ingested when it starts (resume needs no file)
generations    one per learning iteration of a campaign (state, its plan, timings, metrics)
structures     geometries, deduplicated by a canonical content hash (1e-6 Å)
calculations   reference results: one per (structure, level of theory)
models         fitted potentials: artifact, checksum, training calculation ids
walker_starts  where each walker of a generation starts (part of the generation's plan)
md_runs        exploration walkers of a generation: budget, confident steps, why they stopped, where they ended
candidates     explored frames of a generation: uncertainty, why kept, selected or not and as what, split

States, statuses and the candidates' categories are checked by the database (``CHECK``
constraints over the tuples below); columns with a unit carry it in their name.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from alforge.db.array_type import NumpyArray

__all__ = [
    "CALCULATION_STATUSES",
    "CAMPAIGN_STATES",
    "CANDIDATE_ORIGINS",
    "CANDIDATE_SELECTIONS",
    "Base",
    "Calculation",
    "Campaign",
    "CampaignStart",
    "Candidate",
    "Generation",
    "MDRun",
    "ModelRecord",
    "Structure",
    "WalkerStart",
    "utcnow",
]

CAMPAIGN_STATES = ("created", "running", "converged", "stopped", "failed")
GENERATION_STATES = ("running", "complete", "failed")
CALCULATION_STATUSES = ("pending", "ok", "failed", "quarantined")
SPLITS = ("train", "validation")
CANDIDATE_ORIGINS = ("seed", "sampled", "uncertain", "beyond", "guard")  # why a frame was kept
CANDIDATE_SELECTIONS = ("seed", "held-out", "uncertain", "random")  # why a kept frame was labelled


def one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    """``CHECK (column IN values)`` (NULL passes), named ``name``."""
    listed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IS NULL OR {column} IN ({listed})", name=name)


def utcnow() -> datetime:
    """Time-zone-aware current time in UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of every alforge table."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, np.ndarray: NumpyArray}


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (one_of("state", CAMPAIGN_STATES, "ck_campaigns_state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20), default="created")
    level_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    generations: Mapped[list[Generation]] = relationship(
        back_populates="campaign", order_by="Generation.index", cascade="all, delete-orphan"
    )


class CampaignStart(Base):
    """A start structure of a campaign (revision 0004): walkers and seeds read these, not the spec's file."""

    __tablename__ = "campaign_starts"
    __table_args__ = (UniqueConstraint("campaign_id", "position", name="uq_campaign_start_position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"))


class Generation(Base):
    __tablename__ = "generations"
    __table_args__ = (
        UniqueConstraint("campaign_id", "index", name="uq_generation_index"),
        one_of("state", GENERATION_STATES, "ck_generations_state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    index: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), default="running")
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The plan (revision 0004), resolved once before the walkers start; NULL until then and for
    # generation 0. Explore, select, evaluate and the dashboard read it; none recomputes it.
    threshold_eV_per_A: Mapped[float | None] = mapped_column(Float, nullable=True)
    upper_eV_per_A: Mapped[float | None] = mapped_column(Float, nullable=True)
    kappa: Mapped[float | None] = mapped_column(Float, nullable=True)
    kappa_frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    threshold_source: Mapped[str | None] = mapped_column(String(200), nullable=True)
    label_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    held_out_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # Revision 0005: MD steps per walker (NULL: planned before, ran exploration.steps).
    md_steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    campaign: Mapped[Campaign] = relationship(back_populates="generations")


class Structure(Base):
    __tablename__ = "structures"

    id: Mapped[int] = mapped_column(primary_key=True)
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    formula: Mapped[str] = mapped_column(String(200), index=True)
    n_atoms: Mapped[int] = mapped_column(Integer)
    numbers: Mapped[np.ndarray] = mapped_column(NumpyArray)
    positions: Mapped[np.ndarray] = mapped_column(NumpyArray)
    cell: Mapped[np.ndarray] = mapped_column(NumpyArray)
    pbc: Mapped[np.ndarray] = mapped_column(NumpyArray)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Calculation(Base):
    __tablename__ = "calculations"
    __table_args__ = (
        UniqueConstraint("structure_id", "level_hash", name="uq_calculation_level"),
        one_of("status", CALCULATION_STATUSES, "ck_calculations_status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    level_hash: Mapped[str] = mapped_column(String(64), index=True)
    level: Mapped[dict[str, Any]] = mapped_column(JSON)
    code: Mapped[str] = mapped_column(String(100))
    code_version: Mapped[str] = mapped_column(String(100), default="")
    method: Mapped[str] = mapped_column(String(100))
    basis: Mapped[str | None] = mapped_column(String(100), nullable=True)
    charge: Mapped[int] = mapped_column(Integer, default=0)
    spin: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="pending", index=True)
    energy_eV: Mapped[float | None] = mapped_column(Float, nullable=True)
    forces_eV_per_A: Mapped[np.ndarray | None] = mapped_column(NumpyArray, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    wall_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True, index=True)

    structure: Mapped[Structure] = relationship()


class ModelRecord(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True, index=True
    )
    generation_id: Mapped[int | None] = mapped_column(
        ForeignKey("generations.id", ondelete="CASCADE"), nullable=True, index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    level_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    artifact_path: Mapped[str] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(64))
    training_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class MDRun(Base):
    __tablename__ = "md_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"), index=True)
    walker: Mapped[int] = mapped_column(Integer)
    temperature_K: Mapped[float] = mapped_column(Float)
    start_structure_id: Mapped[int | None] = mapped_column(ForeignKey("structures.id"), nullable=True)
    steps_done: Mapped[int] = mapped_column(Integer, default=0)
    stop_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    max_uncertainty_eV_per_A: Mapped[float | None] = mapped_column(Float, nullable=True)
    wall_time_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    uncertainties_eV_per_A: Mapped[np.ndarray | None] = mapped_column(NumpyArray, nullable=True)  # m at every check
    # Added in revision 0003 (walkers that continue across generations; nullable for older rows).
    steps_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    confident_steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rewinds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    timestep_fs: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold_eV_per_A: Mapped[float | None] = mapped_column(Float, nullable=True)
    end_structure_id: Mapped[int | None] = mapped_column(
        ForeignKey("structures.id", name="fk_md_runs_end_structure_id"), nullable=True
    )
    end_velocities_A_per_fs: Mapped[np.ndarray | None] = mapped_column(NumpyArray, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def simulated_fs(self) -> float:
        """Simulated time this walker ran in its generation (fs); 0 for rows older than revision 0003."""
        return float(self.steps_done) * float(self.timestep_fs or 0.0)


class WalkerStart(Base):
    """Where a walker of a generation starts (revision 0004), resolved with the generation's plan."""

    __tablename__ = "walker_starts"
    __table_args__ = (UniqueConstraint("generation_id", "walker", name="uq_walker_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"), index=True)
    walker: Mapped[int] = mapped_column(Integer)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"))
    velocities_A_per_fs: Mapped[np.ndarray | None] = mapped_column(NumpyArray, nullable=True)  # None: fresh


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (
        UniqueConstraint("generation_id", "structure_id", name="uq_candidate_structure"),
        Index("ix_candidates_generation_selected", "generation_id", "selected"),
        one_of("origin", CANDIDATE_ORIGINS, "ck_candidates_origin"),
        one_of("selected_as", CANDIDATE_SELECTIONS, "ck_candidates_selected_as"),
        one_of("split", SPLITS, "ck_candidates_split"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    generation_id: Mapped[int] = mapped_column(ForeignKey("generations.id", ondelete="CASCADE"), index=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("structures.id"), index=True)
    md_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("md_runs.id", ondelete="SET NULL"), nullable=True
    )
    uncertainty_eV_per_A: Mapped[float | None] = mapped_column(Float, nullable=True)  # largest per-atom force std
    selected: Mapped[bool] = mapped_column(Boolean, default=False)
    origin: Mapped[str | None] = mapped_column(String(20), nullable=True)  # CANDIDATE_ORIGINS
    selected_as: Mapped[str | None] = mapped_column(String(20), nullable=True)  # CANDIDATE_SELECTIONS
    split: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    structure: Mapped[Structure] = relationship()
