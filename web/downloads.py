"""File downloads the pages and the API answer alike."""

from __future__ import annotations

from fastapi.responses import Response


def csv_attachment(content: str, filename: str) -> Response:
    """A CSV file to save, never kept by a cache (it names people and bank accounts)."""
    return Response(
        content.encode("utf-8-sig"),  # with a BOM: spreadsheet programs then read Vietnamese right
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f"attachment; filename={filename}",
            "Cache-Control": "private, no-store",
        },
    )
