"""Typed answers shared by the engine, the CLI's ``--json`` output and the web API."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, Field, field_validator

ItemType = Literal["image", "audio", "text", "video"]
WEIGHT_NAMES = ("text", "clip", "keyword", "image")


class Match(BaseModel):
    """The part of an item that matched best: a text chunk, a speech segment, an OCR line, or a
    video keyframe; ``start``/``end`` (seconds) place a segment or a video moment in time."""

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
    # Calibrated chance that this is a match, and whether it clears the good-match cut-off
    # (docs/quality.md); None when the fusion method has no calibration (rrf, score).
    confidence: float | None = None
    good: bool | None = None


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
    decoded: int = 0  # files read and decoded (new or changed content)
    encoded: int = 0  # parts embedded
    interrupted: bool = False  # stopped early; a later run picks up where this one stopped


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
    parts: list[Match] = Field(default_factory=list)
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
    weights: dict[str, float] | None = None  # per space: text, clip, keyword; image (see below)
    fusion: Literal["auto", "rrf", "score"] = "auto"
    limit: int = Field(default=20, ge=1, le=200)
    offset: int = Field(default=0, ge=0)

    @field_validator("weights")
    @classmethod
    def _known_weights(cls, weights: dict[str, float] | None) -> dict[str, float] | None:
        """The one place weights are checked: the API and the CLI build a ``Query`` and rely on
        this. ``image`` weighs a picture against the words in CLIP space."""
        for key, value in (weights or {}).items():
            if key not in WEIGHT_NAMES:
                raise ValueError(f"unknown weight {key!r}; use {', '.join(WEIGHT_NAMES)}")
            if not math.isfinite(value) or not 0 <= value <= 100:
                raise ValueError(f"weight {key!r} must be a number from 0 to 100")
        return weights


class SpaceStats(BaseModel):
    """One vector space: the model that made it, how many vectors, and the index holding them."""

    model: str | None = None
    dim: int | None = None
    vectors: int = 0  # in the catalog (the source of truth)
    index: str | None = None  # the FAISS structure or store collection, e.g. "Flat"
    index_vectors: int = 0  # in the index as loaded (lags the catalog between saves)
    index_bytes: int = 0  # on disk, for FAISS files


class Stats(BaseModel):
    """What is indexed; ``xmodal stats --json`` and ``GET /api/stats`` both answer this."""

    data_dir: str
    vector_store: str
    items: dict[str, int] = Field(default_factory=dict)  # per type
    parts: dict[str, int] = Field(default_factory=dict)  # per kind
    files: dict[str, int] = Field(default_factory=dict)  # per status: ok, failed
    spaces: dict[str, SpaceStats] = Field(default_factory=dict)
    disk_bytes: int = 0
