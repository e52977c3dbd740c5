"""Response models of the JSON API: the engine's answers plus the URLs a browser needs.

The result objects are exactly those of ``xmodal search --json`` with two fields added, so a
script can move between the CLI and the API without translating anything.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from retrieval.results import ItemDetail, Result, SearchResponse


def media_url(item_id: int) -> str:
    """Where the original file of an item is served (with HTTP Range support)."""
    return f"/media/{item_id}"


def thumb_url(item_id: int) -> str:
    """Where the item's thumbnail (images) or type icon (others) is served."""
    return f"/thumbs/{item_id}"


class WebResult(Result):
    """A search result with the URLs of its media and thumbnail."""

    media_url: str
    thumb_url: str


class WebSearchResponse(SearchResponse):
    """A ``SearchResponse`` whose results carry media and thumbnail URLs."""

    results: list[WebResult]  # type: ignore[assignment]


class WebItemDetail(ItemDetail):
    """An item as the catalog knows it, with the URLs of its media and thumbnail."""

    media_url: str
    thumb_url: str


class Health(BaseModel):
    status: str = "ok"
    version: str


class Stats(BaseModel):
    """Whatever the engine reports about the collection (counts, spaces, models)."""

    model_config = {"extra": "allow"}


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    """The shape of every error answer."""

    error: ErrorBody


def with_urls(response: SearchResponse) -> WebSearchResponse:
    """Add media and thumbnail URLs to every result of an engine answer."""
    data: dict[str, Any] = response.model_dump()
    for result in data["results"]:
        result["media_url"] = media_url(result["id"])
        result["thumb_url"] = thumb_url(result["id"])
        start = result["match"].get("start")
        if result["type"] == "video" and start is not None:  # the matched moment's frame
            result["thumb_url"] += f"?t={start:.3f}"
    return WebSearchResponse.model_validate(data)


def item_with_urls(item: ItemDetail) -> WebItemDetail:
    """Add media and thumbnail URLs to an item's details."""
    return WebItemDetail(
        **item.model_dump(), media_url=media_url(item.id), thumb_url=thumb_url(item.id)
    )


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad parameters or an empty query"},
    404: {"model": ErrorResponse, "description": "Unknown item"},
    413: {"model": ErrorResponse, "description": "Upload over the configured limit"},
    415: {"model": ErrorResponse, "description": "Unsupported media type"},
    422: {"model": ErrorResponse, "description": "Media that cannot be decoded"},
    503: {"model": ErrorResponse, "description": "Busy or a model is unavailable"},
}

__all__ = [
    "ERROR_RESPONSES",
    "ErrorResponse",
    "Health",
    "Stats",
    "WebItemDetail",
    "WebResult",
    "WebSearchResponse",
    "item_with_urls",
    "media_url",
    "thumb_url",
    "with_urls",
]
