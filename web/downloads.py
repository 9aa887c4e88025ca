"""File downloads the pages and the API answer alike.

Rule: every download that names people, organisations' money or bank accounts goes through
:func:`file_attachment` (a CSV through :func:`csv_attachment`): saved as a file under a fixed
name, ``Cache-Control: private, no-store`` so that no shared or browser cache keeps it. A CSV is
UTF-8 with a BOM, so that spreadsheet programs read the Vietnamese letters right; every CSV of
Choso has one, and the tests read them as ``utf-8-sig``. The open data (web.api.opendata) is
public and meant to be cached, and keeps its own headers.
"""

from __future__ import annotations

import codecs
import re

from fastapi.responses import Response

CSV = "text/csv; charset=utf-8"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def file_attachment(body: bytes, filename: str, media_type: str) -> Response:
    """A file to save under ``filename`` (letters, digits, ``.``, ``_``, ``-``), never cached."""
    if not _SAFE_NAME.match(filename):  # our own names only; nothing typed reaches a header
        raise ValueError(f"unsafe download name {filename!r}")
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
        },
    )


def csv_attachment(content: str | bytes, filename: str, *, bom: bool = True) -> Response:
    """A CSV file to save, never kept by a cache. Text is encoded as UTF-8; bytes are taken as
    UTF-8 already. With ``bom`` (the default) the file starts with exactly one BOM, whether or
    not the content had one; ``bom=False`` is for a machine format that must not have one
    (none so far)."""
    body = content.encode("utf-8") if isinstance(content, str) else content
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8) :]
    return file_attachment(codecs.BOM_UTF8 + body if bom else body, filename, CSV)
