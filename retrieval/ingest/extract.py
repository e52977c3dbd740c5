"""Turning one file into what the catalog stores: item metadata and text-bearing parts.

This is the CPU-heavy, per-file half of indexing (decode, OCR, transcription, chunking). It runs
in worker threads, overlapped with the batched encoding in ``retrieval.ingest.ingestor``; nothing
here
touches the catalog's write side. Anything wrong with a file surfaces as ``MediaError`` with a
reason a person can act on; the caller records it and goes on.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.config import Settings
from retrieval.encoders.ocr_reduced import FULL_OCR_SIDE
from retrieval.errors import MediaError
from retrieval.media.metadata import ItemMeta, dhash, read_meta

if TYPE_CHECKING:
    from PIL import Image

    from retrieval.encoders import Encoders

HASH_BLOCK = 1 << 20
CLIP_IMAGE_SIDE = 448  # CLIP looks at 224 px; keep a little more, never the full photo
# A large JPEG is decoded at 1/2, 1/4 or 1/8 scale where that keeps what the encoders look
# at: OCR reads up to FULL_OCR_SIDE px, CLIP 448 (retrieval.media.decode.load_image_at_least).
DRAFT_DECODE = True
OCR_MIN_CONFIDENCE = 0.5
OCR_GROUP_CHARS = 300  # OCR lines are grouped into parts of about this many characters
FALLBACK_CHUNK_CHARS = 1000
# A document is embedded by at most this many chunks (~100k tokens, a few hundred pages):
# every chunk costs two model passes, and a 10 MB log file would otherwise take an hour of
# CPU. Only the first MAX_TEXT_CHARS characters are even cut into chunks.
MAX_CHUNKS = 1000
MAX_TEXT_CHARS = 1_000_000
CUT_AFTER = (" ", "。", "！", "？", "；", "\n")  # where a fallback chunk may end


def content_hash(path: Path) -> str:
    """blake2b-160 of the file's bytes, streamed: the identity of content across renames."""
    return hash_regular_file(path)[0]


class NotRegular(OSError):
    """The path is (now) a pipe, device or folder: never read it (a FIFO blocks forever)."""


