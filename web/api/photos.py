"""Product photos (JSON API): producers upload the raw image as the request body.

`POST /products/{id}/photos` with `Content-Type: image/jpeg`, `image/png` or `image/webp` and
the file as the body (at most 5 MB; 413 beyond, counted as it arrives). The photo is decoded
and re-encoded; the answer lists the URLs of its renditions, served with a year-long cache.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from choso.i18n import N_
from market import photos
from market.models import ProductPhoto, Role, User
from web.api.schemas import ErrorOut
from web.bodylimit import allow_larger_bodies
from web.deps import DB, ObjectId, api_role

router = APIRouter(tags=["catalogue"])
Producer = Annotated[User, Depends(api_role(Role.PRODUCER))]
UPLOAD_PATH = r"/api/v1/products/[0-9]+/photos"
allow_larger_bodies(UPLOAD_PATH, photos.MAX_BYTES)


class PhotoOut(BaseModel):
    id: int
    product_id: int
    width: int
    height: int
    urls: dict[int, str]

    @classmethod
    def of(cls, photo: ProductPhoto) -> PhotoOut:
        return cls(
            id=photo.id or 0,
            product_id=photo.product_id,
            width=photo.width,
            height=photo.height,
            urls={width: photo_url(photo, width) for width in photo.widths},
        )


def photo_url(photo: ProductPhoto, width: int) -> str:
    return f"/media/photos/{photo.id}/{width}.jpg"


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit`` bytes."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise photos.PhotoTooLarge(N_("A photo may be at most 5 MB."))
        chunks.append(chunk)
    return b"".join(chunks)


@router.get("/products/{product_id}/photos", response_model=list[PhotoOut])
def list_photos(product_id: ObjectId, session: DB) -> list[PhotoOut]:
    return [PhotoOut.of(p) for p in photos.list_photos(session, product_id)]


@router.post(
    "/products/{product_id}/photos",
    status_code=201,
    response_model=PhotoOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("image/jpeg", "image/png", "image/webp")
            },
        }
    },
    responses={
        409: {"model": ErrorOut, "description": "The product has 6 photos already"},
        413: {"model": ErrorOut, "description": "More than 5 MB"},
        415: {"model": ErrorOut, "description": "Not JPEG, PNG or WebP"},
    },
)
async def upload_photo(
    product_id: ObjectId,
    request: Request,
    user: Producer,
    session: DB,
    content_type: Annotated[str, Header(max_length=100)],
) -> PhotoOut:
    """Add a photo to one of the caller's products (at most 6 per product). Non-images,
    files hiding another document (422 `polyglot_file`) and decompression bombs (422
    `decompression_bomb`) are refused."""
    if content_type.split(";")[0].strip().lower() not in ("image/jpeg", "image/png", "image/webp"):
        raise photos.UnsupportedImage(N_("Only JPEG, PNG and WebP photos are accepted."))
    data = await read_limited(request, photos.MAX_BYTES)
    photo = await run_in_threadpool(photos.add_photo, session, user, product_id, data)
    return PhotoOut.of(photo)


@router.delete("/products/{product_id}/photos/{photo_id}", status_code=204)
def delete_photo(product_id: ObjectId, photo_id: ObjectId, user: Producer, session: DB) -> Response:
    photos.delete_photo(session, user, product_id, photo_id)
    return Response(status_code=204)
