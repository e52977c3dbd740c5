"""Encoding a batch of extracted files and committing it: one transaction, then the indexes.

Encoding happens before the transaction opens, so the write lock on SQLite is held only for
the inserts; readers (WAL) are never blocked. The live FAISS indexes are updated after the
commit, with the catalog's new generation; they are saved by the ``Ingestor`` now and then.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from threading import Event
from typing import Any

import numpy as np

from retrieval.catalog.database import TEXT_KINDS, Catalog
from retrieval.catalog.item_meta import put_meta
from retrieval.ingest.extract import CLIP_IMAGE_SIDE, Attach, Extracted, Skipped
from retrieval.ingest.spaces import Space
from retrieval.results import Failure, IndexReport
from retrieval.store import VectorStore

FILE_SLOT = -1  # the item's file part (image vectors); other slots index Extracted.parts
Encoded = dict[str, tuple[list[int], np.ndarray]]  # space -> (slots, vectors)
BACKFILL_TEXTS = 256
BACKFILL_IMAGES = 32


class BatchWriter:
    """Commits outcomes of ``Ingestor.prepare`` and keeps the in-memory indexes in step."""

    def __init__(self, catalog: Catalog, spaces: dict[str, Space],
                 indexes: dict[str, VectorStore], new_index: Callable[[str], VectorStore],
                 max_image_pixels: int = 100_000_000) -> None:
        self.catalog = catalog
        self.spaces = spaces
        self.indexes = indexes
        self.new_index = new_index  # an empty index for a space that had none
        self.max_image_pixels = max_image_pixels
        self.encoded = 0

    # -- encoding ---------------------------------------------------------------------------
    def _encode_many(self, items: list[Extracted]) -> list[Encoded] | None:
        """All items' vectors in one call per space and tower; None when any call fails."""
        per: list[dict[str, tuple[list[int], list[np.ndarray]]]] = [{} for _ in items]
        live = {n: s for n, s in self.spaces.items() if s.ready(self.catalog)}
        try:
            for name, space in live.items():
                slots = [(n, i) for n, e in enumerate(items)
                         for i, p in enumerate(e.parts) if p.kind in TEXT_KINDS]
                blocks = []
                if slots:
                    blocks.append(space.encode_texts([items[n].parts[i].text for n, i in slots]))
                if space.images:
                    imgs = [n for n, e in enumerate(items) if e.image is not None]
                    if imgs:
                        blocks.append(space.encode_images([items[n].image for n in imgs]))
                        slots += [(n, FILE_SLOT) for n in imgs]
                    frames = [(n, i) for n, e in enumerate(items)
                              for i, p in enumerate(e.parts) if p.frame is not None]
                    for at in range(0, len(frames), BACKFILL_IMAGES):  # decoded a few at a time
                        chunk = frames[at:at + BACKFILL_IMAGES]
                        blocks.append(space.encode_images(
                            [_jpeg(items[n].parts[i].frame) for n, i in chunk]))
                        slots += chunk
                if not blocks:
                    continue
                mat = np.concatenate(blocks).astype(np.float32)
                if mat.shape[0] != len(slots):
                    return None
                for row, (n, slot) in enumerate(slots):
                    got = per[n].setdefault(name, ([], []))
                    got[0].append(slot)
                    got[1].append(mat[row])
        except Exception:  # noqa: BLE001 - the caller isolates the item that fails
            return None
        self.encoded += sum(len(v[0]) for d in per for v in d.values())
        return [{k: (s, np.stack(r)) for k, (s, r) in d.items()} for d in per]

    def _encode(self, items: list[Extracted]) -> list[Encoded | str]:
        """Per item: its vectors per space, or the reason it could not be encoded."""
        if not items:
            return []
        together = self._encode_many(items)
        if together is not None:
            return list(together)
        if len(items) == 1:
            return [f"could not encode {items[0].path}"]
        return [x for e in items for x in self._encode([e])]

    # -- committing -----------------------------------------------------------------------
    def commit(self, outcomes: Sequence[Any], report: IndexReport) -> tuple[list[str], list[str]]:
        """Write one batch; returns (what happened per outcome, paths to prepare again)."""
        fresh = [o for o in outcomes if isinstance(o, Extracted)]
        first: dict[str, Extracted] = {}
        for e in fresh:
            first.setdefault(e.content_hash, e)
        uniq = list(first.values())
        encoded = dict(zip((id(e) for e in uniq), self._encode(uniq), strict=True))
        retry: list[str] = []
        new: dict[str, tuple[list[int], list[np.ndarray]]] = {}
        removed: dict[str, list[int]] = {}
        cat = self.catalog
        # New content first, so a copy attached in the same batch finds its item.
        order = sorted(range(len(outcomes)), key=lambda n: isinstance(outcomes[n], Attach))
        labels = [""] * len(outcomes)
        with cat.write() as conn:
            for n in order:
                labels[n] = self._one(conn, outcomes[n], encoded, new, removed, report, retry)
            for space in new:
                cat.bump_generation(conn, space)
        self._apply(new, removed)
        return labels, retry

    def _one(self, conn: sqlite3.Connection, o: Any, encoded: dict[int, Encoded | str],
             new: dict[str, tuple[list[int], list[np.ndarray]]],
             removed: dict[str, list[int]], report: IndexReport, retry: list[str]) -> str:
        cat = self.catalog
        if isinstance(o, Skipped):
            return "skipped"
        prev = conn.execute("SELECT item_id, status FROM files WHERE path=?",
                            (o.path,)).fetchone()
        was_ok = prev is not None and prev[1] == "ok" and prev[0] is not None
        reason = getattr(o, "reason", None)
        enc = encoded.get(id(o))
        if isinstance(enc, str):
            reason, enc = enc, None
        if reason is None:
            target = cat.item_id_for_hash(o.content_hash, conn)
            if target is not None and was_ok and prev[0] == target:
                cat.set_file(conn, o.path, target, o.size, o.mtime_ns)  # touched, same bytes
                report.unchanged += 1
                return "unchanged"
        if prev is not None:
            _merge(removed, cat.detach_path(conn, o.path))
        if reason is not None:
            cat.set_file(conn, o.path, None, o.size, o.mtime_ns, "failed", reason)
            report.failed += 1
            report.failures.append(Failure(path=o.path, reason=reason))
            return "failed"
        target = cat.item_id_for_hash(o.content_hash, conn)
        if target is None and not isinstance(o, Extracted):
            retry.append(o.path)  # its item went away in this batch: decode it after all
            return "retry"
        if target is None:
            if enc is None:  # a duplicate of an earlier item of this batch that failed
                retry.append(o.path)
                return "retry"
            target = self._insert(conn, o, enc, new)
        cat.set_file(conn, o.path, target, o.size, o.mtime_ns)
        cat.refresh_names(conn, target)
        if was_ok:
            report.updated += 1
            return "updated"
        report.added += 1
        return "added"

    def _insert(self, conn: sqlite3.Connection, e: Extracted, enc: Encoded,
                new: dict[str, tuple[list[int], list[np.ndarray]]]) -> int:
        cat = self.catalog
        item = cat.insert_item(conn, content_hash=e.content_hash, type=e.type, size=e.size,
                               width=e.width, height=e.height, duration=e.duration,
                               language=e.language, mtime=e.mtime)
        if e.meta is not None:
            put_meta(conn, item, e.meta)
        file_part = cat.insert_part(conn, item, "file", 0)
        ids = [cat.insert_part(conn, item, p.kind, p.ord, p.text or None, p.start, p.end)
               for p in e.parts]
        for space, (slots, vecs) in enc.items():
            pids = [file_part if s == FILE_SLOT else ids[s] for s in slots]
            cat.put_vectors(conn, space, pids, vecs)
            got = new.setdefault(space, ([], []))
            got[0].extend(pids)
            got[1].append(vecs)
        return item

    def _apply(self, new: dict[str, tuple[list[int], list[np.ndarray]]],
               removed: dict[str, list[int]]) -> None:
        """Mirror a committed change in the live indexes and adopt the new generations."""
        for space in sorted(set(new) | set(removed)):
            idx = self.indexes.get(space)
            if idx is None:
                idx = self.new_index(space)
                self.indexes[space] = idx
            idx.remove(removed.get(space, []))
            if space in new and new[space][0]:
                idx.add(new[space][0], np.concatenate(new[space][1]))
            idx.generation = self.catalog.generation(space)

    def remove(self, paths: Sequence[str]) -> int:
        """Detach these paths (deleting items nobody else shows) in one transaction."""
        removed: dict[str, list[int]] = {}
        with self.catalog.write() as conn:
            for p in paths:
                _merge(removed, self.catalog.detach_path(conn, p))
        self._apply({}, removed)
        return len(paths)

    # -- backfill ---------------------------------------------------------------------------
    def backfill(self, stop: Event | None = None) -> int:
        """Encode parts that lack a vector in a live space; returns vectors written."""
        done = 0
        for name, space in sorted(self.spaces.items()):
            missing = ("NOT EXISTS (SELECT 1 FROM vectors v WHERE v.space=? AND v.part_id=p.id)")
            rows = self.catalog.conn.execute(
                "SELECT p.id, p.text FROM parts p WHERE p.kind IN ('chunk','segment','ocr') "
                f"AND {missing} ORDER BY p.id", (name,)).fetchall()
            if rows and not space.ready(self.catalog):
                continue  # its model is unavailable on this run
            for i in range(0, len(rows), BACKFILL_TEXTS):
                if stop is not None and stop.is_set():
                    return done
                chunk = rows[i:i + BACKFILL_TEXTS]
                done += self._store(name, [r[0] for r in chunk],
                                    space.encode_texts([r[1] or "" for r in chunk]))
            if not space.images:
                continue
            rows = self.catalog.conn.execute(
                "SELECT p.id, p.item_id FROM parts p JOIN items i ON i.id = p.item_id "
                f"WHERE i.type='image' AND p.kind='file' AND {missing} ORDER BY p.id",
                (name,)).fetchall()
            if rows and not space.ready(self.catalog):
                continue
            for i in range(0, len(rows), BACKFILL_IMAGES):
                if stop is not None and stop.is_set():
                    return done
                ids, imgs = [], []
                for part_id, item_id in rows[i:i + BACKFILL_IMAGES]:
                    img = self._load_any(self.catalog.paths(item_id))
                    if img is not None:
                        ids.append(part_id)
                        imgs.append(img)
                if imgs:
                    done += self._store(name, ids, space.encode_images(imgs))
            done += self._backfill_frames(name, space, missing, stop)
        return done

    def _backfill_frames(self, name: str, space: Space, missing: str,
                         stop: Event | None) -> int:
        """Video keyframes lacking a vector: each decoded again at its start time."""
        from retrieval.errors import MediaError
        from retrieval.media.video import frame_at

        rows = self.catalog.conn.execute(
            "SELECT p.id, p.item_id, p.start FROM parts p "
            f"WHERE p.kind='frame' AND {missing} ORDER BY p.id", (name,)).fetchall()
        if not rows or not space.ready(self.catalog):
            return 0
        done = 0
        for i in range(0, len(rows), BACKFILL_IMAGES):
            if stop is not None and stop.is_set():
                break
            ids, imgs = [], []
            for part_id, item_id, start in rows[i:i + BACKFILL_IMAGES]:
                for p in self.catalog.paths(item_id):
                    try:
                        imgs.append(frame_at(Path(p), start or 0.0, CLIP_IMAGE_SIDE))
                    except (MediaError, OSError):
                        continue
                    ids.append(part_id)
                    break
            if imgs:
                done += self._store(name, ids, space.encode_images(imgs))
        return done

    def _load_any(self, paths: list[str]) -> Any:
        from retrieval.errors import MediaError
        from retrieval.media.decode import load_image

        for p in paths:
            try:
                img = load_image(Path(p), self.max_image_pixels)
            except (MediaError, OSError):
                continue
            img.thumbnail((CLIP_IMAGE_SIDE, CLIP_IMAGE_SIDE))
            return img
        return None

    def _store(self, space: str, ids: list[int], vecs: np.ndarray) -> int:
        self.encoded += len(ids)
        with self.catalog.write() as conn:
            self.catalog.put_vectors(conn, space, ids, vecs)
            self.catalog.bump_generation(conn, space)
        self._apply({space: (ids, [np.asarray(vecs)])}, {})
        return len(ids)


def _jpeg(data: bytes | None) -> Any:
    from PIL import Image

    img = Image.open(io.BytesIO(data or b""))
    img.load()
    return img


def _merge(into: dict[str, list[int]], more: dict[str, list[int]]) -> None:
    for space, ids in more.items():
        into.setdefault(space, []).extend(ids)
