"""Typed answers shared by the engine, the CLI's ``--json`` output and the web API."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

ItemType = Literal["image", "audio", "text"]


class Match(BaseModel):
    """The part of an item that matched best: a text chunk, a speech segment or an OCR line."""

    kind: str
    text: str | None = None
    start: float | None = None
    end: float | None = None


class SpaceScore(BaseModel):
    """Where one space (text, clip, keyword) ranked the item, and its raw score there."""

    rank: int
    score: float


class Result(BaseModel):
    id: int
    path: str
    type: ItemType
    score: float
    match: Match
    scores: dict[str, SpaceScore] = Field(default_factory=dict)
    # Calibrated chance that this is a match, and whether it clears the good-match cut-off
    # (docs/quality.md); None when the fusion method has no calibration (rrf, score).
    confidence: float | None = None
    good: bool | None = None


class QueryEcho(BaseModel):
    text: str | None = None
    transcript: str | None = None
    image: bool = False


class SearchResponse(BaseModel):
    query: QueryEcho
    results: list[Result]
    counts: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0
    good_matches: int | None = None  # results over the cut-off in the whole ranking; 0: none


class Failure(BaseModel):
    path: str
    reason: str


class IndexReport(BaseModel):
    """The summary of one indexing run; ``xmodal index --json`` prints exactly this."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    failures: list[Failure] = Field(default_factory=list)
    seconds: float = 0.0


class Part(BaseModel):
    kind: str
    text: str | None = None
    start: float | None = None
    end: float | None = None


class ItemDetail(BaseModel):
    """Everything the catalog knows about one item, for `GET /api/items/{id}`."""

    id: int
    type: ItemType
    paths: list[str]
    size: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    language: str | None = None
    parts: list[Part] = Field(default_factory=list)


class Query(BaseModel):
    """One search: any mix of text, image bytes and audio bytes, plus filters and paging."""

    text: str | None = None
    image: bytes | None = None
    audio: bytes | None = None
    types: list[ItemType] | None = None
    path_glob: str | None = None  # fnmatch pattern on the absolute path, or a plain prefix
    modified_after: float | None = None  # unix seconds
    modified_before: float | None = None
    weights: dict[str, float] | None = None  # per space: text, clip, keyword
    fusion: Literal["auto", "rrf", "score"] = "auto"
    limit: int = Field(default=20, ge=1, le=200)
    offset: int = Field(default=0, ge=0)
