"""Video decoding for xmodal: probing, frames streamed from an ffmpeg pipe, keyframe choice.

A video is never read whole: ffmpeg decodes it and pipes raw RGB frames at a bounded sampling
rate (``XMODAL_VIDEO_SAMPLE_FPS``) and size (``XMODAL_VIDEO_FRAME_SIDE``), one frame in memory
at a time. Keyframes are the first clear frame of each scene: a frame becomes one when enough of
its blocks differ from the last keyframe, unless it is black, flat or blurry (fades, cuts,
motion blur), and while the per-minute and per-file caps allow. Each keyframe carries the time
range its scene stays on screen. The audio track is not handled here; it is streamed through
:func:`retrieval.media.audio.iter_audio` like any recording.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from retrieval.config import Settings
from retrieval.errors import MediaError

SIGNATURE_GRID = (36, 64)  # rows, columns of block means compared between frames
BLOCK_CHANGE = 12.0  # grey levels (0-255) by which a block must move to count as changed
TRUNCATED_SHARE = 0.9  # frames must reach this share of the probed duration (less 2 s)
PROBE_TIMEOUT = 60
BURST_SHARE = 4  # a burst of cuts may take a quarter of a minute's keyframes at once


@dataclass(frozen=True)
class VideoInfo:
    """What ffprobe says about a file: display size (rotation applied), length, streams."""

    width: int
    height: int
    duration: float
    has_audio: bool


@dataclass
class Keyframe:
    """A frame chosen to stand for a scene, and the seconds ``[start, end)`` it stays on screen."""

    start: float
    end: float
    image: Image.Image


def _ffprobe(path: Path) -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        raise MediaError(f"cannot decode {path}: ffprobe (ffmpeg) is not installed")
    proc = subprocess.run(
        [exe, "-v", "error", "-show_entries",
         "stream=codec_type,width,height,duration,nb_frames,avg_frame_rate:stream_disposition=attached_pic"
         ":stream_tags=rotate:stream_side_data=rotation:format=duration",
         "-of", "json", str(path)],
        capture_output=True, text=True, timeout=PROBE_TIMEOUT,
    )
    try:
        info = json.loads(proc.stdout or "{}")
    except ValueError:
        info = {}
    if proc.returncode != 0 or not info.get("streams"):
        detail = (proc.stderr or "").strip().splitlines()
        reason = detail[-1] if detail else "no streams found"
        raise MediaError(f"{path} is not a readable video: {reason}")
    return info


def _moving_video(streams: list[dict]) -> dict | None:
    """The first video stream that is not a cover picture (MP3/M4A album art)."""
    for s in streams:
        if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic"):
            return s
    return None


def has_moving_picture(path: Path) -> bool | None:
    """Whether a container holds real video (True), sound only (False), or is unreadable (None)."""
    try:
        info = _ffprobe(Path(path))
    except (MediaError, subprocess.TimeoutExpired, OSError):
        return None
    return _moving_video(info["streams"]) is not None


def _rotation(stream: dict) -> int:
    rot = (stream.get("tags") or {}).get("rotate")
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            rot = side["rotation"]
    try:
        return int(float(rot or 0)) % 360
    except (TypeError, ValueError):
        return 0


def _counted_seconds(stream: dict) -> float:
    """Length from the header's frame count (AVI keeps it when its index is cut off)."""
    try:
        num, _, den = str(stream.get("avg_frame_rate") or "0/1").partition("/")
        fps = float(num) / float(den or 1)
        return int(stream.get("nb_frames") or 0) / fps if fps > 0 else 0.0
    except (TypeError, ValueError, ZeroDivisionError):
        return 0.0


def probe(path: Path) -> VideoInfo:
    """Size, length and audio presence of a video; MediaError when ffprobe cannot read it."""
    path = Path(path)
    info = _ffprobe(path)
    video = _moving_video(info["streams"])
    if video is None:
        raise MediaError(f"{path} holds no video stream")
    w, h = int(video.get("width") or 0), int(video.get("height") or 0)
    if w <= 0 or h <= 0:
        raise MediaError(f"{path}: the video stream has no picture size")
    if _rotation(video) in (90, 270):  # ffmpeg turns phone videos upright when decoding
        w, h = h, w
    try:
        duration = float(video.get("duration") or (info.get("format") or {}).get("duration")
                         or 0.0)
    except (TypeError, ValueError):
        duration = 0.0
    duration = max(duration, _counted_seconds(video))
    if duration <= 0:
        raise MediaError(f"{path}: the video has no known duration (damaged or still growing)")
    has_audio = any(s.get("codec_type") == "audio" for s in info["streams"])
    return VideoInfo(w, h, duration, has_audio)


def frame_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """Decoding size: the longest side at most ``max_side``, both sides even, aspect kept."""
    scale = min(1.0, max_side / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def iter_frames(path: Path, info: VideoInfo, fps: float,
                max_side: int) -> Iterator[tuple[float, np.ndarray]]:
    """``(seconds, HxWx3 uint8)`` frames sampled ``fps`` times a second, streamed from ffmpeg.

    Raises MediaError when ffmpeg fails, yields nothing, or stops well short of the probed
    duration (a truncated download): a half-indexed video would look complete in results.
    """
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MediaError(f"cannot decode {path}: ffmpeg is not installed")
    w, h = frame_size(info.width, info.height, max_side)
    cmd = [exe, "-nostdin", "-v", "error", "-i", str(path), "-map", "0:v:0", "-an", "-sn",
           "-dn", "-vf", f"fps={fps},scale={w}:{h}", "-pix_fmt", "rgb24", "-f", "rawvideo", "-"]
    # Errors go to a file, not a pipe: a damaged stream can log more than a pipe holds, and
    # ffmpeg blocked on it would never finish the frames this loop waits for.
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors)
        assert proc.stdout is not None
        size = w * h * 3
        n = 0
        try:
            while True:
                buf = proc.stdout.read(size)
                if len(buf) < size:
                    break
                yield n / fps, np.frombuffer(buf, dtype=np.uint8).reshape(h, w, 3)
                n += 1
            proc.stdout.close()
            code = proc.wait()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()
        errors.seek(max(0, errors.seek(0, 2) - 4096))
        err = errors.read().decode("utf-8", "replace").strip()
    last = err.splitlines()[-1] if err else f"ffmpeg exit {code}"
    if n == 0 or code != 0:
        raise MediaError(f"{path} is not a readable video: {last}")
    reached = n / fps
    if reached < TRUNCATED_SHARE * info.duration - 2.0:
        raise MediaError(f"{path} is truncated or damaged: its pictures end at {reached:.1f} s "
                         f"of {info.duration:.1f} s")


