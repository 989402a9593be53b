"""index calculations by finish time (latest labels, concurrency audits)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 19:58:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calculations", schema=None) as batch_op:
        batch_op.create_index("ix_calculations_finished_at", ["finished_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calculations", schema=None) as batch_op:
        batch_op.drop_index("ix_calculations_finished_at")
