"""Payments: agents, merchants, movements, vouchers, approvals, inflow meters, outbox, callbacks.

Revision ID: 0006_payments
Revises: 0005_idempotency
Create Date: 2026-11-22 01:10:48.500000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_payments"
down_revision = "0005_idempotency"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "pay_outbox",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_ns", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'delivered', 'failed')", name="ck_pay_outbox_status"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("pay_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_pay_outbox_due", ["status", "next_attempt_ns"], unique=False)
        batch_op.create_index("ix_pay_outbox_msisdn", ["msisdn", "id"], unique=False)

    op.create_table(
        "pay_agents",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("msisdn", sa.String(length=16), nullable=True),
        sa.Column("api_key_id", sa.BigInteger(), nullable=False),
        sa.Column("float_account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["auth_api_keys.id"],
        ),
        sa.ForeignKeyConstraint(
            ["float_account_id"],
            ["ledger_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("api_key_id"),
        sa.UniqueConstraint("float_account_id"),
    )
    op.create_table(
        "pay_merchants",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("api_key_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("callback_url", sa.String(length=500), nullable=True),
        sa.Column("callback_secret", sa.String(length=80), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["auth_api_keys.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id"),
        sa.UniqueConstraint("api_key_id"),
    )
    op.create_table(
        "pay_system_accounts",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.PrimaryKeyConstraint("name"),
        sa.UniqueConstraint("account_id"),
    )
    op.create_table(
        "pay_approvals",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("merchant_id", sa.BigInteger(), nullable=True),
        sa.Column("description", sa.String(length=140), server_default=sa.text("('')"), nullable=False),
        sa.Column("merchant_reference", sa.String(length=64), nullable=True),
        sa.Column("movement_id", sa.String(length=40), nullable=True),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'declined', 'expired', 'failed')",
            name="ck_pay_approvals_status",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["pay_agents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["wallet_customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["pay_merchants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pay_approvals", schema=None) as batch_op:
        batch_op.create_index("ix_pay_approvals_customer", ["customer_id", "status"], unique=False)

    op.create_table(
        "pay_callbacks",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("dedupe_key", sa.String(length=120), nullable=False),
        sa.Column("merchant_id", sa.BigInteger(), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_ns", sa.BigInteger(), nullable=False),
        sa.Column("lease_until_ns", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=200), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("delivered_at_ns", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('queued', 'delivered', 'failed')", name="ck_pay_callbacks_status"),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["pay_merchants.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("pay_callbacks", schema=None) as batch_op:
        batch_op.create_index("ix_pay_callbacks_due", ["status", "next_attempt_ns"], unique=False)

    op.create_table(
        "pay_inflow_meters",
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_accounts.id"],
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("customer_id", "month"),
        sa.UniqueConstraint("account_id"),
    )
    op.create_table(
        "pay_movements",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("commission", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payer_customer_id", sa.BigInteger(), nullable=True),
        sa.Column("payee_customer_id", sa.BigInteger(), nullable=True),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column("merchant_id", sa.BigInteger(), nullable=True),
        sa.Column("counterparty", sa.String(length=64), nullable=True),
        sa.Column("provider", sa.String(length=20), nullable=True),
        sa.Column("product", sa.String(length=40), nullable=True),
        sa.Column("provider_reference", sa.String(length=80), nullable=True),
        sa.Column("legs", sa.Text(), nullable=False),
        sa.Column("details", sa.Text(), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("deadline_ns", sa.BigInteger(), nullable=True),
        sa.Column("created_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ns", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "status IN ('processing', 'pending', 'completed', 'failed', 'refunded')",
            name="ck_pay_movements_status",
        ),
        sa.CheckConstraint("amount > 0", name="ck_pay_movements_amount"),
        sa.CheckConstraint("fee >= 0 AND commission >= 0", name="ck_pay_movements_fee"),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["pay_agents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["pay_merchants.id"],
        ),
        sa.ForeignKeyConstraint(
            ["payee_customer_id"],
            ["wallet_customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["payer_customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("pay_movements", schema=None) as batch_op:
        batch_op.create_index("ix_pay_movements_payee", ["payee_customer_id", "created_at_ns"], unique=False)
        batch_op.create_index("ix_pay_movements_payer", ["payer_customer_id", "created_at_ns"], unique=False)
        batch_op.create_index("ix_pay_movements_status", ["status", "deadline_ns"], unique=False)

    op.create_table(
        "pay_vouchers",
        sa.Column("movement_id", sa.String(length=40), nullable=False),
        sa.Column("recipient_msisdn", sa.String(length=16), nullable=False),
        sa.Column("sender_customer_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("failed_tries", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("expires_at_ns", sa.BigInteger(), nullable=False),
        sa.Column("settled_by", sa.String(length=40), nullable=True),
        sa.CheckConstraint("status IN ('held', 'claimed', 'refunded')", name="ck_pay_vouchers_status"),
        sa.ForeignKeyConstraint(
            ["movement_id"],
            ["pay_movements.id"],
        ),
        sa.ForeignKeyConstraint(
            ["sender_customer_id"],
            ["wallet_customers.id"],
        ),
        sa.PrimaryKeyConstraint("movement_id"),
    )
    with op.batch_alter_table("pay_vouchers", schema=None) as batch_op:
        batch_op.create_index("ix_pay_vouchers_expiry", ["status", "expires_at_ns"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pay_vouchers_recipient_msisdn"), ["recipient_msisdn"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("pay_vouchers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pay_vouchers_recipient_msisdn"))
        batch_op.drop_index("ix_pay_vouchers_expiry")

    op.drop_table("pay_vouchers")
    with op.batch_alter_table("pay_movements", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_movements_status")
        batch_op.drop_index("ix_pay_movements_payer")
        batch_op.drop_index("ix_pay_movements_payee")

    op.drop_table("pay_movements")
    op.drop_table("pay_inflow_meters")
    with op.batch_alter_table("pay_callbacks", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_callbacks_due")

    op.drop_table("pay_callbacks")
    with op.batch_alter_table("pay_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_approvals_customer")

    op.drop_table("pay_approvals")
    op.drop_table("pay_system_accounts")
    op.drop_table("pay_merchants")
    op.drop_table("pay_agents")
    with op.batch_alter_table("pay_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_pay_outbox_msisdn")
        batch_op.drop_index("ix_pay_outbox_due")

    op.drop_table("pay_outbox")