def signature(gray: np.ndarray) -> np.ndarray:
    """Block means of a grey frame on a fixed grid: what scene changes are measured on."""
    rows, cols = SIGNATURE_GRID
    h, w = gray.shape
    rs = np.linspace(0, h, rows + 1).astype(int)
    cs = np.linspace(0, w, cols + 1).astype(int)
    sums = np.add.reduceat(np.add.reduceat(gray, rs[:-1], axis=0), cs[:-1], axis=1)
    counts = np.outer(np.diff(rs), np.diff(cs))
    return sums / np.maximum(counts, 1)


def changed_share(a: np.ndarray, b: np.ndarray) -> float:
    """Share of signature blocks whose brightness moved by more than ``BLOCK_CHANGE``."""
    return float(np.mean(np.abs(a - b) > BLOCK_CHANGE))


def sharpness(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: low on blurred or featureless frames."""
    lap = (gray[1:-1, :-2] + gray[1:-1, 2:] + gray[:-2, 1:-1] + gray[2:, 1:-1]
           - 4 * gray[1:-1, 1:-1])
    return float(lap.var())


def unusable(gray: np.ndarray, sig: np.ndarray, settings: Settings) -> str | None:
    """Why a frame should not stand for its scene ('dark', 'flat', 'blurry'), or None."""
    if sig.max() < settings.video_dark_level:
        return "dark"
    if gray.std() < settings.video_min_contrast:
        return "flat"
    if sharpness(gray) < settings.video_min_sharpness:
        return "blurry"
    return None


class KeyframeBudget:
    """Caps how many keyframes a video may get: per minute, and per file over its length.

    A token bucket refilled as video time passes: a burst of cuts (or a moving camera) takes a
    quarter of a minute's allowance at most, and a long file's allowance is spread over its
    whole length so its end is covered too.
    """

    def __init__(self, settings: Settings, duration: float) -> None:
        per_file = settings.video_max_keyframes
        per_minute = min(settings.video_keyframes_per_minute,
                         per_file / max(duration / 60.0, 1e-6))
        self.rate = per_minute / 60.0  # keyframes per second of video
        self.capacity = max(1.0, per_minute / BURST_SHARE)
        self.tokens = self.capacity
        self.left = per_file
        self.last_t = 0.0

    def take(self, t: float) -> bool:
        """Spend one keyframe at video time ``t`` if the caps allow it."""
        self.tokens = min(self.capacity, self.tokens + (t - self.last_t) * self.rate)
        self.last_t = t
        if self.left <= 0 or self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        self.left -= 1
        return True


def keyframes(path: Path, info: VideoInfo, settings: Settings) -> Iterator[Keyframe]:
    """The keyframes of a video in time order, each yielded once its scene has ended.

    Only the current frame and the pending keyframe are in memory.
    """
    fps = settings.video_sample_fps
    budget = KeyframeBudget(settings, info.duration)
    step = 1.0 / fps
    pending: Keyframe | None = None
    ref: np.ndarray | None = None  # signature of the pending keyframe
    for t, rgb in iter_frames(path, info, fps, settings.video_frame_side):
        gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        sig = signature(gray)
        if ref is not None and changed_share(sig, ref) < settings.video_scene_change:
            if pending is not None:
                pending.end = t + step  # still the same scene
            continue
        if unusable(gray, sig, settings) is not None or not budget.take(t):
            continue  # a fade or blur, or over the cap: the scene keeps its last keyframe
        if pending is not None:
            yield pending
        pending = Keyframe(t, t + step, Image.fromarray(rgb.copy()))
        ref = sig
    if pending is not None:
        pending.end = max(pending.start, min(pending.end, info.duration))
        yield pending


def frame_at(path: Path, seconds: float, max_side: int) -> Image.Image:
    """The picture shown at ``seconds``, for thumbnails and re-encoding; MediaError if none."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise MediaError(f"cannot decode {path}: ffmpeg is not installed")
    cmd = [exe, "-nostdin", "-v", "error", "-ss", f"{max(seconds, 0.0):.3f}", "-i", str(path),
           "-map", "0:v:0", "-frames:v", "1", "-vf",
           f"scale='min({max_side},iw)':'min({max_side},ih)':force_original_aspect_ratio=decrease",
           "-f", "image2pipe", "-c:v", "png", "-"]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        raise MediaError(f"{path}: decoding the frame at {seconds:.1f} s timed out") from exc
    if proc.returncode != 0 or not proc.stdout:
        detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise MediaError(f"{path}: no frame at {seconds:.1f} s"
                         + (f" ({detail[-1]})" if detail else ""))
    img = Image.open(io.BytesIO(proc.stdout))
    img.load()
    return img.convert("RGB")
