"""Interruptions and concurrency: real ``xmodal index`` processes stopped part way.

SIGTERM must commit the current batch, save the indexes and exit 130; SIGKILL may land
anywhere, and the next run must still end with exactly what a clean build produces: the same
items, the same part (vector) ids, the same vectors and the same FAISS search results. A
search running while an indexing run writes must never fail or see a torn index.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.catalog.database import Catalog
from retrieval.ingest.ingestor import Ingestor, index_files
from retrieval.store.faiss_index import VectorIndex, index_path
from tests.media import pattern_image

N_TEXTS, N_IMAGES = 48, 32
TOPICS = ["river", "mountain", "kitchen", "engine", "violin", "harvest", "comet", "library"]
SETTING_ENV = ("text_model", "clip_model", "clip_pretrained", "clip_checkpoint", "clip_config",
               "whisper_backend", "whisper_model", "device")


def _make_folder(root: Path) -> Path:
    for i in range(N_TEXTS):
        topic = TOPICS[i % len(TOPICS)]
        (root / "docs").mkdir(parents=True, exist_ok=True)
        (root / "docs" / f"note_{i:02d}.txt").write_text(
            f"Note {i} about the {topic}: entry number {i * 7} in the {topic} log.\n")
    for i in range(N_IMAGES):
        (root / "pics").mkdir(parents=True, exist_ok=True)
        pattern_image(500 + i, (96, 72)).save(root / "pics" / f"pic_{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def kill_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _make_folder(tmp_path_factory.mktemp("killcorpus"))


def _env(offline_settings: Any, data: Path) -> dict[str, str]:
    env = dict(os.environ)
    for field in SETTING_ENV:
        value = getattr(offline_settings, field, None)
        if value is not None:
            env[f"XMODAL_{field.upper()}"] = str(value)
    env.update(XMODAL_DATA=str(data), XMODAL_OCR_ENABLED="false", HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    return env


def _xmodal(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("xmodal")), *args]


def _committed(data: Path) -> int:
    try:
        conn = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True, timeout=1)
        try:
            return int(conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def _interrupt(folder: Path, env: dict[str, str], sig: int, after: int) -> tuple[int, int]:
    """Start a run, send ``sig`` once ``after`` files are committed; (exit code, committed)."""
    data = Path(env["XMODAL_DATA"])
    proc = subprocess.Popen(_xmodal("index", str(folder), "--batch", "4", "-q"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while _committed(data) < after and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    at = _committed(data)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert at < N_TEXTS + N_IMAGES, f"run finished before the signal: {err.decode()[-2000:]}"
    return proc.returncode, at


def _snapshot(data: Path) -> dict[str, Any]:
    """What a build produced: items, parts by id, vectors by space, FAISS ids and results."""
    cat = Catalog(data / "catalog.sqlite")
    c = cat.conn
    items = sorted(
        (h, t, tuple(sorted(p for (p,) in c.execute(
            "SELECT path FROM files WHERE item_id=?", (i,)))))
        for i, h, t in c.execute("SELECT id, content_hash, type FROM items"))
    parts = {pid: (h, k, o, txt) for pid, h, k, o, txt in c.execute(
        "SELECT p.id, i.content_hash, p.kind, p.ord, p.text FROM parts p "
        "JOIN items i ON i.id = p.item_id")}
    spaces = {}
    for space in cat.spaces():
        ids, mat, _ = cat.load_vectors(space)
        idx = VectorIndex.load(index_path(data, space))
        assert idx.agrees_with(cat), f"{space} index on disk is stale after a completed run"
        queries = mat[:: max(1, len(mat) // 6)][:6]
        spaces[space] = {"ids": ids, "mat": mat, "faiss_ids": idx.ids(),
                         "top": idx.search(queries, 5)[1]}
    assert cat.integrity_check() == []
    cat.close()
    return {"items": items, "parts": parts, "spaces": spaces}


def test_sigterm_then_sigkill_then_rerun_equals_clean_build(
        kill_folder: Path, offline_settings: Any, tmp_path: Path) -> None:
    resumed, clean = tmp_path / "resumed", tmp_path / "clean"
    env = _env(offline_settings, resumed)

    rc, at = _interrupt(kill_folder, env, signal.SIGTERM, after=8)
    assert rc == 130
    cat = Catalog(resumed / "catalog.sqlite")  # stopped cleanly: indexes saved and current
    assert at <= cat.counts()["files"].get("ok", 0) < N_TEXTS + N_IMAGES
    for space in cat.spaces():
        assert VectorIndex.load(index_path(resumed, space)).agrees_with(cat)
    cat.close()

    rc, _ = _interrupt(kill_folder, env, signal.SIGKILL, after=at + 8)
    assert rc == -signal.SIGKILL

    done = subprocess.run(_xmodal("index", str(kill_folder), "--json", "-q"), env=env,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report = json.loads(done.stdout)
    assert set(report) >= {"added", "updated", "unchanged", "removed", "failed", "failures",
                           "seconds"}
    assert report["added"] + report["unchanged"] == N_TEXTS + N_IMAGES
    assert report["failed"] == 0

    built = subprocess.run(_xmodal("index", str(kill_folder), "--json", "-q"),
                           env=_env(offline_settings, clean), capture_output=True, timeout=300)
    assert built.returncode == 0, built.stderr.decode()[-2000:]
    full = json.loads(built.stdout)
    assert full["added"] == N_TEXTS + N_IMAGES
    print(f"clean build: {full['added'] / full['seconds']:.1f} files/s "
          f"({full['added']} files in {full['seconds']:.1f} s)")

    a, b = _snapshot(resumed), _snapshot(clean)
    assert a["items"] == b["items"]
    assert a["parts"] == b["parts"]  # same ids for the same parts
    assert set(a["spaces"]) == set(b["spaces"]) == {"text", "clip"}
    for space in a["spaces"]:
        sa, sb = a["spaces"][space], b["spaces"][space]
        assert np.array_equal(sa["ids"], sb["ids"])
        assert np.array_equal(sa["faiss_ids"], sb["faiss_ids"])
        np.testing.assert_allclose(sa["mat"], sb["mat"], atol=2e-3)
        assert np.array_equal(sa["top"], sb["top"]), space


def test_search_while_indexing_never_sees_torn_index(
        kill_folder: Path, encoders: Any, offline_settings: Any, tmp_path: Path) -> None:
    from retrieval.engine import Engine
    from retrieval.results import Query

    settings = offline_settings.model_copy(  # OCR of 32 pictures would only add minutes
        update={"data_dir": tmp_path / "data", "ocr_enabled": False})
    files = sorted(p for p in kill_folder.rglob("*") if p.is_file())
    entries = [_Entry(p) for p in files]
    with Ingestor(settings, encoders) as ing:  # a first slice, so there is something to find
        index_files(ing, entries[:8], batch_files=4)

    errors: list[BaseException] = []
    seen: list[int] = []

    def write() -> None:
        try:
            with Ingestor(settings, encoders) as ing:
                index_files(ing, entries, batch_files=4, save_interval=0.0)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    writer = threading.Thread(target=write)
    engine = Engine(settings, encoders)
    try:
        writer.start()
        while writer.is_alive() or not seen:
            resp = engine.search(Query(text="notes about the river", limit=50))
            assert all(r.path and Path(r.path).exists() for r in resp.results)
            for space in ("text", "clip"):  # a raw reader of the files: never torn
                idx = VectorIndex.load(index_path(settings.data_dir, space))
                assert idx.ntotal == len(idx.ids())
            seen.append(len(resp.results))
        writer.join()
    finally:
        engine.close()
    assert not errors, errors
    assert len(seen) >= 2
    final = Engine(settings, encoders)
    try:
        assert final.search(Query(text="river", limit=50)).results
    finally:
        final.close()


class _Entry:
    def __init__(self, path: Path) -> None:
        st = path.stat()
        self.path, self.size, self.mtime_ns = path, st.st_size, st.st_mtime_ns
