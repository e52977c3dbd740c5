"""The search engine: the one object the CLI and the web app call.

A query is embedded in every space its modality reaches (text → MiniLM ``text`` space, CLIP
text tower against ``clip`` and FTS5 ``keyword``; image → CLIP image tower against ``clip``;
audio → Whisper transcript → searched as text; text plus image → both, the two CLIP vectors
added so "this photo, but at night" is one direction in CLIP space). Each space returns its
best parts, the fusion ranker turns them into one ranking of items, and the page asked for is
dressed with paths and the best-matching part.

Paging is stable because every space is searched to a *fixed* depth (a multiple of
``CANDIDATES`` that does not move between neighbouring pages) and fusion breaks ties by item
id, so page 2 is the continuation of exactly the ranking page 1 came from.

Threads: a text query hands its words to MiniLM's and CLIP's encoder threads at once
(``retrieval.search.query_encoding``); when MiniLM's vector arrives the calling thread searches the
text space and the keywords while CLIP, the longest, finishes. The catalog gives each thread
its own SQLite connection; FAISS searches take the index's lock.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.catalog.database import Catalog, ItemFilter
from retrieval.catalog.lookups import item_paths, item_vector, normalise, part_items
from retrieval.config import Settings
from retrieval.errors import MediaError, ModelUnavailable
from retrieval.results import (
    IndexReport,
    ItemDetail,
    Match,
    Part,
    Query,
    QueryEcho,
    Result,
    SearchResponse,
)
from retrieval.search.fusion import Fused, Hit, fuse
from retrieval.search.keywords import keyword_hits
from retrieval.search.query_encoding import QueryEncoder, clip_query
from retrieval.search.separation import GOOD_MATCH, confidences
from retrieval.search.vocabulary import PromptCache
from retrieval.store import VectorStore, describe_store, open_vector_index

if TYPE_CHECKING:
    from retrieval.encoders import Encoders

log = logging.getLogger(__name__)

SPACES = ("text", "clip", "keyword")
VECTOR_SPACES = ("text", "clip")


@dataclass
class Candidates:
    """A query's per-space hits before fusion, with what fusion and the answer need."""

    lists: dict[str, list[Hit]]
    weights: dict[str, float]
    echo: QueryEcho
    path_glob: str | None


CANDIDATES = 200  # items each space contributes to fusion, per block of pages
MAX_SIMILAR_PARTS = 64  # a long document's centroid does not need every chunk


