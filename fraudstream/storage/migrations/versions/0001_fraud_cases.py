"""The fraud case table: one row a flagged transaction, and the customer's answer.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fraud_cases",
        sa.Column("transaction_id", sa.String(), primary_key=True),
        sa.Column("step", sa.Integer()),
        sa.Column("event_time", sa.DateTime(timezone=True)),
        sa.Column("type", sa.String()),
        sa.Column("amount", sa.Double()),
        sa.Column("name_orig", sa.String()),
        sa.Column("name_dest", sa.String()),
        sa.Column("old_balance_orig", sa.Double()),
        sa.Column("new_balance_orig", sa.Double()),
        sa.Column("customer_email", sa.String()),
        sa.Column("detector", sa.String()),
        sa.Column("score", sa.Double()),
        sa.Column("status", sa.String(), nullable=False, server_default="pending"),
        sa.Column("flagged_at", sa.DateTime(timezone=True)),
        sa.Column("answered_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint(
            "status IN ('pending', 'confirmed_fraud', 'not_fraud')", name="ck_fraud_cases_status"
        ),
    )
    op.create_index("ix_fraud_cases_open", "fraud_cases", ["status", "flagged_at"])
    op.create_index("ix_fraud_cases_customer", "fraud_cases", ["name_orig", "flagged_at"])
    op.create_index("ix_fraud_cases_answered", "fraud_cases", ["answered_at"])


def downgrade() -> None:
    op.drop_table("fraud_cases")
