"""the plan gains the generation's MD length: a generation that would confirm convergence runs longer

``generations.md_steps``: MD steps per walker planned for the generation (``NULL`` for
generations planned before this revision, which ran ``exploration.steps``).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("md_steps", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("generations", schema=None) as batch_op:
        batch_op.drop_column("md_steps")
