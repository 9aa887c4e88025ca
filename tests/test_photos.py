"""Product photos: re-encoded with nothing hidden kept, fixed widths, long cache, and every bad
file refused with a clear 4xx (non-images, other formats, polyglots, bombs, oversize, a
seventh photo), through the API and the producer's page."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, select

from market import photos
from market.models import ProductPhoto
from tests.shop_helpers import Producer, producer
from tests.support import csrf_from, page_login

# --- images made here ---------------------------------------------------------------------------


def jpeg(width: int = 1600, height: int = 1200, *, exif: bool = True, orientation: int = 1) -> bytes:
    image = Image.new("RGB", (width, height), (200, 120, 40))
    for x in range(0, width, 7):  # some detail, so that the encoder has work to do
        image.putpixel((x, (x * 3) % height), (10, 200, 90))
    info = Image.Exif()
    if exif:
        info[0x010F] = "Samsung"  # Make
        info[0x0131] = "Camera v1"  # Software
        info[0x0112] = orientation
        gps = {1: "N", 2: (19.0, 48.0, 27.0), 3: "E", 4: (105.0, 46.0, 35.0)}
        info[0x8825] = gps  # GPSInfo: where the producer lives
    out = io.BytesIO()
    image.save(out, "JPEG", exif=info.tobytes(), comment=b"secret comment")
    return out.getvalue()


def png(width: int = 800, height: int = 600, *, text: str | None = None, alpha: bool = False) -> bytes:
    from PIL import PngImagePlugin

    image = Image.new(
        "RGBA" if alpha else "RGB", (width, height), (0, 120, 200, 128) if alpha else (0, 120, 200)
    )
    meta = PngImagePlugin.PngInfo()
    if text is not None:
        meta.add_text("Comment", text)
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=meta)
    return out.getvalue()


def webp(width: int = 700, height: int = 500) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (90, 90, 20)).save(out, "WEBP")
    return out.getvalue()


def png_bomb(width: int = 20_000, height: int = 20_000) -> bytes:
    """A valid PNG header declaring 400 megapixels, with a few bytes of data: decoding it would
    take gigabytes."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\x00" * (1 + 3 * width) * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("shell.php", "<?php system($_GET['c']); ?>")
    return out.getvalue()


# --- the pure core ------------------------------------------------------------------------------


def test_renditions_have_no_metadata_and_fixed_widths() -> None:
    renditions = photos.process(jpeg(1600, 1200))
    assert [r.width for r in renditions] == [320, 640, 1280]
    for rendition in renditions:
        image = Image.open(io.BytesIO(rendition.data))
        assert image.format == "JPEG" and image.width == rendition.width
        assert image.height == round(1200 * rendition.width / 1600)
        assert not image.getexif() and "exif" not in image.info and "icc_profile" not in image.info
        assert b"Samsung" not in rendition.data and b"secret comment" not in rendition.data


def test_small_images_are_never_upscaled() -> None:
    assert [r.width for r in photos.process(png(500, 400))] == [320, 500]
    assert [r.width for r in photos.process(png(200, 100))] == [200]


def test_exif_orientation_is_applied_before_it_is_dropped() -> None:
    upright = photos.process(jpeg(800, 400, orientation=6))[-1]  # "rotate 90° clockwise to view"
    assert (upright.width, upright.height) == (400, 800)


