"""A data directory with N indexed text parts, written straight into the catalog.

Why not index real files: at ~20-40 MiniLM chunks/s on two shared cores, 100k parts would take
about an hour per space. Query latency does not depend on how the vectors got there, so this
writes what an indexing run would have written (items, ``file`` and ``chunk`` parts with their
text in FTS5, float16 vectors in both spaces, the spaces' model names) through the catalog's
own API, then builds the FAISS files with ``VectorIndex.open``. Texts are real chunks from
``bench.corpus`` (cycled); text-space vectors are ``bench.vectors``' (real MiniLM first, then
synthetic neighbours); CLIP-space vectors are their 512-d counterparts.

A random-weight ViT-B-32 checkpoint (``clip_checkpoint``) gives ``xmodal serve`` a CLIP model
with the real architecture and cost, so the server runs both towers like a real install.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

from bench import corpus, vectors

TEXT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
CLIP_ARCH = "ViT-B-32"
CKPT_NAME = "vitb32-random.pt"


def clip_checkpoint(cache: Path = corpus.CACHE) -> Path:
    """A ViT-B-32 state dict with random weights (seed 0), written once (~600 MB)."""
    path = cache / CKPT_NAME
    if not path.exists():
        import open_clip
        import torch

        torch.manual_seed(0)
        model = open_clip.create_model(CLIP_ARCH, pretrained=None)
        cache.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), path)
    return path


def clip_space_name(checkpoint: Path) -> str:
    """The name ``ClipEncoder`` gives a model loaded from ``checkpoint`` (``arch/file``)."""
    return f"{CLIP_ARCH}/{checkpoint.name}"


def build(data_dir: Path, n_parts: int, parts_per_item: int = 10,
          clip_name: str | None = None) -> dict[str, float]:
    """Fill ``data_dir`` with ``n_parts`` chunk parts; returns timings. Idempotent per size."""
    from retrieval.catalog.database import Catalog
    from retrieval.store.faiss_index import VectorIndex

    data_dir.mkdir(parents=True, exist_ok=True)
    marker = data_dir / f".bench-{n_parts}"
    if marker.exists():  # catalog written before; bring the index files to the current rule
        t0 = time.perf_counter()
        catalog = Catalog(data_dir / "catalog.sqlite")
        for space in ("text", "clip"):
            idx = VectorIndex.open(catalog, data_dir, space)  # rebuilt if the rule changed
            if idx is not None:
                idx.save()  # once, in the current file format
        catalog.close()
        return {"reused": 1.0, "index_s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    _base, _q, texts = corpus.load()
    text_vecs, _q, _info = vectors.load_space("text", n_parts, 1)
    clip_vecs = vectors.to_clip_space(text_vecs, seed=1, noise_seed=2)
    catalog = Catalog(data_dir / "catalog.sqlite")
    spaces = {"text": (TEXT_MODEL, text_vecs),
              "clip": (clip_name or clip_space_name(Path(CKPT_NAME)), clip_vecs)}
    n_items = -(-n_parts // parts_per_item)
    done = 0
    with catalog.write() as conn:
        for space, (model, vecs) in spaces.items():
            catalog.set_meta(f"space.{space}.model", model, conn)
            catalog.set_meta(f"space.{space}.dim", str(vecs.shape[1]), conn)
    for first in range(0, n_items, 1000):
        with catalog.write() as conn:
            part_ids, rows = [], []
            for item in range(first, min(n_items, first + 1000)):
                name = f"doc_{item:07d}.md"
                item_id = catalog.insert_item(
                    conn, content_hash=hashlib.sha256(name.encode()).hexdigest(), type="text",
                    size=4000, mtime=1.7e9)
                catalog.set_file(conn, str(data_dir / "docs" / name), item_id, 4000, 0)
                catalog.insert_part(conn, item_id, "file", 0, name=name)
                for o in range(min(parts_per_item, n_parts - done)):
                    text = texts[done % len(texts)]
                    part_ids.append(catalog.insert_part(conn, item_id, "chunk", o + 1, text=text))
                    rows.append(done)
                    done += 1
            for space, (_model, vecs) in spaces.items():
                catalog.put_vectors(conn, space, part_ids, vecs[rows])
                catalog.bump_generation(conn, space)
    t_catalog = time.perf_counter() - t0
    for space in spaces:
        VectorIndex.open(catalog, data_dir, space, save=True)
    catalog.close()
    marker.touch()
    return {"catalog_s": t_catalog, "index_s": time.perf_counter() - t0 - t_catalog}
