"""Small test videos made on the spot with ffmpeg: coloured slides with distinct words drawn on
them (drawtext), optional black lead-in, and espeak-ng narration muxed in at a known time.

A few seconds at a small size, so making and indexing one costs about a second.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.media import font_paths, speak

SIZE = (480, 270)
FPS = 10
CODECS = {  # container suffix -> video codec, audio codec
    ".webm": ("libvpx", "libopus"),
    ".mkv": ("libx264", "libopus"),
    ".mp4": ("libx264", "aac"),
    ".mov": ("libx264", "aac"),
    ".avi": ("mpeg4", "libmp3lame"),
}


@dataclass(frozen=True)
class Slide:
    """A still picture of ``seconds`` length: ``words`` in white on ``color`` (none: blank)."""

    words: str
    seconds: float
    color: str = "navy"


def have_ffmpeg() -> bool:
    return shutil.which("ffmpeg") is not None


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(":", "\\:").replace("'", "\\'")


def slide_video(path: Path, slides: Sequence[Slide], *, narration: str | None = None,
                narration_at: float = 0.0, size: tuple[int, int] = SIZE) -> Path:
    """Write a video of ``slides`` one after another, with speech starting at ``narration_at``.

    The codecs follow the suffix (``CODECS``); without narration the file has no audio track.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    font = font_paths()[0]
    w, h = size
    cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y"]
    chains = []
    for n, slide in enumerate(slides):
        cmd += ["-f", "lavfi", "-i", f"color=c={slide.color}:s={w}x{h}:r={FPS}:d={slide.seconds}"]
        text = (f",drawtext=fontfile={font}:text='{_escape(slide.words)}':fontcolor=white:"
                f"fontsize={h // 7}:x=(w-text_w)/2:y=(h-text_h)/2") if slide.words else ""
        chains.append(f"[{n}:v]format=yuv420p{text}[v{n}]")
    joined = "".join(f"[v{n}]" for n in range(len(slides)))
    graph = ";".join(chains) + f";{joined}concat=n={len(slides)}:v=1:a=0[v]"
    total = sum(s.seconds for s in slides)
    maps = ["-map", "[v]"]
    if narration:
        wav = speak(narration, path.with_suffix(".narration.wav"))
        cmd += ["-i", str(wav)]
        delay = int(narration_at * 1000)
        graph += f";[{len(slides)}:a]adelay={delay}:all=1,apad[a]"
        maps += ["-map", "[a]"]
    vcodec, acodec = CODECS[path.suffix.lower()]
    cmd += ["-filter_complex", graph, *maps, "-t", f"{total}", "-c:v", vcodec]
    if vcodec == "libvpx":
        cmd += ["-b:v", "300k", "-deadline", "realtime", "-cpu-used", "8"]
    elif vcodec == "libx264":
        cmd += ["-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if narration:
        cmd += ["-c:a", acodec]
    cmd.append(str(path))
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    path.with_suffix(".narration.wav").unlink(missing_ok=True)
    return path


def sound_only(path: Path, text: str) -> Path:
    """A video container (by suffix) that holds speech and no picture: indexed as audio."""
    wav = speak(text, path.with_suffix(".speech.wav"))
    acodec = CODECS[path.suffix.lower()][1]
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(wav), "-vn",
                    "-c:a", acodec, str(path)], check=True, capture_output=True, timeout=120)
    wav.unlink()
    return path


def truncate(src: Path, dst: Path, keep: float = 0.5) -> Path:
    """A copy of ``src`` cut after ``keep`` of its bytes, like an interrupted download."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * keep)])
    return Path(dst)
