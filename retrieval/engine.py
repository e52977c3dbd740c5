"""The engine: the one object the CLI, the web app and library users call.

``with Engine(Settings(...)) as engine:`` then ``index(paths)``, ``remove(paths)``,
``search(Query(...))``, ``similar(item_id)``, ``item(item_id)`` and ``stats()``.

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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.catalog.database import Catalog, ItemFilter
from retrieval.catalog.item_meta import display_meta, newest
from retrieval.catalog.lookups import (
    item_paths,
    item_vector,
    moment_vector,
)
from retrieval.config import Settings
from retrieval.errors import ItemNotFound, MediaError, ModelUnavailable
from retrieval.results import (
    IndexReport,
    ItemDetail,
    Match,
    Query,
    QueryEcho,
    SearchResponse,
    SpaceStats,
    Stats,
)
from retrieval.search.duplicates import DuplicateGroup, Duplicates
from retrieval.search.fusion import Fused, Hit, fuse
from retrieval.search.keywords import keyword_hits
from retrieval.search.negation import push_away
from retrieval.search.page import dress_page
from retrieval.search.query_encoding import QueryEncoder, clip_query
from retrieval.search.query_syntax import ParsedQuery, merged_filter, parse_query
from retrieval.search.vector_hits import nearest_items
from retrieval.search.vocabulary import PromptCache
from retrieval.store import VectorStore, describe_store, open_vector_index

if TYPE_CHECKING:
    from retrieval.encoders import Encoders

log = logging.getLogger(__name__)

SPACES = ("text", "clip", "keyword")
VECTOR_SPACES = ("text", "clip")
CANDIDATES = 200  # items each space contributes to fusion, per block of pages
MAX_SIMILAR_PARTS = 64  # a long document's centroid does not need every chunk


@dataclass
class Candidates:
    """A query's per-space hits before fusion, with what fusion and the answer need; a query
    of filters alone is a ``listing`` (no spaces, the matching items newest first)."""

    lists: dict[str, list[Hit]]
    weights: dict[str, float]
    echo: QueryEcho
    filters: ItemFilter
    listing: bool = False
    paths: dict[int, tuple[str, str]] = field(default_factory=dict)  # looked up meanwhile


class Engine:
    """Indexing, search, "more like this" and item details over one data directory."""

    def __init__(self, settings: Settings, encoders: Encoders | None = None) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir)
        self.catalog = Catalog(self.data_dir / "catalog.sqlite")
        self._encoders = encoders
        self._lock = threading.Lock()
        self._indexes: dict[str, VectorStore] = {}
        vocabulary = PromptCache(self.catalog).get if settings.query_vocabulary else None
        self.queries = QueryEncoder(settings, lambda: self.encoders, vocabulary)
        self.duplicates = Duplicates(self.catalog)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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

    def _has_vectors(self, space: str) -> bool:
        """Whether ``space``'s index holds any vector (no model is loaded to find out)."""
        idx = self._index(space)
        return idx is not None and idx.ntotal > 0

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
        if found.listing:
            return self._listing(found.filters, query, found.echo, t0)
        fused = fuse(found.lists, method=query.fusion, weights=found.weights,
                     image_query=found.echo.image)
        return self._respond(fused, query.offset, query.limit, found.echo,
                             found.filters.path_glob, t0, query.group_similar,
                             calibrated=query.fusion == "auto", paths=found.paths)

    def candidates(self, query: Query) -> Candidates:
        """Each space's scored parts for ``query``, unfused (``search``, ``xmodal eval``)."""
        parsed = parse_query(query.text or "")
        if not parsed.text.strip() and not parsed.has_filters:
            # "-x" or punctuation alone: nothing to push away from, so searched as written
            parsed = ParsedQuery(text=(query.text or "").strip())
        text = parsed.text.strip()
        negative = " ".join(x for x in (parsed.negative, (query.negative or "").strip()) if x)
        filters = merged_filter(query, parsed)
        echo = QueryEcho(text=text or None, negative=negative or None,
                         image=query.image is not None)
        if not text and query.image is None and query.audio is None:
            if filters.empty:
                raise ValueError("empty query: give text, an image or audio")
            return Candidates({}, {}, echo, filters, listing=True)
        weights = {space: 1.0 for space in SPACES} | (query.weights or {})
        transcript = self.queries.transcribe(query.audio) if query.audio is not None else None
        echo.transcript = transcript
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

        depth = CANDIDATES * math.ceil((query.offset + query.limit) / CANDIDATES)
        allowed = None if filters.empty else self.catalog.item_ids(filters)
        enc = self.encoders
        minilm = enc.text
        use_text = (bool(words) and weights["text"] > 0 and minilm is not None
                    and self._space_ok("text", minilm.name, minilm.dim))
        # A collection with no CLIP-space vectors costs a text query no CLIP text tower.
        clip = enc.clip if weights["clip"] > 0 and self._has_vectors("clip") else None
        use_clip = clip is not None and self._space_ok("clip", clip.name, clip.dim)
        # Both encoders start now, side by side. Two cores: CLIP (the longest) keeps one; the
        # other does MiniLM, then its search and the keyword search, while CLIP finishes.
        text_vec = self.queries.text_vector("text", words) if use_text else None
        clip_text = self.queries.text_vector("clip", words) if use_clip and words else None
        text_neg = self.queries.text_vector("text", negative) if use_text and negative else None
        clip_neg = self.queries.text_vector("clip", negative) if use_clip and negative else None
        lists: dict[str, list[Hit]] = {}
        if text_vec is not None:
            vec = push_away(text_vec.result(), text_neg.result() if text_neg else None)
            lists["text"] = self._vector_hits("text", vec, depth, allowed)
        if words and weights["keyword"] > 0:
            lists["keyword"] = keyword_hits(self.catalog, words, depth * 4, filters, negative)
        paths = {}  # while CLIP's tower still runs, the page's paths of what the others found
        if clip_text is not None and not clip_text.done():
            items = dict.fromkeys(h.item_id for hits in lists.values() for h in hits)
            paths = item_paths(self.catalog, list(items), filters.path_glob)
        if use_clip:
            clip_vec = clip_query(
                clip_text.result() if clip_text else None, image_vec, weights.get("image", 1.0))
            if clip_vec is not None:
                clip_vec = push_away(clip_vec, clip_neg.result() if clip_neg else None)
                lists["clip"] = self._vector_hits("clip", clip_vec, depth, allowed)
        return Candidates(lists, weights, echo, filters, paths=paths)

    def _listing(self, filters: ItemFilter, query: Query, echo: QueryEcho,
                 t0: float) -> SearchResponse:
        """A query of filters alone: the matching items, newest first."""
        depth = CANDIDATES * math.ceil((query.offset + query.limit) / CANDIDATES)
        fused = [Fused(item_id=i, score=0.0, part_id=-1)
                 for i in newest(self.catalog, filters, depth)]
        return self._respond(fused, query.offset, query.limit, echo, filters.path_glob, t0,
                             query.group_similar)

    def _vector_hits(
        self, space: str, vec: np.ndarray, depth: int, allowed: set[int] | None
    ) -> list[Hit]:
        idx = self._index(space)
        return [] if idx is None else nearest_items(idx, self.catalog, vec, depth, allowed)

    def _respond(self, fused: list[Fused], offset: int, limit: int, echo: QueryEcho,
                 path_glob: str | None, t0: float, group: bool = True,
                 calibrated: bool = False,
                 paths: dict[int, tuple[str, str]] | None = None) -> SearchResponse:
        groups = self.duplicates.group_of() if group else None
        return dress_page(self.catalog, fused, offset, limit, echo, path_glob, t0, paths=paths,
                          groups=groups, calibrated=calibrated)

    # -- more like this -------------------------------------------------------------------
    def similar(self, item_id: int, limit: int = 20, offset: int = 0,
                at: float | None = None) -> SearchResponse:
        """Items nearest to this one in each vector space, fused like a search (``auto``, the
        item's own modality leading); the item itself left out. bench/quality/similar.py."""
        t0 = time.perf_counter()
        lists, picture = self.similar_candidates(item_id, offset + limit, at)
        fused = fuse(lists, method="auto", image_query=picture)
        return self._respond(fused, offset, limit, QueryEcho(), None, t0)

    def similar_candidates(self, item_id: int, wanted: int = 20,
                           at: float | None = None) -> tuple[dict[str, list[Hit]], bool]:
        """Each vector space's nearest parts to this item, unfused, and whether it is a picture.

        The query is the item's stored vectors (an image's; the normalised mean of a text's or a
        recording's parts). ``at`` (seconds, videos): the moment's keyframe and words only.
        """
        item = self.catalog.item(item_id)
        if item is None:
            raise ItemNotFound(item_id)
        depth = CANDIDATES * math.ceil(wanted / CANDIDATES)
        lists: dict[str, list[Hit]] = {}
        for space in VECTOR_SPACES:
            vec = (moment_vector(self.catalog, item_id, at, space)
                   if at is not None and item.type == "video"
                   else item_vector(self.catalog, item_id, item.type, space, MAX_SIMILAR_PARTS))
            if vec is None:
                continue
            hits = self._vector_hits(space, vec, depth + 1, None)
            lists[space] = [h for h in hits if h.item_id != item_id]
        return lists, item.type in ("image", "video")

    # -- items ----------------------------------------------------------------------------
    def item(self, item_id: int) -> ItemDetail:
        """Everything the catalog knows about one item."""
        row = self.catalog.item(item_id)
        if row is None:
            raise ItemNotFound(item_id)
        parts = [
            Match(kind=p.kind, text=p.text, start=p.start, end=p.end)
            for p in self.catalog.parts_of(item_id)
            if p.kind != "file"
        ]
        return ItemDetail(
            id=row.id,
            type=row.type,
            paths=self.catalog.paths(item_id),
            size=row.size,
            width=row.width,
            height=row.height,
            duration=row.duration,
            language=row.language,
            parts=parts,
            meta=display_meta(self.catalog, [item_id]).get(item_id),
        )

    def item_id_for_path(self, path: Path | str) -> int | None:
        """The item an indexed path shows (None when it is not indexed or failed)."""
        for spelling in (str(path), os.path.abspath(path), str(Path(path).resolve())):
            row = self.catalog.file(spelling)
            if row is not None and row.status == "ok":
                return row.item_id
        return None

    def media_path(self, item_id: int) -> Path:
        """An indexed path of the item that still exists on disk; ItemNotFound otherwise."""
        for p in self.catalog.paths(item_id):
            if Path(p).is_file():
                return Path(p)
        raise ItemNotFound(item_id)

    def duplicate_groups(self) -> list[DuplicateGroup]:
        """Every group of near-identical photos (``retrieval.search.duplicates``)."""
        return self.duplicates.describe()

    def warm(self) -> dict[str, Any]:
        """Load every model and open every index now, so no query waits for them.

        Returns each model's state and each index's size (``/readyz`` shows them).
        """
        models = [m.model_dump() for m in self.encoders.status(load=True)]
        indexes = {}
        for space in self.catalog.spaces():
            idx = self._index(space)
            indexes[space] = {"vectors": idx.ntotal if idx else 0,
                              "index": idx.kind if idx else None}
        enc = self.encoders
        for space, model in (("text", enc.text), ("clip", enc.clip)):
            if model is not None:  # the first forward pass pays one-off setup costs
                self.queries.text_vector(space, "warm up").result()
        return {"models": models, "indexes": indexes}

    def stats(self) -> Stats:
        """Counts per type, kind and status, and each vector space's model, size and index."""
        counts: dict[str, Any] = self.catalog.counts()
        spaces: dict[str, SpaceStats] = {}
        for space in self.catalog.spaces():
            model = self.catalog.space_model(space)
            idx = self._index(space)
            file = self.data_dir / f"{space}.faiss"
            spaces[space] = SpaceStats(
                model=model[0] if model else None,
                dim=model[1] if model else None,
                vectors=counts["vectors"].get(space, 0),
                index=idx.kind if idx else None,
                index_vectors=idx.ntotal if idx else 0,
                index_bytes=file.stat().st_size if file.exists() else 0,
            )
        disk = sum(p.stat().st_size for p in self.data_dir.iterdir() if p.is_file())
        return Stats(data_dir=str(self.data_dir.resolve()),
                     vector_store=describe_store(self.settings), items=counts["items"],
                     parts=counts["parts"], files=counts["files"], spaces=spaces,
                     disk_bytes=disk)

    # -- indexing -------------------------------------------------------------------------
    def index(
        self,
        paths: Sequence[Path | str],
        *,
        prune: bool = False,
        reembed: bool = False,
        wait: float = 120.0,
        stop: Event | None = None,
        on_scanned: Callable[[int], None] | None = None,
        on_file: Callable[[str, str], None] | None = None,
    ) -> IndexReport:
        """Index files and folders (incrementally); searches see the new items right after.

        ``prune`` forgets indexed files under ``paths`` that are gone. ``wait``: seconds to
        wait for another indexing run on this data dir to finish before giving up.
        """
        from retrieval.ingest.run import index_roots

        return index_roots(self.settings, [Path(p) for p in paths], encoders=self.encoders,
                           catalog=self.catalog, prune=prune, reembed=reembed,
                           lock_timeout=wait, stop=stop, on_scanned=on_scanned,
                           on_file=on_file)

    def remove(self, paths: Sequence[Path | str], *, wait: float = 120.0) -> int:
        """Forget these files and everything indexed below these folders; disk is untouched."""
        from retrieval.ingest.ingestor import Ingestor

        with Ingestor(self.settings, None, catalog=self.catalog, lock_timeout=wait) as ing:
            return ing.remove(paths)

    def close(self) -> None:
        """Stop the query encoders' threads and close every SQLite connection the engine opened."""
        self.queries.close()
        self.catalog.close()
