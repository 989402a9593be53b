"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-21 19:42:45.638057
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import alforge.db.array_type

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaigns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('level_hash', sa.String(length=64), nullable=True),
    sa.Column('message', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('structures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.Column('formula', sa.String(length=200), nullable=False),
    sa.Column('n_atoms', sa.Integer(), nullable=False),
    sa.Column('numbers', alforge.db.array_type.NumpyArray(), nullable=False),
    sa.Column('positions', alforge.db.array_type.NumpyArray(), nullable=False),
    sa.Column('cell', alforge.db.array_type.NumpyArray(), nullable=False),
    sa.Column('pbc', alforge.db.array_type.NumpyArray(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('hash')
    )
    with op.batch_alter_table('structures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_structures_formula'), ['formula'], unique=False)

    op.create_table('calculations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('level_hash', sa.String(length=64), nullable=False),
    sa.Column('level', sa.JSON(), nullable=False),
    sa.Column('code', sa.String(length=100), nullable=False),
    sa.Column('code_version', sa.String(length=100), nullable=False),
    sa.Column('method', sa.String(length=100), nullable=False),
    sa.Column('basis', sa.String(length=100), nullable=True),
    sa.Column('charge', sa.Integer(), nullable=False),
    sa.Column('spin', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('energy_eV', sa.Float(), nullable=True),
    sa.Column('forces_eV_per_A', alforge.db.array_type.NumpyArray(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('wall_time_s', sa.Float(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['structure_id'], ['structures.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('structure_id', 'level_hash', name='uq_calculation_level')
    )
    with op.batch_alter_table('calculations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_calculations_level_hash'), ['level_hash'], unique=False)
        batch_op.create_index(batch_op.f('ix_calculations_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_calculations_structure_id'), ['structure_id'], unique=False)

    op.create_table('generations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('settings', sa.JSON(), nullable=False),
    sa.Column('timings', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('flow_run_id', sa.String(length=64), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('campaign_id', 'index', name='uq_generation_index')
    )
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_generations_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('md_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('walker', sa.Integer(), nullable=False),
    sa.Column('temperature_K', sa.Float(), nullable=False),
    sa.Column('start_structure_id', sa.Integer(), nullable=True),
    sa.Column('steps_done', sa.Integer(), nullable=False),
    sa.Column('stop_reason', sa.String(length=200), nullable=True),
    sa.Column('max_uncertainty', sa.Float(), nullable=True),
    sa.Column('wall_time_s', sa.Float(), nullable=True),
    sa.Column('uncertainties', alforge.db.array_type.NumpyArray(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['generation_id'], ['generations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['start_structure_id'], ['structures.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('md_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_md_runs_generation_id'), ['generation_id'], unique=False)

    op.create_table('models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign_id', sa.Integer(), nullable=True),
    sa.Column('generation_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('level_hash', sa.String(length=64), nullable=True),
    sa.Column('hyperparameters', sa.JSON(), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('artifact_path', sa.Text(), nullable=False),
    sa.Column('checksum', sa.String(length=64), nullable=False),
    sa.Column('training_ids', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['campaign_id'], ['campaigns.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['generation_id'], ['generations.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_models_campaign_id'), ['campaign_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_models_generation_id'), ['generation_id'], unique=False)

    op.create_table('candidates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation_id', sa.Integer(), nullable=False),
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('md_run_id', sa.Integer(), nullable=True),
    sa.Column('uncertainty', sa.Float(), nullable=True),
    sa.Column('selected', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('split', sa.String(length=20), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['generation_id'], ['generations.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['md_run_id'], ['md_runs.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['structure_id'], ['structures.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('generation_id', 'structure_id', name='uq_candidate_structure')
    )
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_candidates_generation_id'), ['generation_id'], unique=False)
        batch_op.create_index('ix_candidates_generation_selected', ['generation_id', 'selected'], unique=False)
        batch_op.create_index(batch_op.f('ix_candidates_structure_id'), ['structure_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('candidates', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_candidates_structure_id'))
        batch_op.drop_index('ix_candidates_generation_selected')
        batch_op.drop_index(batch_op.f('ix_candidates_generation_id'))

    op.drop_table('candidates')
    with op.batch_alter_table('models', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_models_generation_id'))
        batch_op.drop_index(batch_op.f('ix_models_campaign_id'))

    op.drop_table('models')
    with op.batch_alter_table('md_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_md_runs_generation_id'))

    op.drop_table('md_runs')
    with op.batch_alter_table('generations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_generations_campaign_id'))

    op.drop_table('generations')
    with op.batch_alter_table('calculations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_calculations_structure_id'))
        batch_op.drop_index(batch_op.f('ix_calculations_status'))
        batch_op.drop_index(batch_op.f('ix_calculations_level_hash'))

    op.drop_table('calculations')
    with op.batch_alter_table('structures', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_structures_formula'))

    op.drop_table('structures')
    op.drop_table('campaigns')
