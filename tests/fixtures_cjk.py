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

from tests.cjk_corpus import DOCS
from tests.media import speak, text_image

CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
)
MANDARIN_VOICE = "cmn-latn-pinyin+f2"
SPEECH_ZH = {  # file name -> what is said
    "预算会议录音.wav": "上周五的项目会议纪要已经整理好了，主要讨论了明年的预算分配和人员招聘计划。"
                      "请在月底之前支付发票，金额为三千二百元。",
}
SPEECH_EN = {"standup.wav": "The quarterly budget meeting moves to Thursday afternoon in the "
                            "large conference room on the third floor."}
IMAGES_ZH = {  # file name -> lines drawn
    "仓库通知.png": ["仓库通知", "今天下午安排发货", "编号 WH-2031"],
    "停车场.png": ["地下停车场", "新增五十个车位"],
}


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


def build_cjk(root: Path) -> None:
    """Write the documents, images and recordings of the CJK collection under ``root``."""
    font = cjk_font()
    if font is None:
        pytest.skip("no CJK font: apt-get install fonts-wqy-zenhei")
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is needed for the Mandarin recordings")
    for key, text in DOCS.items():
        (root / "docs").mkdir(parents=True, exist_ok=True)
        (root / "docs" / doc_name(key)).write_text(text + "\n", encoding="utf-8")
    for name, lines in IMAGES_ZH.items():
        text_image(lines, root / "images" / name, font_path=font, size=40)
    for name, said in SPEECH_ZH.items():
        speak(said, root / "speech" / name, wpm=140, voice=MANDARIN_VOICE)
    for name, said in SPEECH_EN.items():
        speak(said, root / "speech" / name, wpm=150)


@pytest.fixture(scope="session")
def cjk_collection(encoders: Any, offline_settings: Any,
                   tmp_path_factory: pytest.TempPathFactory) -> CjkCollection:
    """The CJK collection indexed once with the real models (tiny.en + base, MiniLM, PP-OCR)."""
    from indexer.pipeline import run_index

    root = tmp_path_factory.mktemp("cjk") / "collection"
    build_cjk(root)
    settings = offline_settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("cjk-data") / "data"})
    result = run_index(settings, [root], encoders=encoders, progress=False)
    return CjkCollection(root, settings, result.report)
