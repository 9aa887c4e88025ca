"""What every private download must answer (web.downloads): a fixed file name, never cached,
and for a CSV exactly one UTF-8 BOM."""

from __future__ import annotations

import codecs

from httpx2 import Response


def assert_private_file(response: Response, filename: str) -> None:
    assert response.status_code == 200, response.text[:300]
    assert response.headers["content-disposition"] == f'attachment; filename="{filename}"'
    assert response.headers["cache-control"] == "private, no-store"
    if filename.endswith(".csv"):
        assert response.headers["content-type"] == "text/csv; charset=utf-8"
        assert response.content.startswith(codecs.BOM_UTF8)
        assert not response.content[len(codecs.BOM_UTF8) :].startswith(codecs.BOM_UTF8)