@pytest.mark.parametrize("make", [lambda: png(alpha=True), webp, lambda: png(text="Hạc Thành")])
def test_png_with_transparency_and_webp_are_accepted(make: Callable[[], bytes]) -> None:
    rendition = photos.process(make())[0]
    assert Image.open(io.BytesIO(rendition.data)).mode == "RGB"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"just some text, not a photo", photos.NotAnImage),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, photos.NotAnImage),  # a JPEG header and nothing else
        (jpeg()[:2000], photos.NotAnImage),  # truncated
        (png_bomb(), photos.DecompressionBomb),
        (jpeg() + zip_bytes(), photos.PolyglotFile),  # a ZIP after the image
        (png(text="<?php system($_GET['c']); ?>"), photos.PolyglotFile),  # PHP in a text chunk
        (png() + b"<html><script>alert(1)</script>", photos.PolyglotFile),
        (png() + b"\x00" * 64, photos.PolyglotFile),  # anything after a PNG's end
        (jpeg(exif=False)[:-2] + b"%PDF-1.7\n" + jpeg(exif=False)[-2:], photos.PolyglotFile),
        (b"\x00" * (photos.MAX_BYTES + 1), photos.PhotoTooLarge),
    ],
)
def test_bad_files_are_refused(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        photos.process(data)


def test_other_image_formats_are_refused() -> None:
    out = io.BytesIO()
    Image.new("RGB", (50, 50)).save(out, "GIF")
    with pytest.raises(photos.UnsupportedImage):
        photos.process(out.getvalue())


# --- through the API ----------------------------------------------------------------------------


def upload(
    client: TestClient, farm: Producer, data: bytes, content_type: str = "image/jpeg", product: int = 0
):  # type: ignore[no-untyped-def]
    product_id = farm.products[product].id
    return client.post(
        f"/api/v1/products/{product_id}/photos",
        content=data,
        headers={**farm.headers, "Content-Type": content_type},
    )


def test_upload_serve_list_and_delete(client: TestClient, db: Session) -> None:
    farm = producer(10_000)
    response = upload(client, farm, jpeg())
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body["urls"]) == {"320", "640", "1280"}
    served = client.get(body["urls"]["640"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert (
        "immutable" in served.headers["cache-control"]
        and "max-age=31536000" in served.headers["cache-control"]
    )
    assert Image.open(io.BytesIO(served.content)).width == 640
    assert b"Samsung" not in served.content
    listed = client.get(f"/api/v1/products/{farm.products[0].id}/photos").json()
    assert [p["id"] for p in listed] == [body["id"]]
    page = client.get(f"/products/{farm.products[0].id}")
    assert f"/media/photos/{body['id']}/320.jpg" in page.text
    stored = db.exec(select(ProductPhoto)).one()
    folder = photos.storage().root / stored.storage_key[:2] / stored.storage_key  # type: ignore[attr-defined]
    assert sorted(p.name for p in folder.iterdir()) == ["1280.jpg", "320.jpg", "640.jpg"]
    deleted = client.delete(
        f"/api/v1/products/{farm.products[0].id}/photos/{body['id']}", headers=farm.headers
    )
    assert deleted.status_code == 204
    assert client.get(body["urls"]["640"]).status_code == 404
    assert not folder.exists()


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        (b"hello", "image/jpeg", 422, "not_an_image"),
        (png_bomb(), "image/png", 422, "decompression_bomb"),
        (jpeg() + zip_bytes(), "image/jpeg", 422, "polyglot_file"),
        (jpeg(), "image/gif", 415, "unsupported_media_type"),
        (jpeg(), "text/html", 415, "unsupported_media_type"),
        (b"\x00" * (photos.MAX_BYTES + 1), "image/jpeg", 413, "too_large"),
    ],
)
def test_bad_uploads_get_a_clear_4xx(
    client: TestClient, db: Session, data: bytes, content_type: str, status: int, code: str
) -> None:
    farm = producer(10_000)
    response = upload(client, farm, data, content_type)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert db.exec(select(ProductPhoto)).all() == []


def test_a_streamed_upload_is_cut_off_past_the_limit(client: TestClient, db: Session) -> None:
    farm = producer(10_000)

    def endless() -> object:
        for _ in range(12):  # 6 MiB, chunked: no Content-Length to refuse up front
            yield b"\xff" * (512 * 1024)

    response = client.post(
        f"/api/v1/products/{farm.products[0].id}/photos",
        content=endless(),  # type: ignore[arg-type]
        headers={**farm.headers, "Content-Type": "image/jpeg"},
    )
    assert response.status_code == 413
    assert db.exec(select(ProductPhoto)).all() == []


def test_uploads_above_the_app_limit_but_within_the_photo_limit_pass(client: TestClient) -> None:
    farm = producer(10_000)
    noise = Image.frombytes("RGB", (1500, 1000), bytes((i * 7919) % 251 for i in range(1500 * 1000 * 3)))
    out = io.BytesIO()
    noise.save(out, "JPEG", quality=98)
    big = out.getvalue()
    assert 1024 * 1024 < len(big) < photos.MAX_BYTES  # over the 1 MiB of other requests
    assert upload(client, farm, big).status_code == 201


def test_at_most_six_photos_per_product(client: TestClient) -> None:
    farm = producer(10_000)
    small = webp(400, 300)
    for _ in range(photos.MAX_PHOTOS):
        assert upload(client, farm, small, "image/webp").status_code == 201
    seventh = upload(client, farm, small, "image/webp")
    assert seventh.status_code == 409 and seventh.json()["error"]["code"] == "too_many_photos"


# --- the producer's page ------------------------------------------------------------------------


def test_the_photo_page_uploads_with_csrf_and_shows_errors(make_client: Callable[[], TestClient]) -> None:
    farm = producer(10_000)
    browser = make_client()
    assert page_login(browser, farm.owner.email).status_code == 303
    path = f"/shop/products/{farm.products[0].id}/photos"
    token = csrf_from(browser.get(path))
    sent = browser.post(
        path,
        data={"csrf_token": token},
        files={"photo": ("a.jpg", jpeg(), "image/jpeg")},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "/media/photos/" in browser.get(path).text
    refused = browser.post(
        path, data={"csrf_token": token}, files={"photo": ("x.jpg", b"nope", "image/jpeg")}
    )
    assert refused.status_code == 422 and "JPEG" in refused.text
    forged = browser.post(path, files={"photo": ("a.jpg", jpeg(), "image/jpeg")})
    assert forged.status_code == 403


def test_another_producers_photo_page_is_404(make_client: Callable[[], TestClient]) -> None:
    farm, other = producer(10_000), producer(10_000)
    browser = make_client()
    page_login(browser, other.owner.email)
    assert browser.get(f"/shop/products/{farm.products[0].id}/photos").status_code == 404
