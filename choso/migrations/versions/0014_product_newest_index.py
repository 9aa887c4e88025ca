"""product: an index on (created_at, id), so that a search walks the newest listings and stops

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_product_created_at_id", "product", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_product_created_at_id", table_name="product")
