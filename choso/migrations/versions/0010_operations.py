"""operations: pilots (the sandbox for new services) and failed jobs (for the operators' dashboard)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import choso.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "job_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("task_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("request_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job_failure")),
    )
    with op.batch_alter_table("job_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_failure_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_job_failure_task"), ["task"], unique=False)

    op.create_table(
        "pilot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column("description", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("ward_codes", sa.JSON(), nullable=False),
        sa.Column("organisation_ids", sa.JSON(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("ended_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ended_by_id", sa.Integer(), nullable=True),
        sa.Column("graduated_at", choso.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", choso.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("starts_on <= ends_on", name=op.f("ck_pilot_window")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pilot")),
    )
    with op.batch_alter_table("pilot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pilot_service"), ["service"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("pilot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pilot_service"))

    op.drop_table("pilot")
    with op.batch_alter_table("job_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_failure_task"))
        batch_op.drop_index(batch_op.f("ix_job_failure_at"))

    op.drop_table("job_failure")