class Engine:
    """Search, "more like this", item details and ingestion over one data directory."""

    def __init__(self, settings: Settings, encoders: Encoders | None = None) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.catalog = Catalog(self.data_dir / "catalog.sqlite")
        self._encoders = encoders
        self._lock = threading.Lock()
        self._indexes: dict[str, VectorStore] = {}
        vocabulary = PromptCache(self.catalog).get if settings.query_vocabulary else None
        self.queries = QueryEncoder(settings, lambda: self.encoders, vocabulary)

    # -- plumbing -------------------------------------------------------------------------
    @property
    def encoders(self) -> Encoders:
        """The models, created on first use so an engine that only reads details is cheap."""
        with self._lock:
            if self._encoders is None:
                from retrieval.encoders import Encoders

                self._encoders = Encoders(self.settings)
            return self._encoders

    def _index(self, space: str) -> VectorStore | None:
        """The space's vector index, reloaded when an indexing run has replaced it."""
        with self._lock:
            idx = self._indexes.get(space)
            if idx is None:
                idx = open_vector_index(self.settings, self.catalog, space)
                if idx is None:
                    return None
                self._indexes[space] = idx
                return idx
        if idx.reload_if_changed():
            log.info("reloaded the %s index (generation %d)", space, idx.generation)
        return idx

    def _space_ok(self, space: str, name: str, dim: int) -> bool:
        """Whether the query encoder matches the model the space was built with."""
        stored = self.catalog.space_model(space)
        if stored is None:
            return False
        if stored[1] != dim or stored[0] != name:
            log.warning(
                "space %s was built with %s (%d-d) but the query model is %s (%d-d); "
                "skipping it until the collection is re-embedded",
                *(space, stored[0], stored[1], name, dim),
            )
            return False
        return True

    # -- search ---------------------------------------------------------------------------
    def search(self, query: Query) -> SearchResponse:
        """Run ``query`` in every space it reaches and return one fused page of items.

        ValueError for an empty query or unknown weight names; MediaError for an upload
        that cannot be decoded (or audio with no speech in it).
        """
        t0 = time.perf_counter()
        found = self.candidates(query)
        fused = fuse(found.lists, method=query.fusion, weights=found.weights,
                     image_query=found.echo.image)
        return self._respond(fused, query.offset, query.limit, found.echo, found.path_glob, t0,
                             calibrated=query.fusion == "auto")

    def candidates(self, query: Query) -> Candidates:
        """Each space's scored parts for ``query``, unfused (``search``, ``xmodal eval``)."""
        text = (query.text or "").strip()
        if not text and query.image is None and query.audio is None:
            raise ValueError("empty query: give text, an image or audio")
        weights = self._weights(query.weights)
        transcript = self.queries.transcribe(query.audio) if query.audio is not None else None
        words = " ".join(x for x in (text, transcript) if x)
        image_vec = self.queries.image_vector(query.image) if query.image is not None else None
        if not words and image_vec is None:
            if query.image is not None:
                raise ModelUnavailable(
                    self.settings.clip_model,
                    [],
                    "Image queries need CLIP weights; see "
                    "`xmodal models` for where they were looked for and how to supply them.",
                )
            raise MediaError("no speech was heard in the audio query")

        filters = ItemFilter(
            types=tuple(query.types) if query.types else None,
            path_glob=query.path_glob or None,
            modified_after=query.modified_after,
            modified_before=query.modified_before,
        )
        depth = CANDIDATES * math.ceil((query.offset + query.limit) / CANDIDATES)
        allowed = None if filters.empty else self.catalog.item_ids(filters)
        enc = self.encoders
        minilm, clip = enc.text, enc.clip
        use_text = (bool(words) and weights["text"] > 0 and minilm is not None
                    and self._space_ok("text", minilm.name, minilm.dim))
        use_clip = (weights["clip"] > 0 and clip is not None
                    and self._space_ok("clip", clip.name, clip.dim))
        # Both encoders start now, side by side. Two cores: CLIP (the longest) keeps one; the
        # other does MiniLM, then its search and the keyword search, while CLIP finishes.
        text_vec = self.queries.text_vector("text", words) if use_text else None
        clip_text = self.queries.text_vector("clip", words) if use_clip and words else None
        lists: dict[str, list[Hit]] = {}
        if text_vec is not None:
            lists["text"] = self._vector_hits("text", text_vec.result(), depth, allowed)
        if words and weights["keyword"] > 0:
            lists["keyword"] = keyword_hits(self.catalog, words, depth * 4, filters)
        if use_clip:
            clip_vec = clip_query(
                clip_text.result() if clip_text else None, image_vec, weights.get("image", 1.0))
            if clip_vec is not None:
                lists["clip"] = self._vector_hits("clip", clip_vec, depth, allowed)
        echo = QueryEcho(text=text or None, transcript=transcript, image=query.image is not None)
        return Candidates(lists, weights, echo, filters.path_glob)

    def _weights(self, given: dict[str, float] | None) -> dict[str, float]:
        """Per-space weights (default 1); ``image`` weighs the picture against the text in CLIP."""
        out = {space: 1.0 for space in SPACES}
        for key, value in (given or {}).items():
            if key not in (*SPACES, "image"):
                raise ValueError(f"unknown weight {key!r}; use text, clip, keyword or image")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"weight {key!r} must be a finite number >= 0")
            out[key] = float(value)
        return out

    def _vector_hits(
        self, space: str, vec: np.ndarray, depth: int, allowed: set[int] | None
    ) -> list[Hit]:
        """The parts of the ``depth`` best items (passing the filter) nearest to ``vec``.

        Searches ever deeper until ``depth`` distinct allowed items are found or the index is
        exhausted; the answer is cut at exactly ``depth`` items, so it does not depend on how
        far the search had to go.
        """
        idx = self._index(space)
        if idx is None or idx.ntotal == 0:
            return []
        k = min(idx.ntotal, max(2 * depth, 64))
        while True:
            pairs = idx.search_one(normalise(vec), k)
            owners = part_items(self.catalog, [pid for pid, _ in pairs])
            hits: list[Hit] = []
            items: set[int] = set()
            for pid, score in pairs:
                item_id = owners.get(pid)
                if item_id is None or (allowed is not None and item_id not in allowed):
                    continue
                if item_id not in items:
                    if len(items) == depth:
                        break
                    items.add(item_id)
                hits.append(Hit(item_id=item_id, part_id=pid, score=score))
            if len(items) >= depth or k >= idx.ntotal:
                return hits
            k = min(idx.ntotal, k * 4)

    def _respond(
        self,
        fused: list[Fused],
        offset: int,
        limit: int,
        echo: QueryEcho,
        path_glob: str | None,
        t0: float,
        calibrated: bool = False,
    ) -> SearchResponse:
        """Drop items with no indexed path left, count per type, and dress one page."""
        shown = item_paths(self.catalog, [f.item_id for f in fused], path_glob)
        fused = [f for f in fused if f.item_id in shown]
        conf = confidences([f.score for f in fused]) if calibrated else None
        counts: dict[str, int] = {}
        for f in fused:
            t = shown[f.item_id][0]
            counts[t] = counts.get(t, 0) + 1
        page = fused[offset : offset + limit]
        page_conf = conf[offset : offset + limit] if conf is not None else [None] * len(page)
        parts = self.catalog.parts_for(f.part_id for f in page)
        results = []
        for f, c in zip(page, page_conf, strict=True):
            item_type, path = shown[f.item_id]
            part = parts.get(f.part_id)
            match = (
                Match(kind=part.kind, text=part.text, start=part.start, end=part.end)
                if part is not None
                else Match(kind="file")
            )
            results.append(
                Result(
                    id=f.item_id,
                    path=path,
                    type=item_type,  # type: ignore[arg-type]
                    score=f.score,
                    match=match,
                    scores=f.space_scores(),
                    confidence=c,
                    good=None if c is None else c >= GOOD_MATCH,
                )
            )
        return SearchResponse(
            query=echo, results=results, counts=counts, seconds=time.perf_counter() - t0,
            good_matches=None if conf is None else sum(c >= GOOD_MATCH for c in conf),
        )

    # -- more like this -------------------------------------------------------------------
    def similar(self, item_id: int, limit: int = 20, offset: int = 0) -> SearchResponse:
        """Items nearest to this one in each vector space, fused; the item itself left out.

        The query is the item's own stored vectors: an image's CLIP image vector; for text and
        speech, the normalised mean of their parts' vectors in each space.
        """
        t0 = time.perf_counter()
        item = self.catalog.item(item_id)
        if item is None:
            raise KeyError(item_id)
        depth = CANDIDATES * math.ceil((offset + limit) / CANDIDATES)
        lists: dict[str, list[Hit]] = {}
        for space in VECTOR_SPACES:
            vec = item_vector(self.catalog, item_id, item.type, space, MAX_SIMILAR_PARTS)
            if vec is None:
                continue
            hits = self._vector_hits(space, vec, depth + 1, None)
            lists[space] = [h for h in hits if h.item_id != item_id]
        fused = fuse(lists)
        return self._respond(fused, offset, limit, QueryEcho(), None, t0)

    # -- items ----------------------------------------------------------------------------
    def item(self, item_id: int) -> ItemDetail:
        """Everything the catalog knows about one item; KeyError when there is no such item."""
        row = self.catalog.item(item_id)
        if row is None:
            raise KeyError(item_id)
        parts = [
            Part(kind=p.kind, text=p.text, start=p.start, end=p.end)
            for p in self.catalog.parts_of(item_id)
            if p.kind != "file"
        ]
        return ItemDetail(
            id=row.id,
            type=row.type,  # type: ignore[arg-type]
            paths=self.catalog.paths(item_id),
            size=row.size,
            width=row.width,
            height=row.height,
            duration=row.duration,
            language=row.language,
            parts=parts,
        )

    def item_id_for_path(self, path: Path | str) -> int | None:
        """The item an indexed path shows (None when it is not indexed or failed)."""
        for spelling in (str(path), os.path.abspath(path), str(Path(path).resolve())):
            row = self.catalog.file(spelling)
            if row is not None and row.status == "ok":
                return row.item_id
        return None

    def media_path(self, item_id: int) -> Path:
        """An indexed path of the item that still exists on disk; KeyError otherwise."""
        if self.catalog.item(item_id) is None:
            raise KeyError(item_id)
        for p in self.catalog.paths(item_id):
            if Path(p).is_file():
                return Path(p)
        raise KeyError(item_id)

    def stats(self) -> dict[str, Any]:
        """Counts per type and kind, and each vector space's model, size and index kind."""
        out: dict[str, Any] = dict(self.catalog.counts())
        spaces: dict[str, Any] = {}
        for space in self.catalog.spaces():
            model = self.catalog.space_model(space)
            idx = self._index(space)
            spaces[space] = {
                "model": model[0] if model else None,
                "dim": model[1] if model else None,
                "vectors": idx.ntotal if idx else 0,
                "index": idx.kind if idx else None,
            }
        out["spaces"] = spaces
        out["data_dir"] = str(self.data_dir.resolve())
        out["vector_store"] = describe_store(self.settings)
        return out

    def ingest(self, paths: list[Path]) -> IndexReport:
        """Index these files now (web uploads); the indexes are reloaded on the next search."""
        from retrieval.ingest.ingestor import ingest_paths

        return ingest_paths(self.settings, paths, encoders=self.encoders, catalog=self.catalog)

    def close(self) -> None:
        """Stop the query encoders' threads and close every SQLite connection the engine opened."""
        self.queries.close()
        self.catalog.close()
