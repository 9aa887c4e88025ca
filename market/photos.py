"""Product photos: checked, decoded and re-encoded, never stored as uploaded.

Rules:

* at most MAX_PHOTOS per product, each upload at most MAX_BYTES, only JPEG, PNG or WebP;
* a file is refused (4xx, with a stable code) when it is not an image, is another format,
  holds another document as well (a *polyglot*: a ZIP, HTML, script or PDF inside or after
  the image, or bytes after a PNG's or WebP's end), or would decode to more than MAX_PIXELS
  (a *decompression bomb*, refused from the header, before any pixel is decoded);
* what is kept is new: the first frame, turned upright by its EXIF orientation, converted to
  sRGB, re-encoded as progressive JPEG at each of WIDTHS narrower than the original and at
  its own width (at most the largest of WIDTHS), with no metadata at all (EXIF, GPS, XMP,
  ICC, comments: gone);
* files live in a :class:`PhotoStorage` under a random key (the directory implementation
  keeps them under CHOSO_MEDIA_DIR, default ``<data_dir>/media``); a photo's files never
  change, so they are served with a year-long immutable cache lifetime.

:func:`process` is pure (bytes in, renditions out); the use cases around it commit.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from choso.db import lock_rows
from choso.errors import Conflict, DomainError, InvalidInput, NotFound, PermissionDenied
from choso.i18n import N_
from choso.settings import get_settings
from market.models import Product, ProductPhoto, Role, User

MAX_PHOTOS = 6
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000  # 8000 × 5000: more than any phone camera, far below a bomb
WIDTHS = (320, 640, 1280)
FORMATS = {"JPEG", "PNG", "WEBP"}
JPEG_QUALITY = 82
_KEY = re.compile(r"[0-9a-f]{32}")


class PhotoTooLarge(DomainError):
    status_code = 413
    code = "too_large"


class NotAnImage(InvalidInput):
    code = "not_an_image"


class UnsupportedImage(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class PolyglotFile(InvalidInput):
    code = "polyglot_file"


class DecompressionBomb(InvalidInput):
    code = "decompression_bomb"


class TooManyPhotos(Conflict):
    code = "too_many_photos"


# --- checking and re-encoding (pure) ------------------------------------------------------------

# Other documents that must not ride along inside an image. Text markers are matched in any
# case; each is long enough that compressed image data contains it by chance almost never.
_TEXT_MARKERS = (b"<?php", b"<script", b"<html", b"<!doctype", b"<iframe", b"<body", b"javascript:")
_BINARY_MARKERS = (
    b"%PDF-",
    b"PK\x03\x04\x14\x00",
    b"PK\x03\x04\x0a\x00",
    b"PK\x03\x04\x2d\x00",
    b"\x7fELF\x02\x01",
)
_ZIP_END = b"PK\x05\x06"  # a ZIP reader looks for this near the end of the file


def hidden_document(data: bytes) -> bool:
    """Whether ``data`` also carries another kind of document (pure)."""
    lowered = data.lower()
    if any(marker in lowered for marker in _TEXT_MARKERS):
        return True
    if any(marker in data for marker in _BINARY_MARKERS):
        return True
    return _ZIP_END in data[-(65_536 + 22) :]


def trailing_bytes(data: bytes, image_format: str) -> bool:
    """Whether a PNG or WebP goes on after its own end (pure; JPEG cameras append data)."""
    if image_format == "PNG":
        end = data.rfind(b"IEND")
        return end < 0 or len(data) > end + 8  # the chunk type, then its 4-byte CRC
    if image_format == "WEBP":
        declared = int.from_bytes(data[4:8], "little") + 8
        return len(data) > declared + (declared % 2)
    return False


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    data: bytes


def _open(data: bytes) -> Image.Image:
    if len(data) > MAX_BYTES:
        raise PhotoTooLarge(N_("A photo may be at most 5 MB."))
    if hidden_document(data):
        raise PolyglotFile(N_("This file hides another document inside the image; it was refused."))
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=None)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise DecompressionBomb(N_("This image has too many pixels.")) from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            raise NotAnImage(N_("This file is not a photo (JPEG, PNG or WebP).")) from None
    if image.format not in FORMATS:
        raise UnsupportedImage(N_("Only JPEG, PNG and WebP photos are accepted."))
    if image.width * image.height > MAX_PIXELS:
        raise DecompressionBomb(N_("This image has too many pixels."))
    if trailing_bytes(data, image.format):
        raise PolyglotFile(N_("This file hides another document inside the image; it was refused."))
    return image


def _decoded(image: Image.Image) -> Image.Image:
    """The first frame, upright, in sRGB, opaque (on white), with no metadata left."""
    try:
        image.seek(0)
        image.load()
        icc = image.info.get("icc_profile")
        upright = ImageOps.exif_transpose(image)
        if upright.mode not in ("RGB", "RGBA", "L", "LA", "P", "CMYK"):
            raise NotAnImage(N_("This file is not a photo (JPEG, PNG or WebP)."))
        rgba = upright.convert("RGBA")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise NotAnImage(N_("This file is not a photo (JPEG, PNG or WebP).")) from None
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return _to_srgb(flat, icc)


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    if not icc:
        return image
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(image, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError):
        return image  # an unreadable profile: keep the pixels as they are


def process(data: bytes) -> list[Rendition]:
    """Check an upload and re-encode it at each width (see the module's rules)."""
    image = _decoded(_open(data))
    # each fixed width narrower than the original, and the original up to the largest: never upscaled
    widths = sorted({w for w in WIDTHS if w < image.width} | {min(image.width, WIDTHS[-1])})
    renditions = []
    for width in widths:
        height = max(1, round(image.height * width / image.width))
        resized = image if width == image.width else image.resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        resized.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        renditions.append(Rendition(width, height, out.getvalue()))
    return renditions


# --- storage ------------------------------------------------------------------------------------


class PhotoStorage(Protocol):
    """Where renditions live; an object store can replace the directory."""

    def save(self, key: str, width: int, data: bytes) -> None: ...

    def load(self, key: str, width: int) -> bytes | None: ...

    def delete(self, key: str) -> None: ...


class DirectoryStorage:
    """Renditions as files ``<root>/<key[:2]>/<key>/<width>.jpg``, written atomically."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _folder(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError("not a photo storage key")
        return self.root / key[:2] / key

    def save(self, key: str, width: int, data: bytes) -> None:
        folder = self._folder(key)
        folder.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, folder / f"{int(width)}.jpg")

    def load(self, key: str, width: int) -> bytes | None:
        path = self._folder(key) / f"{int(width)}.jpg"
        return path.read_bytes() if path.is_file() else None

    def delete(self, key: str) -> None:
        folder = self._folder(key)
        for path in folder.glob("*"):
            path.unlink(missing_ok=True)
        if folder.is_dir():
            folder.rmdir()


def storage() -> PhotoStorage:
    settings = get_settings()
    return DirectoryStorage((settings.media_dir or settings.data_dir / "media") / "photos")


# --- use cases ----------------------------------------------------------------------------------


def _own_product(session: Session, user: User, product_id: int) -> Product:
    if user.role != Role.PRODUCER or user.organisation_id is None:
        raise PermissionDenied(N_("Only producers can do this."))
    product = session.get(Product, product_id)
    if product is None or product.producer_id != user.organisation_id:
        raise NotFound(N_("No such product."))
    return product


def _count(session: Session, product_id: int) -> int:
    return int(session.exec(select(func.count()).where(ProductPhoto.product_id == product_id)).one())


def _full() -> TooManyPhotos:
    return TooManyPhotos(
        N_("A product has at most %(max)s photos: delete one first."), params={"max": MAX_PHOTOS}
    )


def add_photo(session: Session, user: User, product_id: int, data: bytes) -> ProductPhoto:
    """Add a photo to one of the caller's products (checked, re-encoded, stored)."""
    _own_product(session, user, product_id)
    if _count(session, product_id) >= MAX_PHOTOS:
        raise _full()
    session.rollback()  # decoding takes a while: hold no transaction meanwhile
    renditions = process(data)
    key, files = secrets.token_hex(16), storage()
    for rendition in renditions:
        files.save(key, rendition.width, rendition.data)
    try:
        return _record(session, user, product_id, key, renditions)
    except BaseException:
        session.rollback()
        files.delete(key)
        raise


def _record(
    session: Session, user: User, product_id: int, key: str, renditions: list[Rendition]
) -> ProductPhoto:
    lock_rows(session, Product, [product_id])  # concurrent uploads count one after the other
    if _count(session, product_id) >= MAX_PHOTOS:
        raise _full()
    largest = renditions[-1]
    photo = ProductPhoto(
        product_id=product_id,
        storage_key=key,
        widths=[r.width for r in renditions],
        width=largest.width,
        height=largest.height,
        uploaded_by_id=user.id,
    )
    session.add(photo)
    try:
        session.commit()
    except IntegrityError:
        raise NotFound(N_("No such product.")) from None
    return photo


def list_photos(session: Session, product_id: int) -> list[ProductPhoto]:
    return list(
        session.exec(
            select(ProductPhoto).where(ProductPhoto.product_id == product_id).order_by(col(ProductPhoto.id))
        )
    )


def delete_photo(session: Session, user: User, product_id: int, photo_id: int) -> None:
    _own_product(session, user, product_id)
    photo = session.get(ProductPhoto, photo_id)
    if photo is None or photo.product_id != product_id:
        raise NotFound(N_("No such photo."))
    key = photo.storage_key
    session.delete(photo)
    session.commit()
    storage().delete(key)


def rendition(session: Session, photo_id: int, width: int) -> tuple[ProductPhoto, bytes]:
    """A photo's file at ``width`` (one of its widths), for serving."""
    photo = session.get(ProductPhoto, photo_id)
    data = storage().load(photo.storage_key, width) if photo is not None and width in photo.widths else None
    if photo is None or data is None:
        raise NotFound(N_("No such photo."))
    return photo, data
