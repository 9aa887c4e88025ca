"""ledger: balance slots, so that a hot account is not one row every writer locks

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_balance_slot",
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("balance_vnd", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["ledger_account.id"],
            name=op.f("fk_ledger_balance_slot_account_id_ledger_account"),
        ),
        sa.PrimaryKeyConstraint("account_id", "slot", name=op.f("pk_ledger_balance_slot")),
    )


def downgrade() -> None:
    op.drop_table("ledger_balance_slot")
