"""web.downloads: one BOM whatever the content had, fixed names only, never cached; and the fee
upload template, the one download no other test fetches."""

from __future__ import annotations

import codecs

import pytest
from fastapi.testclient import TestClient

from fees import bulk
from tests import factories
from tests.downloads_helpers import assert_private_file
from tests.support import page_login
from web.downloads import csv_attachment


@pytest.mark.parametrize(
    "content",
    [
        "a,b\r\nà,ễ\r\n",
        "\ufeffa,b\r\nà,ễ\r\n",
        "a,b\r\nà,ễ\r\n".encode(),
        codecs.BOM_UTF8 + "a,b\r\nà,ễ\r\n".encode(),
    ],
)
def test_a_csv_has_exactly_one_bom(content: str | bytes) -> None:
    response = csv_attachment(content, "x.csv")
    assert response.body == codecs.BOM_UTF8 + "a,b\r\nà,ễ\r\n".encode()
    assert response.headers["cache-control"] == "private, no-store"
    assert response.headers["content-disposition"] == 'attachment; filename="x.csv"'
    assert csv_attachment(content, "x.csv", bom=False).body == "a,b\r\nà,ễ\r\n".encode()


@pytest.mark.parametrize("name", ['a".csv', "a\r\nSet-Cookie: x.csv", "../a.csv", "", "tệp.csv"])
def test_only_plain_file_names_reach_the_header(name: str) -> None:
    with pytest.raises(ValueError):
        csv_attachment("a", name)


def test_the_fee_upload_template_is_a_private_csv(client: TestClient) -> None:
    _agency, officer = factories.staff("agency")
    assert page_login(client, officer.email).status_code == 303
    response = client.get("/fees/bulk/template.csv")
    assert_private_file(response, "mau-thong-bao-phi.csv")
    assert response.content.decode("utf-8-sig").splitlines()[0].split(",") == list(bulk.TEMPLATE_HEADER)
