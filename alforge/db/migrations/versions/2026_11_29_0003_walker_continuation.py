"""walkers continue across generations: step budget, confident steps, rewinds and end state

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import alforge.db.array_type

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("md_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("steps_budget", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("confident_steps", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("rewinds", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("timestep_fs", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("threshold_eV_per_A", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("end_structure_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("end_velocities_A_per_fs", alforge.db.array_type.NumpyArray(), nullable=True))
        batch_op.create_foreign_key("fk_md_runs_end_structure_id", "structures", ["end_structure_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("md_runs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_md_runs_end_structure_id", type_="foreignkey")
        for column in ("end_velocities_A_per_fs", "end_structure_id", "threshold_eV_per_A", "timestep_fs",
                       "rewinds", "confident_steps", "steps_budget"):
            batch_op.drop_column(column)
