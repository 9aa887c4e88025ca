"""hardening: rate-limit counters, session idle and re-authentication times, product versions,
outbox claims, NFC text

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import unicodedata
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIME = choso.db.UTCDateTime(timezone=True)
# Text written before input was NFC-normalised: normalised here so that search finds it.
NFC_COLUMNS = {
    "product": ("name", "description", "unit"),
    "organisation": ("name", "street"),
    "user_account": ("full_name", "street"),
}


def upgrade() -> None:
    _rate_limit_replaces_login_failure()
    _times_of_credentials()
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
        batch_op.create_check_constraint(
            op.f("ck_product_stock_value_capped"), "price_vnd > 0 AND stock <= 1000000000000000 / price_vnd"
        )
    with op.batch_alter_table("job_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_until", UTC_TIME, nullable=True))
        batch_op.create_index(batch_op.f("ix_job_outbox_claimed_until"), ["claimed_until"], unique=False)
    _normalise_text()


def _rate_limit_replaces_login_failure() -> None:
    op.create_table(
        "rate_limit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("window_start", UTC_TIME, nullable=False),
        sa.Column("next_allowed_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_rate_limit_key_hash")),
    )
    with op.batch_alter_table("rate_limit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rate_limit_window_start"), ["window_start"], unique=False)
    # Failures recorded under the old rule start over under the new one (they last 15 minutes).
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_failure_ip_address"))
        batch_op.drop_index(batch_op.f("ix_login_failure_failed_at"))
        batch_op.drop_index(batch_op.f("ix_login_failure_email"))
    op.drop_table("login_failure")


def _times_of_credentials() -> None:
    """New NOT NULL times start from ``created_at`` for existing sessions and tokens."""
    new_times = {
        "user_session": ("last_seen_at", "reauthenticated_at"),
        "api_token": ("last_used_at", "authenticated_at"),
    }
    for table, columns in new_times.items():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.add_column(sa.Column(column, UTC_TIME, nullable=True))
            if table == "user_session":
                batch_op.add_column(
                    sa.Column(
                        "ip_address",
                        sqlmodel.sql.sqltypes.AutoString(length=45),
                        server_default="",
                        nullable=False,
                    )
                )
                batch_op.add_column(
                    sa.Column(
                        "user_agent",
                        sqlmodel.sql.sqltypes.AutoString(length=200),
                        server_default="",
                        nullable=False,
                    )
                )
        target = sa.table(table, *(sa.column(c) for c in (*columns, "created_at")))
        op.execute(sa.update(target).values({c: target.c.created_at for c in columns}))
        with op.batch_alter_table(table, schema=None) as batch_op:
            for column in columns:
                batch_op.alter_column(column, existing_type=UTC_TIME, nullable=False)


def _normalise_text() -> None:
    connection = op.get_bind()
    for table_name, columns in NFC_COLUMNS.items():
        table = sa.table(table_name, sa.column("id"), *(sa.column(c) for c in columns))
        for row in connection.execute(sa.select(table)).all():
            values = {c: unicodedata.normalize("NFC", getattr(row, c) or "") for c in columns}
            if any(values[c] != (getattr(row, c) or "") for c in columns):
                connection.execute(sa.update(table).where(table.c.id == row.id).values(**values))


def downgrade() -> None:
    with op.batch_alter_table("job_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_outbox_claimed_until"))
        batch_op.drop_column("claimed_until")
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_product_stock_value_capped"), type_="check")
        batch_op.drop_column("version")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("authenticated_at")
        batch_op.drop_column("last_used_at")
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.drop_column("user_agent")
        batch_op.drop_column("ip_address")
        batch_op.drop_column("reauthenticated_at")
        batch_op.drop_column("last_seen_at")
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("ip_address", sqlmodel.sql.sqltypes.AutoString(length=45), nullable=False),
        sa.Column("failed_at", UTC_TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failure")),
    )
    with op.batch_alter_table("login_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_failure_email"), ["email"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failure_failed_at"), ["failed_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_failure_ip_address"), ["ip_address"], unique=False)
    with op.batch_alter_table("rate_limit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rate_limit_window_start"))
    op.drop_table("rate_limit")
