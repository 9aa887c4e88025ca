"""Every table of the kernel and of every domain package, so that metadata (and Alembic) sees them all."""

from sqlmodel import SQLModel

import choso.audit
import choso.observability
import choso.outbox
import choso.pilots  # noqa: F401
from choso.domains import import_models

import_models()
metadata = SQLModel.metadata
