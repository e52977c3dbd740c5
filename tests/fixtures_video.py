"""A few generated videos indexed once per session, with an engine and a live server over them.

``talk.webm`` (8.5 s): 1 s of black, then three slides with distinct words, and a narrated
sentence starting at 4 s. ``orchard.mp4`` has no sound and ends on the same last slide;
``pelican.png`` is a still of the first slide; ``voice_note.webm`` is sound only; the two
``cut`` files are truncated downloads. Kept apart from the shared corpus so other tests' counts
do not move.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from retrieval.config import Settings
from retrieval.results import IndexReport
from tests.media import have_espeak
from tests.media_video import Slide, have_ffmpeg, slide_video, sound_only, truncate

# Title case: PP-OCRv4 reads capitals well but tends to drop the spaces between them.
NARRATION = "the lighthouse keeper repaired the copper cables"
NARRATION_AT = 4.0
SLIDES = (  # words, seconds on screen: Quarterly Pelican 1.0-3.5, Marmalade Rocket 3.5-6.0 ...
    Slide("", 1.0, "black"),
    Slide("Quarterly Pelican", 2.5, "navy"),
    Slide("Marmalade Rocket", 2.5, "navy"),
    Slide("Zebra Harvest", 2.5, "darkgreen"),
)
SLIDE_STARTS = {"Quarterly Pelican": 1.0, "Marmalade Rocket": 3.5, "Zebra Harvest": 6.0}
ORCHARD = (Slide("Orchard Ladder", 2.0, "maroon"), Slide("Zebra Harvest", 2.0, "darkgreen"))


@dataclass
class VideoCorpus:
    settings: Settings
    folder: Path
    report: IndexReport
    engine: Any
    ids: dict[str, int] = field(default_factory=dict)  # file name -> item id

    def id(self, name: str) -> int:
        return self.ids[name]


@pytest.fixture(scope="session")
def video_corpus(offline_settings: Settings, encoders: Any,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[VideoCorpus]:
    """The videos above indexed into their own data directory with the session's models."""
    if not (have_ffmpeg() and have_espeak()):
        pytest.skip("ffmpeg and espeak-ng are needed to make test videos")
    from retrieval.engine import Engine
    from retrieval.ingest.run import index_roots

    root = tmp_path_factory.mktemp("video")
    folder = root / "media"
    talk = slide_video(folder / "talk.webm", SLIDES, narration=NARRATION,
                       narration_at=NARRATION_AT)
    slide_video(folder / "orchard.mp4", ORCHARD)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-ss", "2", "-i", str(talk),
                    "-frames:v", "1", str(folder / "pelican.png")], check=True, timeout=60)
    sound_only(folder / "voice_note.webm", "please call me back about the invoice")
    truncate(talk, folder / "cut.webm")
    mp4 = slide_video(root / "whole.mp4", SLIDES[:2])
    truncate(mp4, folder / "cut.mp4")
    settings = offline_settings.model_copy(update={"data_dir": root / "data"})
    report = index_roots(settings, [folder], encoders=encoders)
    engine = Engine(settings, encoders=encoders)
    corpus = VideoCorpus(settings, folder, report, engine)
    for p in folder.iterdir():
        item = engine.item_id_for_path(p)
        if item is not None:
            corpus.ids[p.name] = item
    try:
        yield corpus
    finally:
        engine.close()


@pytest.fixture(scope="session")
def video_live(video_corpus: VideoCorpus, encoders: Any) -> Iterator[Any]:
    """The app over the video corpus in a real uvicorn server on 127.0.0.1."""
    from tests.fixtures_server import _serve

    server = _serve(video_corpus.settings, encoders)
    try:
        yield server
    finally:
        server.stop()
        server.extra["engine"].close()
