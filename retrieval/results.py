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


class Metadata(BaseModel):
    """What the file says about itself (EXIF, audio tags), for display and filters."""

    taken_at: str | None = None  # ISO date and time the photo was taken (camera clock)
    camera: str | None = None
    orientation: int | None = None
    lat: float | None = None
    lon: float | None = None
    place: str | None = None  # nearest city to the GPS position, offline (GeoNames)
    duration: float | None = None  # seconds (audio)
    title: str | None = None
    artist: str | None = None
    album: str | None = None


class Result(BaseModel):
    id: int
    path: str
    type: ItemType
    score: float
    match: Match
    scores: dict[str, SpaceScore] = Field(default_factory=dict)
    meta: Metadata | None = None
    similar: list[int] = Field(default_factory=list)  # near-duplicates shown as this one


class QueryEcho(BaseModel):
    text: str | None = None  # the words searched for (filters and negative words taken out)
    negative: str | None = None  # the words pushed down
    transcript: str | None = None
    image: bool = False


class SearchResponse(BaseModel):
    query: QueryEcho
    results: list[Result]
    counts: dict[str, int] = Field(default_factory=dict)
    seconds: float = 0.0


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
    meta: Metadata | None = None


class Query(BaseModel):
    """One search: any mix of text, image bytes and audio bytes, plus filters and paging."""

    text: str | None = None
    image: bytes | None = None
    audio: bytes | None = None
    types: list[ItemType] | None = None
    path_glob: str | None = None  # fnmatch pattern on the absolute path, or a plain prefix
    modified_after: float | None = None  # unix seconds
    modified_before: float | None = None
    # The item's date (photo taken, else modified), unix seconds: from inclusive, to exclusive.
    date_from: float | None = None
    date_to: float | None = None
    camera: str | None = None  # part of the camera's name, any case
    place: str | None = None  # part of the place name, any case ("new york")
    min_duration: float | None = Field(default=None, ge=0)  # seconds
    max_duration: float | None = Field(default=None, ge=0)
    negative: str | None = None  # words whose matches are pushed down (also "-word" in text)
    group_similar: bool = True  # near-identical photos shown once (Result.similar lists the rest)
    weights: dict[str, float] | None = None  # per space: text, clip, keyword
    fusion: Literal["rrf", "score"] = "rrf"
    limit: int = Field(default=20, ge=1, le=200)
    offset: int = Field(default=0, ge=0)
