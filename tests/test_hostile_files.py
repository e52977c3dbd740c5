"""A folder of hostile files through a real ``xmodal index --json`` process.

One run indexes every input ``tests.hostile.build_hostile_folder`` makes (bombs, broken media,
an hour of silence, a 10 MB line, binary ``.txt``, hostile names, links out of the roots, a
pipe, a device) with the real models, as a separate process, so a hang, a crash or a memory
blow-up shows as what it is. What must hold:

- the run completes (exit 0) in bounded time;
- every input is indexed, failed *with a reason*, or (links out, pipes, devices) skipped,
  as ``Hostile.expect`` allows; valid content under hostile names is searchable;
- nothing outside the roots is indexed, whatever the links say;
- the child's peak RSS stays under ``RSS_BOUND`` (see below for why that number);
- a second run changes nothing and retries no failure;
- files that vanish, shrink, grow, or turn into links while being read never crash a run,
  and a rerun after they settle indexes their final content.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from retrieval.ingest.extract import content_hash
from tests import hostile

# The peak resident memory an ``xmodal index`` child may reach on the hostile folder. Its
# baseline is the models: torch, MiniLM, Whisper tiny, the OCR detector and recogniser and a
# tiny CLIP, about 1.1-1.4 GB on CPU. On top of that one decoded block of audio (10 min at
# 16 kHz, 38 MB), one image under the pixel limit, one text file under the byte limit and its
# chunks may be in flight per decode worker; with two workers each holding an image near the
# 100 Mpx limit (300 MB as RGB, plus its OCR copies) a clean-clone run measured 2.35-2.44 GB.
# A loader that reads a sparse 2 GB file whole, or decodes a 576 Mpx bomb, blows through it.
RSS_BOUND = 3 * 1024**3
RUN_TIMEOUT = 300  # a pipe or a device opened for reading would block forever
# The single-line file of the quick run. A line's cost is embedding up to 1000 chunks (about
# two minutes on two busy cores) whatever its size past ~200 KB, so the full 10 MB file has a
# run of its own, marked slow.
DEFAULT_LINE_BYTES = 48 * 1024


@pytest.fixture(autouse=True)
def _slow_only_when_asked(request: pytest.FixtureRequest) -> None:
    """Run ``slow`` tests only under ``-m slow`` (as the marker's description says)."""
    if request.node.get_closest_marker("slow") and "slow" not in (
        request.config.getoption("-m") or ""
    ):
        pytest.skip("slow: run with -m slow")


@dataclass
class Run:
    returncode: int
    report: dict[str, Any]
    stderr: str
    peak_rss: int
    seconds: float


@dataclass
class HostileIndex:
    root: Path
    outside: Path
    data: Path
    env: dict[str, str]
    items: list[hostile.Hostile]
    first: Run
    files: dict[str, tuple[str, str | None, int | None]] = field(default_factory=dict)


def index(root: Path, data: Path, env: dict[str, str]) -> Run:
    argv = [*hostile.xmodal_argv(), "--data", str(data), "index", str(root), "--json", "--quiet"]
    start = time.monotonic()
    rc, out, err, peak = hostile.run_with_peak_rss(argv, env=env, timeout=RUN_TIMEOUT)
    seconds = time.monotonic() - start
    try:
        report = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    except (json.JSONDecodeError, IndexError):
        report = {"unparsed": out[-2000:]}
    return Run(rc, report, err, peak, seconds)


def catalog_files(data: Path) -> dict[str, tuple[str, str | None, int | None]]:
    con = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return {
            p: (status, error, item_id)
            for p, status, error, item_id in con.execute(
                "SELECT path, status, error, item_id FROM files"
            )
        }
    finally:
        con.close()


def keyword_hits(data: Path, word: str) -> list[str]:
    """Paths of items whose names or text contain ``word`` (FTS5, straight from SQLite)."""
    con = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT DISTINCT f.path FROM parts_fts JOIN parts p ON p.id = parts_fts.rowid "
            "JOIN files f ON f.item_id = p.item_id WHERE parts_fts MATCH ?",
            (f'"{word}"',),
        ).fetchall()
        return [r[0] for r in rows]
    finally:
        con.close()


