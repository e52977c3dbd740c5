"""Session fixtures: the real app in a real uvicorn server over the real indexed corpus.

``corpus_settings`` is a copy of the session's indexed corpus (``indexed_corpus``) plus one
longer recording of several sentences, so a speech result can match a segment that starts
well after 0 s; the shared index itself is never written to. ``live`` serves that copy
(read-only, no token, small upload limit); ``writable`` serves an empty data directory with a
token, so upload tests can add files without changing what the read-only tests see. All
servers share the session's loaded models.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from retrieval.config import Settings
from tests.live_server import LiveServer, start_server
from tests.media import speak

UPLOAD_LIMIT_MB = 2
# The shared servers send bursts (fuzzing, page tests) from one address: no rate limits there;
# test_api_protection.py serves its own app with small ones.
NO_RATE_LIMITS = {"search_per_second": 0.0, "upload_per_second": 0.0}
TOKEN = "test-token-9f1c2b7e"
# Three sentences with pauses between them: Whisper gives each its own timed segment.
LONG_RECORDING = (
    "Good morning everyone, this is the weekly update. "
    "First, the lighthouse generator needs new copper cables before the winter storms. "
    "Second, the ferry timetable changes on the first of March."
)


@dataclass
class LiveCorpus:
    """A running server plus what its catalog holds, read straight from SQLite."""

    url: str
    data_dir: Path
    max_upload_mb: int
    items: dict[int, str] = field(default_factory=dict)  # id -> type
    paths: dict[int, Path] = field(default_factory=dict)
    parts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    token: str | None = None

    @classmethod
    def read(cls, url: str, settings: Settings, token: str | None = None) -> LiveCorpus:
        live = cls(
            url=url,
            data_dir=Path(settings.data_dir),
            max_upload_mb=settings.max_upload_mb,
            token=token,
        )
        db = live.data_dir / "catalog.sqlite"
        if not db.exists():
            return live
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            for item_id, kind, path in con.execute(
                "SELECT i.id, i.type, MIN(f.path) FROM items i JOIN files f ON f.item_id = i.id "
                "WHERE f.status = 'ok' GROUP BY i.id ORDER BY i.id"
            ):
                live.items[item_id] = kind
                live.paths[item_id] = Path(path)
            for item_id, kind, start, end, text in con.execute(
                'SELECT item_id, kind, start, "end", text FROM parts '
                "WHERE text IS NOT NULL AND kind != 'file' ORDER BY item_id, ord"
            ):
                live.parts.setdefault(item_id, []).append(
                    {"kind": kind, "start": start, "end": end, "text": text}
                )
        finally:
            con.close()
        return live

    @property
    def missing_id(self) -> int:
        return max(self.items, default=0) + 1000

    def first(self, kind: str) -> int:
        """The lowest id of an item of this kind."""
        ids = [i for i, k in self.items.items() if k == kind]
        if not ids:
            pytest.skip(f"the corpus has no {kind} item")
        return ids[0]

    def passage(self, kind: str = "text") -> tuple[int, str]:
        """An item of this kind and the longest text part it has."""
        for item_id, k in self.items.items():
            texts = [p["text"] for p in self.parts.get(item_id, []) if len(p["text"]) > 20]
            if k == kind and texts:
                return item_id, max(texts, key=len)
        pytest.skip(f"the corpus has no {kind} item with text")

    def segment(self, later: bool = False) -> tuple[int, dict[str, Any]]:
        """A speech segment with enough words to search for; ``later``: one not at 0 s."""
        best: tuple[int, dict[str, Any]] | None = None
        for item_id, k in self.items.items():
            if k != "audio":
                continue
            for part in self.parts.get(item_id, []):
                if part["kind"] != "segment" or len(part["text"].split()) < 3:
                    continue
                if later and not (part["start"] or 0) > 0.5:
                    continue
                if best is None or len(part["text"]) > len(best[1]["text"]):
                    best = (item_id, part)
        if best is None:
            pytest.skip("the corpus has no suitable speech segment")
        return best


def copy_data_dir(src: Path, dst: Path) -> None:
    """A consistent copy of a data directory: SQLite through its backup API, the rest as files."""
    dst.mkdir(parents=True)
    for path in src.iterdir():
        if path.name.startswith("catalog.sqlite") or path.name.endswith(".lock"):
            continue
        if path.is_dir():
            shutil.copytree(path, dst / path.name)
        else:
            shutil.copy2(path, dst / path.name)
    source = sqlite3.connect(src / "catalog.sqlite")
    target = sqlite3.connect(dst / "catalog.sqlite")
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


@pytest.fixture(scope="session")
def corpus_settings(
    indexed_corpus: Any, encoders: Any, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    """Settings over a private copy of the indexed corpus, plus the long recording."""
    from retrieval.ingest.run import index_roots

    base: Settings = indexed_corpus.settings
    data = tmp_path_factory.mktemp("web") / "data"
    copy_data_dir(Path(base.data_dir), data)
    settings = base.model_copy(update={"data_dir": data})
    wav = speak(LONG_RECORDING, data.parent / "media" / "weekly_update.wav", wpm=150)
    report = index_roots(settings, [wav], encoders=encoders)
    assert report.added == 1, report
    return settings


def _serve(settings: Settings, encoders: Any, **app_options: Any) -> LiveServer:
    from retrieval.engine import Engine
    from web.app import create_app

    engine = Engine(settings, encoders=encoders)
    server = start_server(create_app(settings, engine, **app_options))
    server.extra["engine"] = engine
    return server


@pytest.fixture(scope="session")
def live(corpus_settings: Settings, encoders: Any) -> Iterator[LiveCorpus]:
    """The app over the indexed test corpus, on 127.0.0.1, no token, a 2 MB upload limit."""
    settings = corpus_settings.model_copy(
        update={
            "max_upload_mb": UPLOAD_LIMIT_MB,
            "api_token": None,
            "cors_origins": [],
            **NO_RATE_LIMITS,
        }
    )
    server = _serve(settings, encoders)
    try:
        yield LiveCorpus.read(server.url, settings)
    finally:
        server.stop()
        server.extra["engine"].close()


@pytest.fixture(scope="session")
def writable(
    corpus_settings: Settings, encoders: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveCorpus]:
    """The app over an empty data directory with a token and one transcription slot."""
    data = tmp_path_factory.mktemp("writable-data")
    settings = corpus_settings.model_copy(
        update={
            "data_dir": data,
            "api_token": TOKEN,
            "max_upload_mb": UPLOAD_LIMIT_MB,
            **NO_RATE_LIMITS,
        }
    )
    server = _serve(settings, encoders, max_transcriptions=1)
    try:
        yield LiveCorpus.read(server.url, settings, token=TOKEN)
    finally:
        server.stop()
        server.extra["engine"].close()


@pytest.fixture()
def client(live: LiveCorpus) -> Iterator[httpx.Client]:
    """An HTTP client for the read-only server; generous timeout for CPU-bound queries."""
    with httpx.Client(base_url=live.url, timeout=120) as c:
        yield c
