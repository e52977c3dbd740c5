"""Faults: a full disk, damaged files at start-up, and a server reading while an indexer writes.

Each scenario starts from a data directory built in-process with the session's models (fast)
and then exercises the real ``xmodal`` command in a child process, where a crash, a signal or
a traceback is visible as such. The claims (``docs/reliability.md``):

- a run that hits a full disk (a small tmpfs when this process may mount one, else
  ``RLIMIT_FSIZE``) stops with a clear error, and what was committed before stays intact and
  searchable; freeing space and rerunning completes the run;
- a damaged ``<space>.faiss`` is detected at start-up and rebuilt from the catalog's vectors,
  whatever the damage (truncated, garbage, zero bytes, a flipped byte, a lying header);
  ``xmodal repair`` rewrites it;
- a damaged ``catalog.sqlite`` gives a clear message naming the file and what to do, never a
  traceback or a signal;
- while the live server answers concurrent searches, an ``xmodal index`` run adds files: no
  request fails, every result resolves, and the new items are found once the run commits.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests import hostile
from tests.media import pattern_image

TOPICS = ("harbour boats sunset", "mountain snow ridge", "bread flour oven", "invoice tax due")


# --- helpers -----------------------------------------------------------------------------


def write_docs(folder: Path, n: int, words: int = 60, marker: str = "") -> list[Path]:
    """``n`` small text documents on a few topics, plus ``marker`` in each when given."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(folder.name) + n)
    out = []
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)].split()
        body = " ".join(rng.choice(topic + ["the", "and", "of", "a"], words))
        path = folder / f"doc_{i:03d}.txt"
        path.write_text(f"{marker} {' '.join(topic)} note {i}. {body}\n".strip() + "\n")
        out.append(path)
    return out


def small_corpus(folder: Path) -> Path:
    write_docs(folder / "docs", 8)
    pics = folder / "pictures"
    pics.mkdir(parents=True)
    for i in range(3):
        pattern_image(100 + i, (128, 96)).save(pics / f"photo_{i}.png")
    return folder


def env_for(settings: Any, tiny_clip_files: Any, data: Path) -> dict[str, str]:
    model, config, checkpoint = tiny_clip_files
    return hostile.subprocess_env(
        settings.model_copy(update={"data_dir": data}),
        XMODAL_CLIP_MODEL=str(model),
        XMODAL_CLIP_CONFIG=str(config),
        XMODAL_CLIP_CHECKPOINT=str(checkpoint),
    )


def xmodal(
    data: Path, *args: str, env: dict[str, str], timeout: float = 300, preexec: Any = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*hostile.xmodal_argv(), "--data", str(data), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=preexec,
        stdin=subprocess.DEVNULL,
    )


def build(settings: Any, encoders: Any, data: Path, *roots: Path) -> Any:
    from indexer.pipeline import run_index

    return run_index(
        settings.model_copy(update={"data_dir": data}),
        list(roots),
        encoders=encoders,
        progress=False,
    )


def state(data: Path) -> dict[str, Any]:
    """The committed content of a data directory, by content (ids aside)."""
    con = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return {
            "integrity": [r[0] for r in con.execute("PRAGMA integrity_check")],
            "files": dict(
                con.execute(
                    "SELECT f.path, i.content_hash FROM files f "
                    "LEFT JOIN items i ON i.id = f.item_id WHERE f.status = 'ok'"
                )
            ),
            "vectors": dict(
                con.execute("SELECT space, COUNT(*) FROM vectors GROUP BY space").fetchall()
            ),
        }
    finally:
        con.close()


def search_paths(settings: Any, encoders: Any, data: Path, text: str) -> list[str]:
    from retrieval.engine import Engine
    from retrieval.results import Query

    engine = Engine(settings.model_copy(update={"data_dir": data}), encoders)
    try:
        return [r.path for r in engine.search(Query(text=text, limit=10)).results]
    finally:
        engine.close()


