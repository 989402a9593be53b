"""the plan in typed columns, start structures in the database, units in column names, checked states

- ``generations`` gains the plan: ``threshold_eV_per_A``, ``upper_eV_per_A``, ``kappa``,
  ``kappa_frames``, ``threshold_source``, ``label_budget``, ``held_out_budget`` (copied from the
  ``settings["plan"]`` JSON that revision 0003's code wrote);
- ``campaign_starts`` holds each campaign's start structures (filled when a campaign next starts),
  ``walker_starts`` where each walker of a generation starts (part of the plan);
- ``md_runs.max_uncertainty`` → ``max_uncertainty_eV_per_A``, ``md_runs.uncertainties`` →
  ``uncertainties_eV_per_A``, ``candidates.uncertainty`` → ``uncertainty_eV_per_A``;
- ``candidates.reason`` (``"uncertain: guard"`` packed two ideas) → ``origin`` (why the walker
  kept the frame) and ``selected_as`` (why it was labelled);
- ``CHECK`` constraints on campaign and generation states, calculation statuses, candidate
  origins, selections and splits.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import alforge.db.array_type

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

PLAN = (
    ("threshold_eV_per_A", sa.Float()),
    ("upper_eV_per_A", sa.Float()),
    ("kappa", sa.Float()),
    ("kappa_frames", sa.Integer()),
    ("threshold_source", sa.String(200)),
    ("label_budget", sa.Integer()),
    ("held_out_budget", sa.Integer()),
)
ORIGINS = ("seed", "sampled", "uncertain", "beyond", "guard")
SELECTIONS = ("seed", "held-out", "uncertain", "random")
CHECKS = (
    ("campaigns", "ck_campaigns_state", "state", ("created", "running", "converged", "stopped", "failed")),
    ("generations", "ck_generations_state", "state", ("running", "complete", "failed")),
    ("calculations", "ck_calculations_status", "status", ("pending", "ok", "failed", "quarantined")),
    ("candidates", "ck_candidates_origin", "origin", ORIGINS),
    ("candidates", "ck_candidates_selected_as", "selected_as", SELECTIONS),
    ("candidates", "ck_candidates_split", "split", ("train", "validation")),
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IS NULL OR {column} IN ({', '.join(repr(v) for v in values)})"


def split_reason(reason: str | None, selected: bool) -> tuple[str | None, str | None]:
    """(origin, selected_as) of a revision-0003 ``reason``: ``"<why>: <origin>"`` or one word."""
    if reason is None:
        return None, None
    why, _, kept = reason.partition(": ")
    origin = kept or why
    selected_as = (why if why in SELECTIONS else None) if selected else None
    return (origin if origin in ORIGINS else None), selected_as


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("generations") as batch:
        for name, kind in PLAN:
            batch.add_column(sa.Column(name, kind, nullable=True))
    generations = sa.table("generations", sa.column("id"), sa.column("settings", sa.JSON),
                           *(sa.column(name) for name, _ in PLAN))
    for gid, settings in bind.execute(sa.select(generations.c.id, generations.c.settings)).all():
        plan = (settings or {}).get("plan") or {}
        copied = {name: plan[name] for name, _ in PLAN if plan.get(name) is not None}
        if copied:
            bind.execute(generations.update().where(generations.c.id == gid).values(**copied))

    op.create_table(
        "campaign_starts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("campaign_id", sa.Integer(), sa.ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), sa.ForeignKey("structures.id"), nullable=False),
        sa.UniqueConstraint("campaign_id", "position", name="uq_campaign_start_position"),
    )
    op.create_index("ix_campaign_starts_campaign_id", "campaign_starts", ["campaign_id"])
    op.create_table(
        "walker_starts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("generation_id", sa.Integer(), sa.ForeignKey("generations.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("walker", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), sa.ForeignKey("structures.id"), nullable=False),
        sa.Column("velocities_A_per_fs", alforge.db.array_type.NumpyArray(), nullable=True),
        sa.UniqueConstraint("generation_id", "walker", name="uq_walker_start"),
    )
    op.create_index("ix_walker_starts_generation_id", "walker_starts", ["generation_id"])

    with op.batch_alter_table("md_runs") as batch:
        batch.alter_column("max_uncertainty", new_column_name="max_uncertainty_eV_per_A")
        batch.alter_column("uncertainties", new_column_name="uncertainties_eV_per_A")

    with op.batch_alter_table("candidates") as batch:
        batch.alter_column("uncertainty", new_column_name="uncertainty_eV_per_A")
        batch.add_column(sa.Column("origin", sa.String(20), nullable=True))
        batch.add_column(sa.Column("selected_as", sa.String(20), nullable=True))
    candidates = sa.table("candidates", sa.column("id"), sa.column("reason"), sa.column("selected"),
                          sa.column("origin"), sa.column("selected_as"))
    rows = bind.execute(sa.select(candidates.c.id, candidates.c.reason, candidates.c.selected)).all()
    for cid, reason, selected in rows:
        origin, selected_as = split_reason(reason, bool(selected))
        if origin is not None or selected_as is not None:
            bind.execute(candidates.update().where(candidates.c.id == cid)
                         .values(origin=origin, selected_as=selected_as))
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("reason")

    for table, name, column, values in CHECKS:
        with op.batch_alter_table(table) as batch:
            batch.create_check_constraint(name, _one_of(column, values))


def downgrade() -> None:
    for table, name, _, _ in reversed(CHECKS):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="check")
    with op.batch_alter_table("candidates") as batch:
        batch.add_column(sa.Column("reason", sa.String(200), nullable=True))
    candidates = sa.table("candidates", sa.column("id"), sa.column("reason"), sa.column("origin"),
                          sa.column("selected_as"))
    bind = op.get_bind()
    for cid, origin, selected_as in bind.execute(
        sa.select(candidates.c.id, candidates.c.origin, candidates.c.selected_as)
    ).all():
        reason = selected_as if origin in (None, selected_as) else (
            origin if selected_as is None else f"{selected_as}: {origin}")
        bind.execute(candidates.update().where(candidates.c.id == cid).values(reason=reason))
    with op.batch_alter_table("candidates") as batch:
        batch.drop_column("selected_as")
        batch.drop_column("origin")
        batch.alter_column("uncertainty_eV_per_A", new_column_name="uncertainty")
    with op.batch_alter_table("md_runs") as batch:
        batch.alter_column("max_uncertainty_eV_per_A", new_column_name="max_uncertainty")
        batch.alter_column("uncertainties_eV_per_A", new_column_name="uncertainties")
    op.drop_index("ix_walker_starts_generation_id", table_name="walker_starts")
    op.drop_table("walker_starts")
    op.drop_index("ix_campaign_starts_campaign_id", table_name="campaign_starts")
    op.drop_table("campaign_starts")
    with op.batch_alter_table("generations") as batch:
        for name, _ in reversed(PLAN):
            batch.drop_column(name)
