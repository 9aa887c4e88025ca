"""A VietQR payload drawn as a QR code, PNG or SVG, returned as bytes (the caller stores or serves them).

Rule: error correction level M (15 % of the symbol may be damaged or covered, what bank apps
scan reliably from paper and screens) and the standard 4-module quiet zone; the payload is
drawn as given, byte for byte, so a scanner reads back exactly what was encoded.
"""

from __future__ import annotations

import io
from typing import Literal

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage
from qrcode.image.svg import SvgPathImage

ImageFormat = Literal["png", "svg"]
FORMATS: tuple[ImageFormat, ...] = ("png", "svg")
MEDIA_TYPES: dict[ImageFormat, str] = {"png": "image/png", "svg": "image/svg+xml"}


def _symbol(payload: str, box_size: int, border: int) -> qrcode.QRCode:
    if not payload:
        raise ValueError("nothing to draw: the payload is empty")
    symbol = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=border
    )
    symbol.add_data(payload, optimize=0)  # one segment: the payload's bytes exactly
    symbol.make(fit=True)
    return symbol


def render_png(payload: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """PNG bytes of the QR code for ``payload``; ``box_size`` pixels per module."""
    image = _symbol(payload, box_size, border).make_image(image_factory=PilImage)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def render_svg(payload: str, *, box_size: int = 10, border: int = 4) -> bytes:
    """SVG bytes (one path, scalable) of the QR code for ``payload``."""
    image = _symbol(payload, box_size, border).make_image(image_factory=SvgPathImage)
    buffer = io.BytesIO()
    image.save(buffer)
    return buffer.getvalue()


def render(payload: str, image_format: ImageFormat) -> bytes:
    """The QR code for ``payload`` in ``image_format`` ("png" or "svg")."""
    if image_format == "png":
        return render_png(payload)
    if image_format == "svg":
        return render_svg(payload)
    raise ValueError(f"image format must be png or svg, got {image_format!r}")