def hash_regular_file(path: Path) -> tuple[str, os.stat_result]:
    """Hash a regular file through one descriptor; returns (digest, the descriptor's stat).

    Opened non-blocking and checked with ``fstat`` before any read, so a file swapped for a
    pipe or device after the scan is refused instead of hanging or streaming forever. The stat
    lets the caller check afterwards that the name still points at the bytes it hashed.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotRegular(f"{path} is not a regular file")
        h = hashlib.blake2b(digest_size=20)
        with os.fdopen(fd, "rb", closefd=False) as fh:
            while block := fh.read(HASH_BLOCK):
                h.update(block)
        return h.hexdigest(), st
    finally:
        os.close(fd)


def display_path(path: str) -> str:
    """A path as valid UTF-8 text (undecodable name bytes shown as U+FFFD) for reports."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def storable(path: str) -> bool:
    """Whether SQLite can store this path as TEXT (names that are not UTF-8 cannot)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class PartDraft:
    """A part before it has an id: a chunk, a speech segment, an OCR group or a video frame.

    ``frame`` is a video keyframe's JPEG for CLIP's image tower (its ``text`` is empty).
    """

    kind: str
    ord: int
    text: str
    start: float | None = None
    end: float | None = None
    frame: bytes | None = None


@dataclass
class Extracted:
    """Everything known about a new piece of content, ready to encode and commit."""

    path: str
    size: int
    mtime_ns: int
    content_hash: str
    type: str
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    language: str | None = None
    parts: list[PartDraft] = field(default_factory=list)
    image: Image.Image | None = None  # downscaled copy for the CLIP image tower
    meta: ItemMeta | None = None  # date taken, camera, place, tags (retrieval.media.metadata)

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9


@dataclass(frozen=True)
class Attach:
    """Known content at a new or changed path: link it, decode nothing."""

    path: str
    size: int
    mtime_ns: int
    content_hash: str


@dataclass(frozen=True)
class Skipped:
    """Nothing to record: the file vanished, or its name now leads outside the roots."""

    path: str
    reason: str


@dataclass(frozen=True)
class Failed:
    path: str
    size: int | None
    mtime_ns: int | None
    reason: str


def image_byte_limit(max_pixels: int) -> int:
    """The largest image file worth reading: uncompressed 8-bit RGBA at the pixel limit."""
    return 4 * max_pixels + (64 << 20)


def group_ocr_lines(texts: list[str], max_chars: int = OCR_GROUP_CHARS) -> list[str]:
    """Join reading-order OCR lines into groups of about ``max_chars`` characters.

    One line is often a word or two, too little for an embedding to mean much; a whole poster
    can be too much for one. Groups sit in between.
    """
    groups: list[str] = []
    buf: list[str] = []
    size = 0
    for line in texts:
        if buf and size + len(line) > max_chars:
            groups.append(" ".join(buf))
            buf, size = [], 0
        buf.append(line)
        size += len(line) + 1
    if buf:
        groups.append(" ".join(buf))
    return groups


def fallback_chunks(text: str, size: int = FALLBACK_CHUNK_CHARS) -> list[str]:
    """Character windows cut at spaces, when no text encoder (and tokenizer) is available."""
    out: list[str] = []
    rest = text.strip()
    while rest:
        if len(rest) <= size:
            out.append(rest)
            break
        # at a space, or after a full stop Chinese and Japanese write without one
        cut = max(rest.rfind(sep, size // 2, size) + len(sep) for sep in CUT_AFTER)
        cut = cut if cut > 0 else size
        out.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    return out


class Extractor:
    """Decodes files into ``Extracted`` records; safe to call from several threads.

    Whisper and video OCR are used by one thread at a time (a lock each); image decoding,
    photo OCR (``OcrReader`` is thread-safe) and text parsing run in parallel.
    """

    def __init__(self, settings: Settings, encoders: Encoders | None) -> None:
        self.settings = settings
        self.encoders = encoders
        self._speech_lock = threading.Lock()
        self._ocr_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.decoded = 0  # files decoded: the incremental tests count this

    def _enc(self, name: str) -> Any:
        return getattr(self.encoders, name, None) if self.encoders is not None else None

    def extract(self, path: Path, size: int, mtime_ns: int, digest: str) -> Extracted:
        """Decode one file; MediaError when it cannot be indexed."""
        from retrieval.media import decode as media

        with self._count_lock:
            self.decoded += 1
        if size == 0:
            raise MediaError(f"{path} is empty (0 bytes)")
        kind = media.detect_type(path)
        if kind is None:
            raise MediaError(f"{path}: unsupported or unrecognised file type")
        out = Extracted(str(path), size, mtime_ns, digest, kind)
        handler: Callable[[Path, Extracted], None] = {
            "image": self._image, "audio": self._audio, "text": self._text,
            "video": self._video,
        }[kind]
        handler(path, out)
        if out.meta is None:
            out.meta = read_meta(path, kind, self.settings.max_image_pixels)
        return out

    def _image(self, path: Path, out: Extracted) -> None:
        from retrieval.media import decode as media

        limit = image_byte_limit(self.settings.max_image_pixels)
        if out.size > limit:  # the loader reads whole files: never pull gigabytes into memory
            raise MediaError(f"{path} is {out.size:,} bytes, more than any image within the "
                             f"pixel limit needs ({limit:,}); refusing to read it")
        ocr = self._enc("ocr") if self.settings.ocr_enabled else None
        need = (FULL_OCR_SIDE if ocr is not None else CLIP_IMAGE_SIDE) if DRAFT_DECODE else None
        img, (out.width, out.height) = media.load_image_at_least(
            path, need, self.settings.max_image_pixels)
        out.meta = read_meta(path, "exif", self.settings.max_image_pixels)
        out.meta.dhash = dhash(img)
        if ocr is not None:
            lines = ocr.read(img)  # thread-safe: decode threads read images side by side
            texts = [ln.text.strip() for ln in lines
                     if ln.text.strip() and ln.confidence >= OCR_MIN_CONFIDENCE]
            out.parts = [PartDraft("ocr", i, t) for i, t in enumerate(group_ocr_lines(texts))]
        if self._enc("clip") is not None:
            small = img.copy()
            small.thumbnail((CLIP_IMAGE_SIDE, CLIP_IMAGE_SIDE))
            out.image = small

    def _audio(self, path: Path, out: Extracted) -> None:
        from retrieval.media import decode as media

        out.duration = media.audio_duration(path)
        speech = self._enc("speech")
        if speech is None:
            return  # still findable by name; speech search needs the Whisper model
        with self._speech_lock:
            transcript = speech.transcribe(path)
        out.language = transcript.language or None
        if transcript.duration:
            out.duration = float(transcript.duration)
        segs = [s for s in transcript.segments if s.text.strip()]
        out.parts = [PartDraft("segment", i, s.text.strip(), float(s.start), float(s.end))
                     for i, s in enumerate(segs)]

    def _video(self, path: Path, out: Extracted) -> None:
        from retrieval.ingest.video_parts import extract_video

        ocr = self._enc("ocr") if self.settings.ocr_enabled else None
        speech = self._enc("speech")

        def read_text(img: Image.Image) -> list[str]:
            with self._ocr_lock:
                lines = ocr.read(img) if ocr is not None else []
            return [ln.text.strip() for ln in lines
                    if ln.text.strip() and ln.confidence >= OCR_MIN_CONFIDENCE]

        def transcribe(p: Path) -> Any:
            with self._speech_lock:
                return speech.transcribe(p) if speech is not None else None

        extract_video(path, out, self.settings, keep_frames=self._enc("clip") is not None,
                      read_text=read_text if ocr is not None else None,
                      transcribe=transcribe if speech is not None else None)

    def _text(self, path: Path, out: Extracted) -> None:
        from retrieval.media import decode as media

        text = media.read_text(path, self.settings.max_text_bytes)[:MAX_TEXT_CHARS]
        encoder = self._enc("text")
        if encoder is not None:
            pieces = [c.text for c in encoder.chunk(text)]
        else:
            pieces = fallback_chunks(text)
        pieces = pieces[:MAX_CHUNKS]
        out.parts = [PartDraft("chunk", i, t) for i, t in enumerate(p for p in pieces if p.strip())]
