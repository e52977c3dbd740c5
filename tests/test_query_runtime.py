"""Query encoders on ONNX Runtime: same vectors as torch, cached export, torch when it fails.

Real MiniLM (offline wheel) and the tests' tiny random-weight open_clip model; the ONNX files
go to a temporary ``XMODAL_ONNX_CACHE``. Also: a text query skips the CLIP text tower when
the collection has no CLIP-space vectors.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from retrieval.catalog.database import Catalog
from retrieval.config import Settings
from retrieval.encoders import ClipEncoder, TextEncoder
from retrieval.encoders.onnx import TOLERANCE, OnnxQueryModel, query_encode
from retrieval.engine import Engine
from retrieval.results import Query
from retrieval.store.faiss_index import VectorIndex, index_path
from tests.engine_fakes import FakeClip, FakeSpeech, FakeText

QUERIES = [
    "invoice from the plumber",
    "a red boat on the river at dawn",
    "x",
    "what did the board decide about the 2024 budget? " * 12,  # past 77 and 128 tokens
]


@pytest.mark.parametrize("space", ["text", "clip"])
def test_onnx_vectors_equal_torch_and_export_is_cached(
        fp32_models: tuple[Settings, TextEncoder, ClipEncoder], space: str,
        caplog: pytest.LogCaptureFixture) -> None:
    settings, text, clip = fp32_models
    model = text if space == "text" else clip
    torch_encode = text.encode if space == "text" else clip.encode_texts
    onnx = query_encode(space, model, settings)
    assert isinstance(onnx, OnnxQueryModel)
    got = np.vstack([onnx([q]) for q in QUERIES] + [onnx(QUERIES)])  # one by one, and a batch
    want = np.vstack([torch_encode([q]) for q in QUERIES] + [torch_encode(QUERIES)])
    assert onnx.runtime == "onnx"
    assert got.shape == want.shape and np.abs(got - want).max() <= TOLERANCE
    files = sorted(Path(settings.onnx_cache).glob(f"{space}-*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    with caplog.at_level(logging.INFO, logger="retrieval.encoders.onnx"):
        again = query_encode(space, model, settings)
        assert np.abs(again(QUERIES[:1]) - want[:1]).max() <= TOLERANCE
    assert not [r for r in caplog.records if "exporting" in r.message]  # opened, not re-exported
    assert files[0].stat().st_mtime_ns == stamp


def test_failed_export_falls_back_to_torch_with_one_warning(
        fp32_models: tuple[Settings, TextEncoder, ClipEncoder], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    settings, _text, clip = fp32_models
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("the cache path is a file, so the export cannot be written")
    broken = settings.model_copy(update={"onnx_cache": blocker})
    encode = query_encode("clip", clip, broken)
    with caplog.at_level(logging.WARNING, logger="retrieval.encoders.onnx"):
        first, second = encode(QUERIES[:2]), encode(QUERIES[2:])
    assert np.array_equal(first, clip.encode_texts(QUERIES[:2]))  # torch's own vectors
    assert np.array_equal(second, clip.encode_texts(QUERIES[2:]))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "using torch" in warnings[0].message
    assert isinstance(encode, OnnxQueryModel) and encode.runtime.startswith("torch")


def test_runtime_setting_picks_the_path(
        fp32_models: tuple[Settings, TextEncoder, ClipEncoder],
        monkeypatch: pytest.MonkeyPatch) -> None:
    settings, text, _clip = fp32_models
    monkeypatch.setenv("XMODAL_QUERY_RUNTIME", "torch")
    assert Settings().query_runtime == "torch"
    assert query_encode("text", text, settings.model_copy(update={"query_runtime": "torch"})
                        ) == text.encode
    auto = settings.model_copy(update={"query_runtime": "auto"})
    assert isinstance(query_encode("text", text, auto), OnnxQueryModel)  # CPU, fp32


class CountingClip(FakeClip):
    def __init__(self) -> None:
        self.text_calls = 0

    def encode_texts(self, texts: Any) -> np.ndarray:
        self.text_calls += 1
        return super().encode_texts(texts)


def test_text_query_skips_clip_when_the_collection_has_no_clip_vectors(tmp_path: Path) -> None:
    text, clip = FakeText(), CountingClip()
    cat = Catalog(tmp_path / "catalog.sqlite")
    with cat.write() as conn:  # CLIP space registered (an earlier run had CLIP), but empty
        item = cat.insert_item(conn, content_hash="h", type="text", mtime=1)
        cat.set_file(conn, "/c/boats.txt", item, 1, 1)
        cat.insert_part(conn, item, "file", 0)
        pid = cat.insert_part(conn, item, "chunk", 1, text="the river boat sails at dawn")
        cat.put_vectors(conn, "text", [pid], text.encode(["the river boat sails at dawn"]))
        for space, model in (("text", text), ("clip", clip)):
            cat.set_meta(f"space.{space}.model", model.name, conn)
            cat.set_meta(f"space.{space}.dim", str(model.dim), conn)
            cat.bump_generation(conn, space)
    for space in ("text", "clip"):
        VectorIndex.rebuild(cat, space, path=index_path(tmp_path, space)).save()
    cat.close()
    encoders = SimpleNamespace(text=text, clip=clip, speech=FakeSpeech(), ocr=None)
    with Engine(Settings(XMODAL_DATA=tmp_path), encoders=encoders) as engine:  # type: ignore[arg-type]
        resp = engine.search(Query(text="river boat"))
    assert [r.path for r in resp.results] == ["/c/boats.txt"]
    assert "clip" not in resp.results[0].scores
    assert clip.text_calls == 0


def test_two_exports_at_once_both_succeed(
        fp32_models: tuple[Settings, TextEncoder, ClipEncoder], tmp_path: Path) -> None:
    """The engine's two query threads export at their first query, at the same time."""
    settings, _text, clip = fp32_models
    models = [query_encode("clip", clip, settings.model_copy(
        update={"onnx_cache": tmp_path / str(i)})) for i in range(2)]
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda m: m(QUERIES[:1]), models))
    assert [getattr(m, "runtime", None) for m in models] == ["onnx", "onnx"]
    assert np.abs(outs[0] - outs[1]).max() <= TOLERANCE
