"""matching market: supply and demand posts, clearing rounds, proposals, explanations

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 13:50:53.946618
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clearing_round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=10), nullable=False),
        sa.Column("slot", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("started_by_id", sa.Integer(), nullable=True),
        sa.Column("supply_posts", sa.Integer(), nullable=False),
        sa.Column("demand_posts", sa.Integer(), nullable=False),
        sa.Column("compatible_pairs", sa.Integer(), nullable=False),
        sa.Column("proposals", sa.Integer(), nullable=False),
        sa.Column("matched_quantity", sa.BigInteger(), nullable=False),
        sa.Column("welfare_vnd", sa.BigInteger(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("instance", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("category_prices", sa.JSON(), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("trigger IN ('schedule', 'operator')", name=op.f("ck_clearing_round_trigger")),
        sa.ForeignKeyConstraint(
            ["started_by_id"], ["user_account.id"], name=op.f("fk_clearing_round_started_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clearing_round")),
        sa.UniqueConstraint("slot", name=op.f("uq_clearing_round_slot")),
    )
    op.create_table(
        "market_post",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=True),
        sa.Column("grade", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("limit_price_vnd", sa.BigInteger(), nullable=False),
        sa.Column("window_from", sa.Date(), nullable=False),
        sa.Column("window_to", sa.Date(), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("location_source", sa.String(length=20), nullable=False),
        sa.Column("ward_code", sa.Integer(), nullable=True),
        sa.Column("max_distance_km", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("committed_quantity", sa.BigInteger(), nullable=False),
        sa.Column("filled_quantity", sa.BigInteger(), nullable=False),
        sa.Column("sales_product_id", sa.Integer(), nullable=True),
        sa.Column("last_round_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(side = 'demand') = (max_distance_km IS NOT NULL)",
            name=op.f("ck_market_post_max_distance_for_demand"),
        ),
        sa.CheckConstraint(
            "location_source IN ('given', 'user', 'organisation', 'province')",
            name=op.f("ck_market_post_location_source"),
        ),
        sa.CheckConstraint("side IN ('supply', 'demand')", name=op.f("ck_market_post_side")),
        sa.CheckConstraint("status IN ('open', 'withdrawn', 'filled')", name=op.f("ck_market_post_status")),
        sa.CheckConstraint(
            "committed_quantity >= 0 AND filled_quantity >= 0 AND committed_quantity + filled_quantity <= quantity",
            name=op.f("ck_market_post_quantities"),
        ),
        sa.CheckConstraint("quantity > 0 AND limit_price_vnd > 0", name=op.f("ck_market_post_positive")),
        sa.CheckConstraint("window_to >= window_from", name=op.f("ck_market_post_window")),
        sa.ForeignKeyConstraint(
            ["last_round_id"], ["clearing_round.id"], name=op.f("fk_market_post_last_round_id_clearing_round")
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"], ["organisation.id"], name=op.f("fk_market_post_organisation_id_organisation")
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"], ["user_account.id"], name=op.f("fk_market_post_owner_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_market_post_product_id_product")
        ),
        sa.ForeignKeyConstraint(
            ["sales_product_id"], ["product.id"], name=op.f("fk_market_post_sales_product_id_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_post")),
    )
    with op.batch_alter_table("market_post", schema=None) as batch_op:
        batch_op.create_index("ix_market_post_open", ["status", "side", "category"], unique=False)
        batch_op.create_index(batch_op.f("ix_market_post_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_market_post_owner_user_id"), ["owner_user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_market_post_product_id"), ["product_id"], unique=False)

    op.create_table(
        "match_explanation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("post_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("matched", sa.BigInteger(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("limit_vnd", sa.BigInteger(), nullable=True),
        sa.Column("counterparty_post_id", sa.Integer(), nullable=True),
        sa.Column("distance_km", sa.Float(), nullable=True),
        sa.Column("transport_vnd", sa.BigInteger(), nullable=True),
        sa.Column("price_vnd", sa.BigInteger(), nullable=True),
        sa.Column("nearest", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["market_post.id"], name=op.f("fk_match_explanation_post_id_market_post")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["clearing_round.id"], name=op.f("fk_match_explanation_round_id_clearing_round")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_explanation")),
        sa.UniqueConstraint("round_id", "post_id", name="uq_match_explanation_round_post"),
    )
    with op.batch_alter_table("match_explanation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_match_explanation_post_id"), ["post_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_match_explanation_round_id"), ["round_id"], unique=False)

    op.create_table(
        "match_proposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("supply_post_id", sa.Integer(), nullable=False),
        sa.Column("demand_post_id", sa.Integer(), nullable=False),
        sa.Column("supply_version", sa.Integer(), nullable=False),
        sa.Column("demand_version", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price_vnd", sa.BigInteger(), nullable=False),
        sa.Column("transport_vnd", sa.BigInteger(), nullable=False),
        sa.Column("distance_km", sa.Float(), nullable=False),
        sa.Column("supply_limit_vnd", sa.BigInteger(), nullable=False),
        sa.Column("demand_limit_vnd", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("seller_accepted_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("buyer_accepted_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("declined_by", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("expires_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("returned_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('proposed', 'seller_accepted', 'buyer_accepted', 'ordered', 'declined', 'expired', 'stale')",
            name=op.f("ck_match_proposal_status"),
        ),
        sa.CheckConstraint(
            "quantity > 0 AND price_vnd > 0 AND transport_vnd >= 0", name=op.f("ck_match_proposal_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["demand_post_id"], ["market_post.id"], name=op.f("fk_match_proposal_demand_post_id_market_post")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["customer_order.id"], name=op.f("fk_match_proposal_order_id_customer_order")
        ),
        sa.ForeignKeyConstraint(
            ["round_id"], ["clearing_round.id"], name=op.f("fk_match_proposal_round_id_clearing_round")
        ),
        sa.ForeignKeyConstraint(
            ["supply_post_id"], ["market_post.id"], name=op.f("fk_match_proposal_supply_post_id_market_post")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_match_proposal")),
    )
    with op.batch_alter_table("match_proposal", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_match_proposal_demand_post_id"), ["demand_post_id"], unique=False
        )
        batch_op.create_index("ix_match_proposal_live", ["status", "expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_match_proposal_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_match_proposal_round_id"), ["round_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_match_proposal_supply_post_id"), ["supply_post_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("match_proposal", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_proposal_supply_post_id"))
        batch_op.drop_index(batch_op.f("ix_match_proposal_round_id"))
        batch_op.drop_index(batch_op.f("ix_match_proposal_order_id"))
        batch_op.drop_index("ix_match_proposal_live")
        batch_op.drop_index(batch_op.f("ix_match_proposal_demand_post_id"))

    op.drop_table("match_proposal")
    with op.batch_alter_table("match_explanation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_match_explanation_round_id"))
        batch_op.drop_index(batch_op.f("ix_match_explanation_post_id"))

    op.drop_table("match_explanation")
    with op.batch_alter_table("market_post", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_market_post_product_id"))
        batch_op.drop_index(batch_op.f("ix_market_post_owner_user_id"))
        batch_op.drop_index(batch_op.f("ix_market_post_organisation_id"))
        batch_op.drop_index("ix_market_post_open")

    op.drop_table("market_post")
    op.drop_table("clearing_round")
