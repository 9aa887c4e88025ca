"""Every table of every domain package, so that metadata (and Alembic) sees them all."""

from sqlmodel import SQLModel

import choso.outbox  # noqa: F401
import market.models  # noqa: F401

metadata = SQLModel.metadata