def failure_problems(proc: subprocess.CompletedProcess[str], *words: str) -> list[str]:
    """What is wrong with how a run failed: it must exit 1 (not 0, not a signal), show no
    traceback, and say in its message one of ``words``."""
    problems = []
    if proc.returncode != 1:
        problems.append(f"exit status {proc.returncode}")
    if "Traceback" in proc.stderr:
        problems.append("a traceback instead of a message: " + proc.stderr[-600:])
    if not any(w in proc.stderr.lower() for w in words):
        problems.append(f"no message with any of {words}: {proc.stderr[-600:]}")
    return problems


# --- disk full ---------------------------------------------------------------------------


@contextlib.contextmanager
def small_tmpfs(where: Path, size_mb: int) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def fill(folder: Path, leave_bytes: int) -> Path:
    """Write a filler file until only about ``leave_bytes`` are free on ``folder``'s disk."""
    filler = folder / "filler.bin"
    st = os.statvfs(folder)
    free = st.f_bavail * st.f_frsize
    with open(filler, "wb") as f:
        left = max(0, free - leave_bytes)
        block = b"\0" * (1 << 20)
        while left > 0:
            n = min(left, len(block))
            try:
                f.write(block[:n])
            except OSError:
                break
            left -= n
    return filler


def _limit_file_size(limit: int) -> Any:
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


@pytest.mark.parametrize("how", ["tmpfs", "rlimit"])
def test_a_full_disk_stops_the_run_cleanly_and_keeps_what_was_there(
    how: str, tmp_path: Path, offline_settings: Any, encoders: Any, tiny_clip_files: Any
) -> None:
    corpus_a = small_corpus(tmp_path / "a")
    corpus_b = tmp_path / "b"
    write_docs(corpus_b, 30, words=600, marker="overflowmarker")
    if how == "tmpfs":
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        stack = small_tmpfs(tmp_path / "disk", 48)
    else:
        stack = contextlib.nullcontext(tmp_path / "disk")
    with stack as disk:
        data = Path(disk) / "data"
        build(offline_settings, encoders, data, corpus_a)
        before = state(data)
        query = "harbour boats at sunset"
        top_before = search_paths(offline_settings, encoders, data, query)
        assert before["integrity"] == ["ok"] and top_before
        env = env_for(offline_settings, tiny_clip_files, data)
        if how == "tmpfs":
            filler = fill(Path(disk), 256 * 1024)
            proc = xmodal(data, "index", str(corpus_b), "--quiet", env=env)
        else:
            filler = None
            biggest = max(p.stat().st_size for p in data.iterdir() if p.is_file())
            proc = xmodal(
                data,
                "index",
                str(corpus_b),
                "--quiet",
                env=env,
                preexec=_limit_file_size(biggest + 128 * 1024),
            )
        # Checked last, so a test run reports the state of the data as well as the message.
        message_problems = failure_problems(proc, "space", "full", "disk", "file size")
        if filler is not None:
            filler.unlink()
        after = state(data)
        assert after["integrity"] == ["ok"]
        for path, digest in before["files"].items():  # everything committed before is there
            assert after["files"].get(path) == digest, path
        assert search_paths(offline_settings, encoders, data, query)[:3] == top_before[:3]
        check = xmodal(data, "stats", "--json", env=env)
        assert check.returncode == 0, check.stderr[-2000:]
        rerun = xmodal(data, "index", str(corpus_b), "--quiet", env=env)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        done = state(data)
        assert done["integrity"] == ["ok"]
        assert sum(1 for p in done["files"] if "/b/" in p) == 30
    assert not message_problems, message_problems


# --- damaged files at start-up -----------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, offline_settings: Any, encoders: Any) -> Path:
    """A small data directory built once; tests damage copies of it."""
    base = tmp_path_factory.mktemp("faults")
    data = base / "data"
    build(offline_settings, encoders, data, small_corpus(base / "corpus"))
    return data


