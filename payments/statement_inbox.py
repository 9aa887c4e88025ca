"""The statement inbox: a folder per bank account where files dropped by a bank's export (or an
SFTP sync) are imported by a periodic job.

Layout: ``<inbox>/<bank_account_id>/<file>`` (``CHOSO_STATEMENT_INBOX``, by default
``<data_dir>/statements/inbox``). A file is taken once it has not changed for a few seconds
(a copy still being written is left for the next scan); hidden files and ``*.part``/``*.tmp``
are never taken. Each file is stored like an upload (:func:`payments.statements.submit`, so the
same file twice is one statement) and then moved aside into ``done/`` — or ``rejected/`` with a
``.reason`` file beside it when it cannot be stored (too large, empty, unknown account). A
crash between storing and moving only means the next scan finds the stored statement again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from choso.db import utcnow
from choso.errors import DomainError
from choso.settings import get_settings
from payments import statements

log = logging.getLogger(__name__)
SETTLE_SECONDS = 5.0  # a file younger than this may still be being written
_SKIPPED_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")


@dataclass(frozen=True)
class InboxResult:
    queued: int
    already_known: int
    rejected: int


def inbox_dir() -> Path:
    settings = get_settings()
    return settings.statement_inbox or settings.data_dir / "statements" / "inbox"


def scan(
    session: Session, *, root: Path | None = None, settle_seconds: float = SETTLE_SECONDS
) -> InboxResult:
    """Store and move every settled file of every account folder (each file commits alone)."""
    root = root or inbox_dir()
    queued = known = rejected = 0
    if not root.is_dir():
        return InboxResult(0, 0, 0)
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name.isdecimal()):
        for path in sorted(_ready_files(folder, settle_seconds)):
            outcome = _take(session, int(folder.name), path)
            queued += outcome == "queued"
            known += outcome == "known"
            rejected += outcome == "rejected"
    return InboxResult(queued, known, rejected)


def _ready_files(folder: Path, settle_seconds: float) -> list[Path]:
    now = time.time()
    return [
        path
        for path in folder.iterdir()
        if path.is_file()
        and not path.name.startswith(".")
        and not path.name.lower().endswith(_SKIPPED_SUFFIXES)
        and now - path.stat().st_mtime >= settle_seconds
    ]


def _take(session: Session, account_id: int, path: Path) -> str:
    try:
        data = path.read_bytes()
        _statement, new = statements.submit(
            session, None, account_id, data, filename=path.name, source="inbox"
        )
    except DomainError as error:
        session.rollback()
        _move(path, "rejected", reason=error.message)
        return "rejected"
    except OSError as error:  # vanished or unreadable: the next scan sees it again, or not
        log.warning("statement inbox: cannot read %s: %s", path, error)
        return "skipped"
    _move(path, "done")
    return "queued" if new else "known"


def _move(path: Path, into: str, *, reason: str = "") -> None:
    target_dir = path.parent / into
    target_dir.mkdir(exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    target = target_dir / f"{stamp}-{path.name}"
    path.replace(target)
    if reason:
        target.with_name(target.name + ".reason").write_text(reason + "\n", encoding="utf-8")
