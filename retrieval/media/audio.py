"""Audio decoding for xmodal: 16 kHz mono float32, streamed in blocks, never whole in memory.

Part of :mod:`retrieval.media.decode` (which re-exports it); split out to keep both modules small.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from retrieval.errors import MediaError

SAMPLE_RATE = 16_000
MIN_AUDIO_SECONDS = 0.3
QUIET_RMS = 10 ** (-50 / 20)  # a 20 ms window below -50 dBFS holds no speech
SOUNDING_SHARE = 0.1  # a window this loud relative to the segment's loudest counts as sound


def _ffprobe_duration(path: Path) -> float | None:
    """Duration of the first audio stream ffmpeg can decode, else None."""
    import json

    exe = shutil.which("ffprobe")
    if exe is None:
        return None
    proc = subprocess.run(
        [exe, "-v", "error", "-select_streams", "a:0", "-show_entries",
         "stream=codec_name:format=duration", "-of", "json", str(path)],
        capture_output=True, text=True, timeout=60,
    )
    try:
        info = json.loads(proc.stdout or "{}")
        streams = info.get("streams") or []
        if not streams or not streams[0].get("codec_name"):
            return None
        return float(info["format"]["duration"])
    except (ValueError, KeyError, TypeError):
        return None


def audio_duration(path: Path) -> float:
    """Length of a recording in seconds, from its header (soundfile, else ffprobe)."""
    import soundfile as sf

    path = Path(path)
    _check_nonempty(path)
    try:
        info = sf.info(str(path))
        if info.samplerate > 0 and info.frames > 0:
            return info.frames / info.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError):
        pass
    seconds = _ffprobe_duration(path)
    if seconds is None or seconds <= 0:
        raise MediaError(f"{path} is not a readable audio file")
    return seconds


def _check_nonempty(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if size == 0:
        raise MediaError(f"{path} is empty (0 bytes)")


def _soundfile_blocks(path: Path, block_samples: int) -> Iterator[np.ndarray] | None:
    """16 kHz mono blocks via libsndfile, resampled as a stream; None if it cannot open the file."""
    import soundfile as sf

    try:
        f = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return None
    if f.samplerate <= 0 or f.channels <= 0:
        f.close()
        return None

    def gen() -> Iterator[np.ndarray]:
        import soxr

        with f:
            sr = f.samplerate
            stream = soxr.ResampleStream(sr, SAMPLE_RATE, 1, dtype="float32") \
                if sr != SAMPLE_RATE else None
            in_block = max(1, int(block_samples * sr / SAMPLE_RATE))
            while True:
                try:
                    raw = f.read(in_block, dtype="float32", always_2d=True)
                except (sf.LibsndfileError, RuntimeError) as exc:
                    raise MediaError(f"{path} is damaged: {exc}") from exc
                last = len(raw) < in_block
                mono = raw.mean(axis=1, dtype=np.float32) if raw.size else np.zeros(0, np.float32)
                if stream is not None:
                    mono = stream.resample_chunk(mono, last=last)
                if mono.size:
                    yield np.ascontiguousarray(mono, dtype=np.float32)
                if last:
                    return

    return gen()


def _ffmpeg_blocks(path: Path, block_samples: int) -> Iterator[np.ndarray]:
    """16 kHz mono blocks from an ffmpeg subprocess piping s16le, for what libsndfile lacks."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MediaError(f"cannot decode {path}: not a format libsndfile reads, and ffmpeg "
                         "is not installed")
    cmd = [exe, "-nostdin", "-v", "error", "-i", str(path), "-vn", "-ac", "1",
           "-ar", str(SAMPLE_RATE), "-f", "s16le", "-"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    got = 0
    try:
        while True:
            buf = proc.stdout.read(block_samples * 2)
            if not buf:
                break
            got += len(buf) // 2
            yield np.frombuffer(buf[: len(buf) // 2 * 2], dtype="<i2").astype(np.float32) / 32768.0
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        if proc.wait() != 0 and got == 0:
            detail = err.splitlines()[-1] if err else f"ffmpeg exit {proc.returncode}"
            raise MediaError(f"{path} is not a readable audio file: {detail}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def iter_audio(path: Path, block_seconds: float = 600.0) -> Iterator[tuple[float, np.ndarray]]:
    """Stream a recording as ``(offset_seconds, samples)``: 16 kHz mono float32 blocks.

    Only one block (default 10 minutes, 38 MB) is in memory at a time, so hours-long audio is
    fine. Raises MediaError for empty/undecodable files and for audio shorter than 0.3 s.
    """
    path = Path(path)
    _check_nonempty(path)
    block = max(int(block_seconds * SAMPLE_RATE), SAMPLE_RATE)
    blocks = _soundfile_blocks(path, block)
    if blocks is None:
        blocks = _ffmpeg_blocks(path, block)
    pending: list[np.ndarray] = []
    have = 0
    offset = 0
    for chunk in blocks:  # re-cut to exact block sizes; the resampler's output sizes vary
        pending.append(chunk)
        have += len(chunk)
        while have >= block:
            joined = np.concatenate(pending)
            out, rest = joined[:block], joined[block:]
            yield offset / SAMPLE_RATE, out
            offset += block
            pending, have = ([rest] if rest.size else []), len(rest)
    tail = np.concatenate(pending) if pending else np.zeros(0, np.float32)
    total = offset + len(tail)
    if total < MIN_AUDIO_SECONDS * SAMPLE_RATE:
        raise MediaError(f"{path} holds {total / SAMPLE_RATE:.2f} s of audio, too short to "
                         f"contain speech (needs at least {MIN_AUDIO_SECONDS} s)")
    if tail.size:
        yield offset / SAMPLE_RATE, tail


def sounding_span(audio: np.ndarray, start: float, end: float,
                  window: float = 0.02, pad: float = 0.1) -> tuple[float, float]:
    """``[start, end]`` (seconds into ``audio``) narrowed to where there is sound in it.

    Whisper stretches a segment over the silence before it (a video whose narration starts
    at 4 s gets a segment from 0 s), which would play a result from the wrong moment. Only
    silence at the edges is cut, with ``pad`` seconds kept; a segment with no clear sound, or
    with steady noise under it, is returned as it was.
    """
    win = max(1, int(window * SAMPLE_RATE))
    a, b = max(0, int(start * SAMPLE_RATE)), min(len(audio), int(end * SAMPLE_RATE))
    n = (b - a) // win
    if n <= 0:
        return start, end
    frames = np.asarray(audio[a:a + n * win], dtype=np.float32).reshape(n, win)
    rms = np.sqrt(np.mean(frames * frames, axis=1))
    loud = np.flatnonzero(rms >= max(QUIET_RMS, SOUNDING_SHARE * float(rms.max())))
    if loud.size == 0:
        return start, end
    first = start + max(float(loud[0]) * window - pad, 0.0)
    last = min(end, start + float(loud[-1] + 1) * window + pad)
    return (first, last) if last > first else (start, end)