def copy_data(built: Path, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(built, data)
    return data


def damage_index(path: Path, how: str) -> None:
    raw = bytearray(path.read_bytes())
    if how == "truncated":
        del raw[len(raw) // 2 :]
    elif how == "garbage":
        raw[:] = np.random.default_rng(1).integers(0, 256, len(raw), dtype=np.uint8).tobytes()
    elif how == "empty":
        raw.clear()
    elif how == "flipped byte":
        raw[len(raw) // 2] ^= 0xFF  # inside the vectors, same size: only a checksum can tell
    elif how == "lying header":  # valid JSON, same length, a wrong vector count
        at = raw.index(b'"ntotal": ') + len(b'"ntotal": ')
        raw[at] = ord("9") if raw[at] != ord("9") else ord("8")
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("how", ["truncated", "garbage", "empty", "flipped byte", "lying header"])
def test_a_damaged_index_file_is_rebuilt_from_the_catalog(
    how: str, built: Path, tmp_path: Path, offline_settings: Any, tiny_clip_files: Any
) -> None:
    data = copy_data(built, tmp_path)
    target = data / "text.faiss"
    damage_index(target, how)
    env = env_for(offline_settings, tiny_clip_files, data)
    # A child process: a loader that segfaults on garbage must not take pytest down with it.
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, json, numpy as np\n"
            "from retrieval.catalog.database import Catalog\n"
            "from retrieval.store.faiss_index import VectorIndex\n"
            "cat = Catalog(sys.argv[1] + '/catalog.sqlite')\n"
            "idx = VectorIndex.open(cat, sys.argv[1], 'text')\n"
            "ids, mat, gen = cat.load_vectors('text')\n"
            "got = np.stack([idx.reconstruct(int(i)) for i in ids])\n"
            "print(json.dumps({'n': idx.ntotal, 'want': len(ids),"
            " 'same': bool(np.array_equal(got, mat))}))\n",
            str(data),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, (probe.returncode, probe.stderr[-2000:])
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["n"] == result["want"] and result["same"], (how, result)
    stats = xmodal(data, "stats", "--json", env=env)
    assert stats.returncode == 0, stats.stderr[-2000:]
    fixed = xmodal(data, "repair", env=env)
    assert fixed.returncode == 0, fixed.stderr[-2000:]
    from retrieval.store.faiss_index import VectorIndex

    idx = VectorIndex.load(target)
    assert idx.ntotal == result["want"]


def damage_catalog(path: Path, how: str) -> None:
    raw = bytearray(path.read_bytes())
    if how == "header":
        raw[:100] = b"\xde\xad\xbe\xef" * 25
    elif how == "pages":
        page = int.from_bytes(raw[16:18], "big") or 65536
        rng = np.random.default_rng(2)
        for start in range(page, len(raw), page * 2):  # every other page after the first
            raw[start + 8 : start + page] = rng.integers(0, 256, page - 8, np.uint8).tobytes()
    elif how == "truncated":
        del raw[len(raw) // 3 :]
    elif how == "not sqlite":
        raw[:] = b"this is a text file where a database should be\n" * 100
    path.write_bytes(bytes(raw))


def checkpoint(data: Path) -> None:
    """Fold the WAL into the main file, so damage to the file is damage to the data."""
    con = sqlite3.connect(data / "catalog.sqlite")
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    for side in ("catalog.sqlite-wal", "catalog.sqlite-shm"):
        (data / side).unlink(missing_ok=True)


@pytest.mark.parametrize("how", ["header", "pages", "truncated", "not sqlite"])
def test_a_damaged_catalog_gives_a_clear_message(
    how: str, built: Path, tmp_path: Path, offline_settings: Any, tiny_clip_files: Any
) -> None:
    data = copy_data(built, tmp_path)
    checkpoint(data)
    damage_catalog(data / "catalog.sqlite", how)
    env = env_for(offline_settings, tiny_clip_files, data)
    for args in (("stats", "--json"), ("repair",)):
        proc = xmodal(data, *args, env=env, timeout=120)
        assert proc.returncode in (0, 1), (args, proc.returncode, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (args, proc.stderr[-3000:])
        if proc.returncode == 1:
            text = proc.stderr.lower()
            assert "catalog" in text, (args, proc.stderr[-1000:])
            assert any(w in text for w in ("repair", "index", "backup", "delete", "remove")), (
                args,
                proc.stderr[-1000:],
            )


def test_a_damaged_catalog_stops_search_and_serve_with_a_message(
    built: Path, tmp_path: Path, offline_settings: Any, tiny_clip_files: Any
) -> None:
    """The commands that only read say so too, before loading any model or binding a port."""
    data = copy_data(built, tmp_path)
    checkpoint(data)
    damage_catalog(data / "catalog.sqlite", "header")
    env = env_for(offline_settings, tiny_clip_files, data)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for args in (("search", "harbour", "--json"), ("serve", "--port", str(port))):
        try:
            proc = xmodal(data, *args, env=env, timeout=120)
        except subprocess.TimeoutExpired:
            pytest.fail(f"xmodal {args[0]} kept running on a damaged catalog")
        assert proc.returncode == 1, (args, proc.returncode, proc.stderr[-2000:])
        assert "Traceback" not in proc.stderr, (args, proc.stderr[-3000:])
        assert "catalog" in proc.stderr.lower() and "index" in proc.stderr.lower(), proc.stderr


# --- server and indexer at once ----------------------------------------------------------


def test_the_server_keeps_answering_while_an_indexer_adds_files(
    tmp_path: Path, offline_settings: Any, encoders: Any, tiny_clip_files: Any
) -> None:
    from tests.fixtures_server import _serve

    data = tmp_path / "data"
    build(offline_settings, encoders, data, small_corpus(tmp_path / "first"))
    marker = "zebracrossing" + uuid.uuid4().hex[:6]
    new = write_docs(tmp_path / "second", 40, words=120, marker=marker)
    settings = offline_settings.model_copy(update={"data_dir": data})
    server = _serve(settings, encoders)
    stop = threading.Event()
    latencies: list[float] = []
    failures: list[str] = []
    seen_new = threading.Event()
    lock = threading.Lock()

    def client(n: int) -> None:
        queries = [marker, "harbour boats", "bread in the oven", "invoice due", marker]
        with httpx.Client(base_url=server.url, timeout=120) as c:
            i = n
            while not stop.is_set():
                q = queries[i % len(queries)]
                i += 1
                start = time.monotonic()
                try:
                    r = c.get("/api/search", params={"q": q, "limit": 10})
                except httpx.HTTPError as exc:
                    with lock:
                        failures.append(f"{q}: {exc!r}")
                    continue
                took = time.monotonic() - start
                with lock:
                    latencies.append(took)
                if r.status_code != 200:
                    with lock:
                        failures.append(f"{q}: {r.status_code} {r.text[:200]}")
                    continue
                results = r.json()["results"]
                for res in results[:3]:  # every id a reader gets must resolve
                    d = c.get(f"/api/items/{res['id']}")
                    if d.status_code != 200:
                        with lock:
                            failures.append(f"item {res['id']}: {d.status_code}")
                if q == marker and any(
                    marker in (res["match"].get("text") or "") or "/second/" in res["path"]
                    for res in results
                ):
                    seen_new.set()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    try:
        for t in threads:
            t.start()
        time.sleep(2)
        env = env_for(offline_settings, tiny_clip_files, data)
        proc = xmodal(data, "index", str(tmp_path / "second"), "--quiet", env=env, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        finished = time.monotonic()
        assert seen_new.wait(30), "the new files never showed up in search results"
        appeared_after = time.monotonic() - finished
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=120)
        server.stop()
        server.extra["engine"].close()
    assert not failures, failures[:10]
    lat = sorted(latencies)
    print(
        f"\nserver+indexer: 4 clients, {len(lat)} searches while indexing {len(new)} files, "
        f"0 failures, p50 {statistics.median(lat) * 1000:.0f} ms, "
        f"p95 {lat[int(0.95 * (len(lat) - 1))] * 1000:.0f} ms, max {lat[-1] * 1000:.0f} ms; "
        f"new items visible {appeared_after:.1f} s after the run ended"
    )
    assert len(lat) >= 20
