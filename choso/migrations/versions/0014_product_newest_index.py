"""product: an index on (created_at, id), so that a search walks the newest listings and stops;
a trigram index on the folded name, so that the name matches of a many-word query are read alone

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_product_created_at_id", "product", ["created_at", "id"])
    # As ix_product_search_folded_trgm (0006): an empty partial index on SQLite.
    op.create_index(
        "ix_product_name_folded_trgm",
        "product",
        ["name_folded"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name_folded": "gin_trgm_ops"},
        sqlite_where=sa.text("0"),
    )


def downgrade() -> None:
    op.drop_index("ix_product_name_folded_trgm", table_name="product")
    op.drop_index("ix_product_created_at_id", table_name="product")
