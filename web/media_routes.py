"""Serving indexed files and their thumbnails, by catalog id only.

No part of the request path ever reaches the file system: the id is an integer and the file is
whatever path the catalog holds for it. Responses carry ``nosniff`` and a sandboxing CSP, so an
indexed HTML or SVG file cannot run script in this origin.
"""

from __future__ import annotations

import mimetypes
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, Response
from PIL import Image
from starlette.concurrency import run_in_threadpool

from retrieval.errors import MediaError
from retrieval.results import ItemDetail
from web.deps import EngineDep, SettingsDep
from web.errors import ApiError
from web.schemas import ERROR_RESPONSES
from web.thumbs import icon_svg, keyframe_start, make_thumbnail, make_video_thumbnail

if TYPE_CHECKING:
    from retrieval.engine import Engine

router = APIRouter()

ItemId = Annotated[int, PathParam(ge=0, le=2**63 - 1, description="The item's catalog id")]

_SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, max-age=300",
}
_TEXT_TYPES = {".pdf": "application/pdf"}
_RANGE_SPEC = re.compile(r"\s*(\d*)\s*-\s*(\d*)\s*")


def media_type_for(kind: str, path: Path) -> str:
    """The content type to serve: by suffix for media, plain text for every text document."""
    if kind == "text":
        return _TEXT_TYPES.get(path.suffix.lower(), "text/plain; charset=utf-8")
    guessed, _ = mimetypes.guess_type(path.name)
    if guessed and guessed.split("/")[0] == kind:
        return guessed
    return "application/octet-stream"


def check_range(header: str | None, size: int) -> None:
    """Answer a bad ``Range`` header with the JSON error shape before FileResponse sees it.

    FileResponse serves good ranges itself but answers bad ones in plain text. RFC 9110 14.1:
    ``bytes=`` then comma-separated ``first-last``, ``first-`` or ``-suffix``; malformed is 400,
    and a header none of whose ranges overlaps the file is 416 with ``Content-Range: bytes */size``.
    """
    if not header:
        return
    malformed = ApiError(400, "bad_range", "malformed Range header; use bytes=start-end")
    unit, equals, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not equals:
        raise malformed
    satisfiable = False
    for spec in specs.split(","):
        m = _RANGE_SPEC.fullmatch(spec)
        if m is None or not (m[1] or m[2]) or (m[1] and m[2] and int(m[2]) < int(m[1])):
            raise malformed
        satisfiable |= int(m[1]) < size if m[1] else int(m[2]) > 0 and size > 0
    if not satisfiable:
        raise ApiError(416, "range_not_satisfiable",
                       f"requested range is outside the file's {size} bytes",
                       headers={"Content-Range": f"bytes */{size}"})


def indexed_file(engine: Engine, item_id: int) -> tuple[Path, ItemDetail, int]:
    """The item's file as it was indexed, with its details and current size.

    Refused (404) when the file no longer looks like what was indexed: a different size, or a
    path whose last component has become a link to a file the catalog does not hold for this
    item (someone with write access to an indexed folder swapping a photo for a link to a
    secret). Runs in a worker thread: it touches the catalog and the disk.
    """
    detail = engine.item(item_id)
    path = engine.media_path(item_id)
    gone = ApiError(404, "not_found", f"the file of item {item_id} changed since it was indexed")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise gone from exc
    if detail.size is not None and size != detail.size:
        raise gone
    if path.is_symlink() and engine.item_id_for_path(path.resolve()) != item_id:
        raise gone
    return path, detail, size


@router.get("/media/{item_id}", responses=ERROR_RESPONSES, response_class=FileResponse)
async def get_media(engine: EngineDep, item_id: ItemId, request: Request) -> Response:
    """The original file of an indexed item; supports HTTP Range so audio can be scrubbed."""
    path, detail, size = await run_in_threadpool(indexed_file, engine, item_id)
    check_range(request.headers.get("range"), size)
    return FileResponse(
        path,
        media_type=media_type_for(detail.type, path),
        headers=_SAFE_HEADERS,
        content_disposition_type="inline",
        filename=path.name,
    )


@router.get("/thumbs/{item_id}", responses=ERROR_RESPONSES)
async def get_thumb(
    engine: EngineDep,
    settings: SettingsDep,
    item_id: ItemId,
    t: Annotated[
        float | None, Query(ge=0, le=1e7, description="Video: the keyframe on screen then")
    ] = None,
) -> Response:
    """A JPEG thumbnail for image items and video moments (made once, then cached); an SVG
    icon for others."""
    detail = await run_in_threadpool(engine.item, item_id)
    if detail.type == "video":
        return await _video_thumb(engine, settings.data_dir / "thumbs", detail, t)
    if detail.type != "image":
        return Response(icon_svg(detail.type), media_type="image/svg+xml", headers=_SAFE_HEADERS)
    source, _, _ = await run_in_threadpool(indexed_file, engine, item_id)
    try:
        thumb = await run_in_threadpool(
            make_thumbnail, settings.data_dir / "thumbs", item_id, source
        )
    except (OSError, ValueError, MediaError, Image.DecompressionBombError) as exc:
        raise ApiError(422, "bad_media", f"cannot make a thumbnail of item {item_id}") from exc
    return FileResponse(thumb, media_type="image/jpeg", headers=_SAFE_HEADERS)


async def _video_thumb(
    engine: Engine, cache: Path, detail: ItemDetail, seconds: float | None
) -> Response:
    source, _, _ = await run_in_threadpool(indexed_file, engine, detail.id)
    start = keyframe_start(detail, seconds)
    try:
        thumb = await run_in_threadpool(make_video_thumbnail, cache, detail.id, source, start)
    except (OSError, MediaError) as exc:
        raise ApiError(422, "bad_media", f"cannot show item {detail.id} at {start:.1f} s") from exc
    return FileResponse(thumb, media_type="image/jpeg", headers=_SAFE_HEADERS)
