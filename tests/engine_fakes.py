"""Tiny fake models and a hand-built corpus for engine and CLI tests (no weights, fast).

The fake text models embed bags of words by hashing, so "river boat" is nearest to a chunk
sharing those words; the fake transcriber reads the audio bytes as the transcript; the fake
CLIP image tower sees only a picture's mean colour.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from PIL import Image

from retrieval.catalog.database import Catalog
from retrieval.records import Segment, TextChunk, Transcript
from retrieval.store.faiss_index import VectorIndex, index_path


def _bag(text: str, dim: int) -> np.ndarray:
    v = np.zeros(dim, dtype=np.float32)
    for w in text.lower().split():
        v[int(hashlib.md5(w.strip(".,?").encode()).hexdigest(), 16) % dim] += 1.0
    n = np.linalg.norm(v)
    return v / n if n else v


class FakeText:
    name, dim = "fake-text", 64

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([_bag(t, self.dim) for t in texts])

    def chunk(self, text: str) -> list[TextChunk]:
        return [TextChunk(line, 0, len(line)) for line in text.splitlines() if line.strip()]


class FakeClip:
    name, dim = "fake-clip", 32

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([_bag(t, self.dim) for t in texts])

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """A picture's mean colour spread over three dims: red pictures sit together."""
        out = np.zeros((len(images), self.dim), dtype=np.float32)
        for n, im in enumerate(images):
            out[n, :3] = np.asarray(im, dtype=np.float32).reshape(-1, 3).mean(0) + 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class FakeSpeech:
    name = "fake-speech"
    calls = 0

    def transcribe(self, path: Path, prompt: str | None = None) -> Transcript:
        self.calls += 1
        text = Path(path).read_bytes().decode("utf-8")  # UnicodeDecodeError = bad upload
        return Transcript("en", [Segment(0.0, 1.0, text)], 1.0)


def fake_encoders(clip: bool = True) -> SimpleNamespace:
    return SimpleNamespace(
        text=FakeText(), clip=FakeClip() if clip else None, speech=FakeSpeech(), ocr=None
    )


# (path, type, mtime, parts: [(kind, text, start, end)])
TALK = [
    ("segment", "good morning everyone", 0.0, 2.0),
    ("segment", "a boat on the river", 2.0, 4.5),
]
NOTES = [(f"/c/notes/n{i:02d}.txt", "text", 700 + i, f"note {i} common words") for i in range(30)]
DOCS = [
    ("/c/docs/boats.txt", "text", 100, [("chunk", "the river boat sails at dawn", None, None)]),
    ("/c/docs/bread.txt", "text", 200, [("chunk", "bake bread with flour and yeast", None, None)]),
    ("/c/docs/inv-4471.txt", "text", 300, [("chunk", "invoice INV-4471 total 90 EUR", None, None)]),
    ("/c/docs/inv-4417.txt", "text", 300, [("chunk", "invoice INV-4417 total 90 EUR", None, None)]),
    ("/c/docs/inv-7441.txt", "text", 300, [("chunk", "invoice INV-7441 total 90 EUR", None, None)]),
    ("/c/talks/harbour.wav", "audio", 400, TALK),
    ("/c/pics/red.png", "image", 500, [("ocr", "SALE river", None, None)]),
    ("/c/pics/blue.png", "image", 600, []),
    *((p, t, m, [("chunk", text, None, None)]) for p, t, m, text in NOTES),
]
COLOURS = {"/c/pics/red.png": (250, 10, 10), "/c/pics/blue.png": (10, 10, 250)}


def build(data: Path, enc: SimpleNamespace) -> dict[str, int]:
    """Write DOCS into a catalog and FAISS files the way an indexing run would."""
    cat = Catalog(data / "catalog.sqlite")
    ids: dict[str, int] = {}
    with cat.write() as conn:
        for path, typ, mtime, parts, *_ in DOCS:
            item = cat.insert_item(conn, content_hash=path, type=typ, mtime=mtime)
            ids[path] = item
            cat.set_file(conn, path, item, 1, 1)
            fpart = cat.insert_part(conn, item, "file", 0)
            cat.refresh_names(conn, item)
            if path in COLOURS:
                img = Image.new("RGB", (8, 8), COLOURS[path])
                cat.put_vectors(conn, "clip", [fpart], enc.clip.encode_images([img]))
            for n, (kind, text, start, end) in enumerate(parts):
                pid = cat.insert_part(conn, item, kind, n, text=text, start=start, end=end)
                cat.put_vectors(conn, "text", [pid], enc.text.encode([text]))
                cat.put_vectors(conn, "clip", [pid], enc.clip.encode_texts([text]))
        for space, model in (("text", enc.text), ("clip", enc.clip)):
            cat.set_meta(f"space.{space}.model", model.name, conn)
            cat.set_meta(f"space.{space}.dim", str(model.dim), conn)
            cat.bump_generation(conn, space)
    for space in ("text", "clip"):
        VectorIndex.rebuild(cat, space, path=index_path(data, space)).save()
    cat.close()
    return ids
