"""Read-side catalog queries the search engine needs beyond ``Catalog``'s own methods.

Kept apart from ``engine.py`` so the engine reads as the query flow; each function takes the
catalog and uses the calling thread's connection (``Catalog.conn``).
"""

from __future__ import annotations

import numpy as np

from retrieval.catalog.database import Catalog


def normalise(vec: np.ndarray) -> np.ndarray:
    """A flat float32 copy scaled to unit length (a zero vector stays zero)."""
    v = np.asarray(vec, dtype=np.float32).reshape(-1)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def part_items(catalog: Catalog, part_ids: list[int]) -> dict[int, int]:
    """part id → its item id, for the ids a vector search returned; unknown ids are absent.

    Only the two integers fusion needs (a search returns hundreds of parts; the page shows
    twenty): an index read while a run writes can return ids deleted since, and callers skip
    those.
    """
    out: dict[int, int] = {}
    conn = catalog.conn
    for start in range(0, len(part_ids), 900):
        chunk = part_ids[start : start + 900]
        rows = conn.execute(
            f"SELECT id, item_id FROM parts WHERE id IN ({','.join('?' * len(chunk))})", chunk
        ).fetchall()
        out.update(rows)
    return out


def item_paths(
    catalog: Catalog, ids: list[int], path_glob: str | None
) -> dict[int, tuple[str, str]]:
    """item id → (type, the path to show): its first indexed path (passing the glob).

    Items with no indexed path left (removed between the vector search and now) are absent,
    so a result never points at nothing.
    """
    out: dict[int, tuple[str, str]] = {}
    cond = " AND xm_path_match(f.path, ?)" if path_glob else ""
    conn = catalog.conn
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        args: list[object] = [path_glob] if path_glob else []
        rows = conn.execute(
            "SELECT i.id, i.type, (SELECT MIN(f.path) FROM files f WHERE f.item_id = i.id "
            f"AND f.status = 'ok'{cond}) FROM items i WHERE i.id IN ({marks})",
            [*args, *chunk],
        ).fetchall()
        out.update({r[0]: (r[1], r[2]) for r in rows if r[2] is not None})
    return out


def item_vector(
    catalog: Catalog, item_id: int, item_type: str, space: str, max_parts: int
) -> np.ndarray | None:
    """An item's own direction in a space, for "more like this".

    An image in CLIP space is its image vector (not the text OCR found on it), a video its
    keyframes'; anything else is the normalised mean of its first ``max_parts`` parts' stored
    vectors.
    """
    kinds = "1"
    if space == "clip" and item_type in ("image", "video"):  # pictures, not the words on them
        kinds = "p.kind = 'file'" if item_type == "image" else "p.kind = 'frame'"
    rows = catalog.conn.execute(
        "SELECT v.vec FROM vectors v JOIN parts p ON p.id = v.part_id "
        f"WHERE p.item_id = ? AND v.space = ? AND {kinds} ORDER BY p.ord, p.id LIMIT ?",
        (item_id, space, max_parts),
    ).fetchall()
    if not rows:
        return None
    mat = np.stack([np.frombuffer(r[0], dtype=np.float16).astype(np.float32) for r in rows])
    return normalise(mat.mean(axis=0))


def moment_vector(catalog: Catalog, item_id: int, at: float, space: str) -> np.ndarray | None:
    """A video's direction at ``at`` seconds, for "more like this" from one moment.

    In CLIP space the keyframe on screen then (the last one starting at or before ``at``);
    in the text space the mean of the words shown or said then.
    """
    moment = ("p.kind = 'frame' ORDER BY p.start > ?, ABS(p.start - ?) LIMIT 1"
              if space == "clip"
              else "p.kind IN ('ocr', 'segment') AND p.start <= ? AND p.\"end\" >= ?")
    rows = catalog.conn.execute(
        "SELECT v.vec FROM vectors v JOIN parts p ON p.id = v.part_id "
        f"WHERE p.item_id = ? AND v.space = ? AND {moment}",
        (item_id, space, at, at),
    ).fetchall()
    if not rows:
        return None
    mat = np.stack([np.frombuffer(r[0], dtype=np.float16).astype(np.float32) for r in rows])
    return normalise(mat.mean(axis=0))
