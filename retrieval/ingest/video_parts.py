"""A video's searchable parts: keyframes (for CLIP), the words on them (OCR), what is said.

Every part carries the seconds it covers, so a result is a moment to play from. Text that stays
on screen across several keyframes (a slide title under a changing picture) is one OCR part
whose time range grows, not one part per keyframe.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from PIL import Image

from retrieval.config import Settings
from retrieval.errors import MediaError, ModelUnavailable
from retrieval.ingest.extract import CLIP_IMAGE_SIDE, Extracted, PartDraft, group_ocr_lines
from retrieval.media import video
from retrieval.records import Transcript

SAME_TEXT = 0.8  # word-set overlap (Jaccard) above which OCR of two keyframes is the same text
FRAME_JPEG_QUALITY = 90

ReadText = Callable[[Image.Image], list[str]]  # an image -> its lines of text, reading order
Transcribe = Callable[[Path], Transcript]


def frame_jpeg(image: Image.Image) -> bytes:
    """A keyframe as CLIP will see it, JPEG-compressed: a long video's keyframes stay small
    in memory until the batch that encodes them (the writer decodes them a few at a time)."""
    small = image.copy()
    small.thumbnail((CLIP_IMAGE_SIDE, CLIP_IMAGE_SIDE))
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=FRAME_JPEG_QUALITY)
    return buf.getvalue()


def _words(text: str) -> set[str]:
    return set(text.lower().split())


def _same_text(a: str, b: str) -> bool:
    wa, wb = _words(a), _words(b)
    return bool(wa | wb) and len(wa & wb) / len(wa | wb) >= SAME_TEXT


def extract_video(path: Path, out: Extracted, settings: Settings, *, keep_frames: bool,
                  read_text: ReadText | None, transcribe: Transcribe | None) -> None:
    """Fill ``out`` with a video's size, length and timed parts.

    ``keep_frames``: keep each keyframe's picture for CLIP (frame parts are recorded either
    way: they anchor thumbnails and "more like this"). ``read_text`` and ``transcribe`` are
    None when OCR or Whisper is unavailable. Raises MediaError for an unreadable, damaged or
    truncated video; a soundtrack with no speech (or none Whisper can transcribe) is not.
    """
    info = video.probe(path)
    out.width, out.height, out.duration = info.width, info.height, info.duration
    frames: list[PartDraft] = []
    ocr: list[PartDraft] = []
    on_screen: list[int] = []  # indexes into ocr of the previous keyframe's text groups
    for kf in video.keyframes(path, info, settings):
        frames.append(PartDraft("frame", len(frames), "", kf.start, kf.end,
                                frame=frame_jpeg(kf.image) if keep_frames else None))
        if read_text is None:
            continue
        now: list[int] = []
        for text in group_ocr_lines(read_text(kf.image)):
            same = next((i for i in on_screen if _same_text(ocr[i].text, text)), None)
            if same is not None:
                ocr[same] = replace(ocr[same], end=kf.end)
                now.append(same)
            else:
                ocr.append(PartDraft("ocr", 0, text, kf.start, kf.end))
                now.append(len(ocr) - 1)
        on_screen = now
    speech: list[PartDraft] = []
    if info.has_audio and transcribe is not None:
        try:
            transcript = transcribe(path)
        except (MediaError, ModelUnavailable):
            # music, silence, a damaged soundtrack, or a language no installed Whisper model
            # speaks: the pictures and the words on screen still count
            transcript = None
        if transcript is not None:
            out.language = transcript.language or None
            speech = [PartDraft("segment", 0, s.text.strip(), float(s.start), float(s.end))
                      for s in transcript.segments if s.text.strip()]
    out.parts = [replace(p, ord=n) for n, p in enumerate([*frames, *ocr, *speech])]
