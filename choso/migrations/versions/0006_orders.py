"""orders: carts, checkouts, orders and their timeline, delivery options, product photos,
folded search columns (with a trigram index on PostgreSQL), the platform organisation kind

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

import re
import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KINDS_BEFORE = "kind IN ('producer', 'agency')"
KINDS_AFTER = "kind IN ('producer', 'agency', 'platform')"


def upgrade() -> None:
    _organisation_kinds(KINDS_BEFORE, KINDS_AFTER)
    op.create_index(
        "uq_organisation_platform",
        "organisation",
        ["kind"],
        unique=True,
        postgresql_where=sa.text("kind = 'platform'"),
        sqlite_where=sa.text("kind = 'platform'"),
    )
    _search_columns()
    _tables()


def _organisation_kinds(before: str, after: str) -> None:
    """Change the CHECK on organisation.kind. SQLite cannot alter a CHECK, and rebuilding the
    table would need foreign keys off (impossible inside this transaction) because so many
    tables refer to it; SQLite documents editing the stored CREATE TABLE text instead, for
    changes that every existing row already satisfies (section 7 of its ALTER TABLE page)."""
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_organisation_kind"), "organisation", type_="check")
        op.create_check_constraint(op.f("ck_organisation_kind"), "organisation", after)
        return
    stored = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'organisation'"
    ).scalar_one()
    if stored.count(before) != 1:
        raise RuntimeError(f"organisation's CHECK on kind is not {before!r}: {stored}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'organisation'",
        (before, after),
    )
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def _fold(text: str) -> str:
    """market.search.fold as of this revision (frozen here: a migration must not change)."""
    text = text.translate(str.maketrans({"đ": "d", "Đ": "d", "ð": "d", "Ð": "d"}))
    bare = "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))
    folded = " ".join(re.sub(r"[\W_]+", " ", bare.casefold()).split())
    return f" {folded} " if folded else " "


def _search_columns() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_folded", sa.Text(), server_default=" ", nullable=False))
        batch_op.add_column(sa.Column("search_folded", sa.Text(), server_default=" ", nullable=False))
    bind = op.get_bind()
    columns = ("id", "name", "description", "name_folded", "search_folded")
    product = sa.table("product", *(sa.column(c) for c in columns))
    for row in bind.execute(sa.select(product.c.id, product.c.name, product.c.description)).all():
        bind.execute(
            sa.update(product)
            .where(product.c.id == row.id)
            .values(name_folded=_fold(row.name), search_folded=_fold(f"{row.name} {row.description or ''}"))
        )
    if bind.dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # PostgreSQL: trigram GIN serving LIKE '% word%'. SQLite has no such index; there it is an
    # empty partial index, so that both backends have the models' schema.
    op.create_index(
        "ix_product_search_folded_trgm",
        "product",
        ["search_folded"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_folded": "gin_trgm_ops"},
        sqlite_where=sa.text("0"),
    )


def _tables() -> None:
    op.create_table(
        "delivery_option",
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("offers_delivery", sa.Boolean(), nullable=False),
        sa.Column("delivery_fee_vnd", sa.BigInteger(), nullable=False),
        sa.Column("pickup_note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("delivery_fee_vnd >= 0", name=op.f("ck_delivery_option_fee_non_negative")),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisation.id"],
            name=op.f("fk_delivery_option_organisation_id_organisation"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_delivery_option")),
    )

    op.create_table(
        "cart_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("price_seen_vnd", sa.BigInteger(), nullable=False),
        sa.Column("added_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("quantity > 0", name=op.f("ck_cart_item_quantity_positive")),
        sa.ForeignKeyConstraint(["product_id"], ["product.id"], name=op.f("fk_cart_item_product_id_product")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_cart_item_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cart_item")),
        sa.UniqueConstraint("user_id", "product_id", name="uq_cart_item_user_product"),
    )

    with op.batch_alter_table("cart_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cart_item_product_id"), ["product_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_cart_item_user_id"), ["user_id"], unique=False)

    op.create_table(
        "product_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("storage_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("widths", sa.JSON(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_product_photo_product_id_product")
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"], ["user_account.id"], name=op.f("fk_product_photo_uploaded_by_id_user_account")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_photo")),
        sa.UniqueConstraint("storage_key", name=op.f("uq_product_photo_storage_key")),
    )

    with op.batch_alter_table("product_photo", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_photo_product_id"), ["product_id"], unique=False)

    op.create_table(
        "checkout",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("total_vnd", sa.BigInteger(), nullable=False),
        sa.Column("payment_request_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["user_account.id"], name=op.f("fk_checkout_buyer_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["payment_request_id"],
            ["payment_request.id"],
            name=op.f("fk_checkout_payment_request_id_payment_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_checkout")),
        sa.UniqueConstraint("buyer_id", "idempotency_key", name="uq_checkout_idempotency"),
    )

    with op.batch_alter_table("checkout", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_checkout_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_checkout_payment_request_id"), ["payment_request_id"], unique=False
        )

    op.create_table(
        "customer_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkout_id", sa.Integer(), nullable=False),
        sa.Column("buyer_id", sa.Integer(), nullable=False),
        sa.Column("producer_id", sa.Integer(), nullable=False),
        sa.Column("payment_request_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stock_state", sa.String(length=10), nullable=False),
        sa.Column("subtotal_vnd", sa.BigInteger(), nullable=False),
        sa.Column("delivery_fee_vnd", sa.BigInteger(), nullable=False),
        sa.Column("total_vnd", sa.BigInteger(), nullable=False),
        sa.Column("commission_vnd", sa.BigInteger(), nullable=False),
        sa.Column("delivery_method", sa.String(length=10), nullable=False),
        sa.Column("delivery_ward_code", sa.Integer(), nullable=True),
        sa.Column("delivery_street", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("contact_phone", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("buyer_note", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("tracking_note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("paid_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "delivery_method IN ('pickup', 'delivery')", name=op.f("ck_customer_order_delivery_method")
        ),
        sa.CheckConstraint(
            "status IN ('pending_payment', 'paid', 'accepted', 'shipped', 'delivered', 'completed', 'cancelled', 'rejected', 'expired')",
            name=op.f("ck_customer_order_status"),
        ),
        sa.CheckConstraint(
            "stock_state IN ('reserved', 'consumed', 'released')", name=op.f("ck_customer_order_stock_state")
        ),
        sa.CheckConstraint(
            "subtotal_vnd > 0 AND delivery_fee_vnd >= 0", name=op.f("ck_customer_order_amounts")
        ),
        sa.CheckConstraint(
            "total_vnd = subtotal_vnd + delivery_fee_vnd", name=op.f("ck_customer_order_total")
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"], ["user_account.id"], name=op.f("fk_customer_order_buyer_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["checkout_id"], ["checkout.id"], name=op.f("fk_customer_order_checkout_id_checkout")
        ),
        sa.ForeignKeyConstraint(
            ["payment_request_id"],
            ["payment_request.id"],
            name=op.f("fk_customer_order_payment_request_id_payment_request"),
        ),
        sa.ForeignKeyConstraint(
            ["producer_id"], ["organisation.id"], name=op.f("fk_customer_order_producer_id_organisation")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customer_order")),
    )

    with op.batch_alter_table("customer_order", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_customer_order_buyer_id"), ["buyer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_order_checkout_id"), ["checkout_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_customer_order_delivered_at"), ["delivered_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_customer_order_payment_request_id"), ["payment_request_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customer_order_producer_id"), ["producer_id"], unique=False)
        batch_op.create_index(
            "ix_customer_order_producer_status", ["producer_id", "status", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_customer_order_status"), ["status"], unique=False)

    op.create_table(
        "order_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("to_status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("actor_user_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("note", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_user_id"], ["user_account.id"], name=op.f("fk_order_event_actor_user_id_user_account")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["customer_order.id"], name=op.f("fk_order_event_order_id_customer_order")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_event")),
    )

    with op.batch_alter_table("order_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_event_order_id"), ["order_id"], unique=False)

    op.create_table(
        "order_line",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("product_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("unit", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("unit_price_vnd", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=False),
        sa.Column("line_total_vnd", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("quantity > 0 AND unit_price_vnd > 0", name=op.f("ck_order_line_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["customer_order.id"], name=op.f("fk_order_line_order_id_customer_order")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["product.id"], name=op.f("fk_order_line_product_id_product")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_order_line")),
    )

    with op.batch_alter_table("order_line", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_line_order_id"), ["order_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_order_line_product_id"), ["product_id"], unique=False)


def downgrade() -> None:
    for table, indexes in (
        ("order_line", ("ix_order_line_product_id", "ix_order_line_order_id")),
        ("order_event", ("ix_order_event_order_id",)),
        (
            "customer_order",
            (
                "ix_customer_order_status",
                "ix_customer_order_producer_status",
                "ix_customer_order_producer_id",
                "ix_customer_order_payment_request_id",
                "ix_customer_order_delivered_at",
                "ix_customer_order_checkout_id",
                "ix_customer_order_buyer_id",
            ),
        ),
        ("checkout", ("ix_checkout_payment_request_id", "ix_checkout_buyer_id")),
        ("product_photo", ("ix_product_photo_product_id",)),
        ("cart_item", ("ix_cart_item_user_id", "ix_cart_item_product_id")),
        ("delivery_option", ()),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
    op.drop_index("ix_product_search_folded_trgm", table_name="product")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("search_folded")
        batch_op.drop_column("name_folded")
    op.drop_index("uq_organisation_platform", table_name="organisation")
    _organisation_kinds(KINDS_AFTER, KINDS_BEFORE)
