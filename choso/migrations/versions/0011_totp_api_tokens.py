"""accounts: TOTP two-factor authentication (secrets, recovery codes, half-authenticated
logins) and personal API tokens

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_challenge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("target", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_login_challenge_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_challenge")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_login_challenge_token_hash")),
    )
    with op.batch_alter_table("login_challenge", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_login_challenge_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_login_challenge_user_id"), ["user_id"], unique=False)

    op.create_table(
        "totp_credential",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("secret_encrypted", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("confirmed_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_totp_credential_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_totp_credential")),
        sa.UniqueConstraint("user_id", name=op.f("uq_totp_credential_user_id")),
    )
    op.create_table(
        "totp_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("used_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_totp_recovery_code_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_totp_recovery_code")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_totp_recovery_code_code_hash")),
    )
    with op.batch_alter_table("totp_recovery_code", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_totp_recovery_code_user_id"), ["user_id"], unique=False)

    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("personal", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("personal")

    with op.batch_alter_table("totp_recovery_code", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_totp_recovery_code_user_id"))

    op.drop_table("totp_recovery_code")
    op.drop_table("totp_credential")
    with op.batch_alter_table("login_challenge", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_challenge_user_id"))
        batch_op.drop_index(batch_op.f("ix_login_challenge_expires_at"))

    op.drop_table("login_challenge")
