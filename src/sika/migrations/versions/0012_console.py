"""Operations console: operators, their sessions, the audit log, maker-checker proposals.

Revision ID: 0012_console
Revises: 0011_statements_sms
Create Date: 2026-12-04 17:36:28.995713
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_console"
down_revision = "0011_statements_sms"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('console_audit',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('at_ns', sa.BigInteger(), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('actor_name', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=40), nullable=False),
    sa.Column('target', sa.String(length=120), server_default=sa.text("''"), nullable=False),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('address', sa.String(length=64), server_default=sa.text("''"), nullable=False),
    sa.Column('detail', sa.Text(), server_default=sa.text("'{}'"), nullable=False),
    sa.CheckConstraint("outcome IN ('ok', 'refused', 'failed')", name='ck_console_audit_outcome'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('console_audit', schema=None) as batch_op:
        batch_op.create_index('ix_console_audit_actor', ['actor', 'id'], unique=False)

    op.create_table('console_operators',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('failures', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('locked_until_ns', sa.BigInteger(), nullable=True),
    sa.Column('totp_secret', sa.String(length=64), nullable=True),
    sa.Column('totp_last_step', sa.BigInteger(), nullable=True),
    sa.Column('disabled_at_ns', sa.BigInteger(), nullable=True),
    sa.Column('created_at_ns', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("role IN ('viewer', 'operator', 'approver')", name='ck_console_operators_role'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('console_proposals',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('params', sa.Text(), nullable=False),
    sa.Column('summary', sa.String(length=200), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('maker', sa.String(length=40), nullable=False),
    sa.Column('maker_name', sa.String(length=80), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('checker', sa.String(length=40), nullable=True),
    sa.Column('checker_name', sa.String(length=80), nullable=True),
    sa.Column('movement_id', sa.String(length=40), nullable=True),
    sa.Column('error_code', sa.String(length=40), nullable=True),
    sa.Column('created_at_ns', sa.BigInteger(), nullable=False),
    sa.Column('decided_at_ns', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('proposed', 'approving', 'executed', 'failed', 'rejected')", name='ck_console_proposals_status'),
    sa.CheckConstraint('amount > 0', name='ck_console_proposals_amount'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('console_proposals', schema=None) as batch_op:
        batch_op.create_index('ix_console_proposals_status', ['status', 'created_at_ns'], unique=False)

    op.create_table('console_sessions',
    sa.Column('token_digest', sa.String(length=64), nullable=False),
    sa.Column('actor', sa.String(length=40), nullable=False),
    sa.Column('actor_name', sa.String(length=80), nullable=False),
    sa.Column('role', sa.String(length=12), nullable=False),
    sa.Column('csrf_token', sa.String(length=64), nullable=False),
    sa.Column('language', sa.String(length=5), server_default=sa.text("'fr'"), nullable=False),
    sa.Column('created_at_ns', sa.BigInteger(), nullable=False),
    sa.Column('last_seen_ns', sa.BigInteger(), nullable=False),
    sa.Column('expires_at_ns', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('token_digest')
    )
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_console_sessions_expiry', ['expires_at_ns'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('console_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_console_sessions_expiry')

    op.drop_table('console_sessions')
    with op.batch_alter_table('console_proposals', schema=None) as batch_op:
        batch_op.drop_index('ix_console_proposals_status')

    op.drop_table('console_proposals')
    op.drop_table('console_operators')
    with op.batch_alter_table('console_audit', schema=None) as batch_op:
        batch_op.drop_index('ix_console_audit_actor')

    op.drop_table('console_audit')
