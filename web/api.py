"""The read-only JSON API: search, items, similar items, stats and health.

Every engine call runs in a worker thread: encoding a query or transcribing a voice question
takes long enough that running it on the event loop would stall every other request.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import anyio
from fastapi import APIRouter, Depends, File, Form, Path, UploadFile
from fastapi import Query as Param
from starlette.concurrency import run_in_threadpool

from retrieval import __version__
from retrieval.results import ItemType, Query, SearchResponse, Stats
from web.deps import EngineDep, LimiterDep
from web.errors import ApiError
from web.filter_params import Filters, form_filters, query_filters
from web.schemas import (
    ERROR_RESPONSES,
    Health,
    WebItemDetail,
    WebSearchResponse,
    item_with_urls,
    with_urls,
)
from web.uploads import read_media

if TYPE_CHECKING:
    from retrieval.engine import Engine

router = APIRouter()

MAX_QUERY_CHARS = 2000
MAX_ID = 2**63 - 1  # SQLite's INTEGER range; larger ids would overflow inside the catalog
TYPES: tuple[ItemType, ...] = ("image", "audio", "text", "video")

ItemId = Annotated[int, Path(ge=0, le=MAX_ID, description="The item's catalog id")]
Limit = Annotated[int, Param(ge=1, le=200, description="Results per page")]
Offset = Annotated[int, Param(ge=0, le=10_000, description="Results to skip")]
TypeFilter = Annotated[
    str | None,
    Param(
        alias="type",
        max_length=64,
        description="Only these kinds, comma separated: image, audio, text, video",
        examples=["image,audio"],
    ),
]


def parse_types(raw: str | None) -> list[ItemType] | None:
    """``"image,audio"`` → ``["image", "audio"]``; empty → no filter; unknown → 400."""
    if raw is None or not raw.strip():
        return None
    kinds: list[ItemType] = []
    for name in (part.strip().lower() for part in raw.split(",")):
        if not name:
            continue
        if name not in TYPES:
            raise ApiError(400, "invalid_parameter", f"type: unknown kind {name!r}; use {TYPES}")
        if name not in kinds:
            kinds.append(name)
    return kinds or None


def parse_weights(raw: str | None) -> dict[str, float] | None:
    """The per-space weights as a JSON object such as ``{"text": 1, "clip": 0.5}``.

    Only the JSON shape is checked here; names and ranges are ``Query``'s to judge.
    """
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_parameter", "weights: not valid JSON") from exc
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_parameter", "weights: expected a JSON object")
    for space, weight in value.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float):
            raise ApiError(400, "invalid_parameter", f"weights: {space} must be a number")
    return {space: float(weight) for space, weight in value.items()}


def clean_text(q: str | None) -> str | None:
    """Strip the query; refuse one longer than any sensible question."""
    if q is None:
        return None
    q = q.strip()
    if len(q) > MAX_QUERY_CHARS:
        raise ApiError(400, "query_too_long", f"q: longer than {MAX_QUERY_CHARS} characters")
    return q or None


async def run_search(
    engine: Engine, query: Query, limiter: anyio.CapacityLimiter | None = None
) -> WebSearchResponse:
    """Run one search off the event loop; voice queries only while a transcription slot is free.

    Transcription is the expensive part of a voice query, so a burst of them is refused with
    503 and ``Retry-After`` instead of queueing without bound and exhausting memory.
    """
    if not (query.text or query.image or query.audio or query.types or any(
            getattr(query, f) is not None for f in Filters.__dataclass_fields__
            if f != "group_similar")):
        raise ApiError(400, "empty_query",
                       "give a text query (q), an image, an audio file or a filter")
    if query.audio is None or limiter is None:
        response: SearchResponse = await run_in_threadpool(engine.search, query)
        return with_urls(response)
    try:
        limiter.acquire_nowait()
    except anyio.WouldBlock as exc:
        raise ApiError(
            503,
            "busy",
            "too many voice queries are being transcribed; try again shortly",
            headers={"Retry-After": "5"},
        ) from exc
    try:
        response = await run_in_threadpool(engine.search, query)
    finally:
        limiter.release()
    return with_urls(response)


@router.get("/api/search", response_model=WebSearchResponse, responses=ERROR_RESPONSES)
async def search_get(
    engine: EngineDep,
    q: Annotated[str, Param(description="What to look for", max_length=MAX_QUERY_CHARS)] = "",
    type_: TypeFilter = None,
    limit: Limit = 20,
    offset: Offset = 0,
    filters: Annotated[Filters, Depends(query_filters)] = Filters(),  # noqa: B008
) -> WebSearchResponse:
    """Search every kind of item with a text query, and/or list items by their metadata.

    The text may hold filters (``type:audio after:2024-01 camera:canon place:"new york"
    duration:>60``) and words to push down (``-people``, ``NOT people``).
    """
    query = Query(text=clean_text(q), types=parse_types(type_), limit=limit, offset=offset,
                  **filters.fields())
    return await run_search(engine, query)


@router.post("/api/search", response_model=WebSearchResponse, responses=ERROR_RESPONSES)
async def search_post(
    engine: EngineDep,
    limiter: LimiterDep,
    q: Annotated[str | None, Form(max_length=MAX_QUERY_CHARS)] = None,
    image: Annotated[UploadFile | None, File(description="A picture to search with")] = None,
    audio: Annotated[UploadFile | None, File(description="A spoken question")] = None,
    weights: Annotated[
        str | None, Form(description='Per-space weights, JSON: {"text": 1, "clip": 1}')
    ] = None,
    type_: Annotated[str | None, Form(alias="type", max_length=64)] = None,
    limit: Annotated[int, Form(ge=1, le=200)] = 20,
    offset: Annotated[int, Form(ge=0, le=10_000)] = 0,
    filters: Annotated[Filters, Depends(form_filters)] = Filters(),  # noqa: B008
) -> WebSearchResponse:
    """Search with any mix of text, a picture and a spoken question (multipart form)."""
    query = Query(
        text=clean_text(q),
        image=await read_media(image, "image"),
        audio=await read_media(audio, "audio"),
        types=parse_types(type_),
        weights=parse_weights(weights),
        limit=limit,
        offset=offset,
        **filters.fields(),
    )
    return await run_search(engine, query, limiter)


@router.get("/api/items/{item_id}", response_model=WebItemDetail, responses=ERROR_RESPONSES)
async def get_item(engine: EngineDep, item_id: ItemId) -> WebItemDetail:
    """Everything the catalog knows about one item: its paths, metadata and text parts."""
    return item_with_urls(await run_in_threadpool(engine.item, item_id))


@router.get(
    "/api/items/{item_id}/similar", response_model=WebSearchResponse, responses=ERROR_RESPONSES
)
async def get_similar(
    engine: EngineDep,
    item_id: ItemId,
    limit: Limit = 20,
    offset: Offset = 0,
    at: Annotated[
        float | None, Param(ge=0, le=1e7, description="Seconds into a video: like this moment")
    ] = None,
) -> WebSearchResponse:
    """Items most like this one, of every kind ("more like this"), or like one video moment."""
    response = await run_in_threadpool(engine.similar, item_id, limit, offset, at)
    return with_urls(response)


@router.get("/api/stats", response_model=Stats, responses=ERROR_RESPONSES)
async def get_stats(engine: EngineDep) -> Stats:
    """Counts per kind, vector spaces and the models behind them (as ``xmodal stats --json``)."""
    return await run_in_threadpool(engine.stats)


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """Liveness: answers as soon as the process serves requests; touches no model."""
    return Health(version=__version__)