def all_text(data: Path) -> str:
    con = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        return "\n".join(r[0] or "" for r in con.execute("SELECT text FROM parts"))
    finally:
        con.close()


def _loose(path: str) -> str:
    """A path with every non-printable-ASCII character folded, to match re-encoded names."""
    return re.sub(r"[^\x20-\x7e]+", "?", path)


@pytest.fixture(scope="module")
def hostile_index(
    tmp_path_factory: pytest.TempPathFactory, offline_settings: Any, tiny_clip_files: Any
) -> HostileIndex:
    base = Path(os.path.realpath(tmp_path_factory.mktemp("hostile")))
    root, outside, data = base / "root", base / "outside", base / "data"
    items = hostile.build_hostile_folder(root, outside, line_bytes=DEFAULT_LINE_BYTES)
    model, config, checkpoint = tiny_clip_files
    env = hostile.subprocess_env(
        offline_settings.model_copy(update={"data_dir": data}),
        XMODAL_CLIP_MODEL=str(model),
        XMODAL_CLIP_CONFIG=str(config),
        XMODAL_CLIP_CHECKPOINT=str(checkpoint),
    )
    first = index(root, data, env)
    out = HostileIndex(root, outside, data, env, items, first)
    if (data / "catalog.sqlite").exists():
        out.files = catalog_files(data)
    return out


def outcome(run: HostileIndex, h: hostile.Hostile) -> tuple[str, str | None]:
    """What the run made of one input: ("indexed"|"failed"|"absent", reason)."""
    path = str(Path(os.path.realpath(h.path.parent)) / h.path.name)
    failures = {f["path"]: f["reason"] for f in run.first.report.get("failures", [])}
    row = run.files.get(path)
    if row is None and path not in failures:  # a name the indexer had to re-encode
        loose = _loose(path)
        row = next((v for k, v in run.files.items() if _loose(k) == loose), None)
        reason = next((v for k, v in failures.items() if _loose(k) == loose), None)
        if row is None and reason is not None:
            return "failed", reason
    if row is not None:
        status, error, item_id = row
        if status == "ok" and item_id is not None:
            return "indexed", None
        return "failed", error or failures.get(path)
    if path in failures:
        return "failed", failures[path]
    return "absent", None


def test_the_run_completes(hostile_index: HostileIndex) -> None:
    run = hostile_index.first
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert run.report.get("added", 0) >= 1, run.report
    print(
        f"\nhostile folder: {len(hostile_index.items)} inputs, {run.seconds:.0f} s, "
        f"peak RSS {run.peak_rss / 2**20:.0f} MB, report: added {run.report.get('added')}, "
        f"failed {run.report.get('failed')}"
    )


def test_every_input_is_indexed_or_refused_with_a_reason(hostile_index: HostileIndex) -> None:
    allowed = {
        "index": {"indexed"},
        "fail": {"failed"},
        "skip": {"absent", "failed"},
        "either": {"indexed", "failed"},
    }
    table, wrong = [], []
    for h in hostile_index.items:
        got, reason = outcome(hostile_index, h)
        table.append(f"{h.label:28} {h.expect:7} -> {got:8} {(reason or '')[:90]}")
        if got not in allowed[h.expect]:
            wrong.append(f"{h.label}: expected {h.expect}, got {got}")
        elif got == "failed" and not (reason and reason.strip()):
            wrong.append(f"{h.label}: failed without a reason")
    print("\n" + "\n".join(table))
    assert not wrong, "\n".join(wrong)


def test_valid_content_under_hostile_names_is_searchable(hostile_index: HostileIndex) -> None:
    missing = []
    for h in hostile_index.items:
        if h.word and h.expect == "index" and not keyword_hits(hostile_index.data, h.word):
            missing.append(f"{h.label} ({h.word})")
    assert not missing, missing


def test_nothing_outside_the_roots_is_indexed(hostile_index: HostileIndex) -> None:
    root = str(hostile_index.root)
    outside = [p for p in hostile_index.files if not p.startswith(root + os.sep)]
    assert not outside, outside
    assert not keyword_hits(hostile_index.data, hostile.SECRET_WORD)
    text = all_text(hostile_index.data)
    assert hostile.SECRET_WORD not in text and "root:x:0:0" not in text


def test_peak_memory_is_bounded(hostile_index: HostileIndex) -> None:
    peak = hostile_index.first.peak_rss
    assert 0 < peak < RSS_BOUND, f"peak RSS {peak / 2**20:.0f} MB over {RSS_BOUND / 2**20:.0f} MB"


def test_a_second_run_retries_nothing(hostile_index: HostileIndex) -> None:
    """Known failures are not decoded again (the hour of silence is not re-transcribed)."""
    again = index(hostile_index.root, hostile_index.data, hostile_index.env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.report.get("added") == 0 and again.report.get("updated") == 0, again.report
    assert again.report.get("failed") == hostile_index.first.report.get("failed"), again.report
    assert again.seconds < max(60.0, hostile_index.first.seconds), again.seconds
    assert catalog_files(hostile_index.data) == hostile_index.files


def test_files_changing_while_read_never_crash_a_run(
    tmp_path: Path, offline_settings: Any, tiny_clip_files: Any
) -> None:
    """Files vanish, shrink, grow and turn into links out of the roots during a run."""
    base = Path(os.path.realpath(tmp_path))
    secret = base / "outside" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text(f"{hostile.SECRET_WORD} reached through a link swapped in mid-run\n")
    root, data = base / "root", base / "data"
    model, config, checkpoint = tiny_clip_files
    env = hostile.subprocess_env(
        offline_settings.model_copy(update={"data_dir": data}),
        XMODAL_CLIP_MODEL=str(model),
        XMODAL_CLIP_CONFIG=str(config),
        XMODAL_CLIP_CHECKPOINT=str(checkpoint),
    )
    churn = hostile.Churn(root / "churn", outside_target=secret, count=16, period_s=0.002)
    with churn.running():
        run = index(root, data, env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    assert churn.cycles > 100, churn.cycles
    print(f"\nchurn: {churn.cycles} changes ({churn.swaps} link swaps) during the run")
    assert not keyword_hits(data, hostile.SECRET_WORD), "a swapped-in link was followed"
    settled = index(root, data, env)
    assert settled.returncode == 0, settled.stderr[-3000:]
    files = catalog_files(data)
    con = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        hashes = dict(con.execute("SELECT id, content_hash FROM items"))
    finally:
        con.close()
    for path in churn.paths:
        row = files.get(str(path))
        assert row is not None and row[0] == "ok", (path, row)
        assert hashes.get(row[2]) == content_hash(path), (
            f"{path.name} is indexed with stale content"
        )
    assert not keyword_hits(data, hostile.SECRET_WORD)


@pytest.mark.slow
def test_a_ten_megabyte_single_line_is_indexed_in_bounded_memory(
    tmp_path: Path, offline_settings: Any, tiny_clip_files: Any
) -> None:
    """10 MB of words and no newline: indexed (its first million characters), memory bounded."""
    base = Path(os.path.realpath(tmp_path))
    root, data = base / "root", base / "data"
    root.mkdir()
    hostile.single_line_text(root / "oneline.txt", 10 * 2**20)
    model, config, checkpoint = tiny_clip_files
    env = hostile.subprocess_env(
        offline_settings.model_copy(update={"data_dir": data}),
        XMODAL_CLIP_MODEL=str(model),
        XMODAL_CLIP_CONFIG=str(config),
        XMODAL_CLIP_CHECKPOINT=str(checkpoint),
    )
    run = index(root, data, env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.report.get("added") == 1, run.report
    assert keyword_hits(data, "longlinemarker")
    assert run.peak_rss < RSS_BOUND, f"peak RSS {run.peak_rss / 2**20:.0f} MB"
    print(f"\n10 MB single line: {run.seconds:.0f} s, peak RSS {run.peak_rss / 2**20:.0f} MB")
