"""Decoding files with limits: one place that turns bytes into pixels, text or samples.

Every input that cannot be decoded raises :class:`~retrieval.errors.MediaError` with a message
a person can act on; nothing here lets a hostile or broken file exhaust memory (image size is
checked from the header before pixels are decoded, audio is streamed in blocks).
"""

from __future__ import annotations

import io
import math
import warnings
from html.parser import HTMLParser
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from retrieval.config import Settings
from retrieval.errors import MediaError
from retrieval.media.audio import MIN_AUDIO_SECONDS, SAMPLE_RATE, audio_duration, iter_audio

__all__ = [
    "MIN_AUDIO_SECONDS", "SAMPLE_RATE", "audio_duration", "detect_type", "iter_audio",
    "load_image", "load_image_at_least", "read_text", "to_rgb",
]

DEFAULT_MAX_PIXELS: int = Settings.model_fields["max_image_pixels"].default
DEFAULT_MAX_TEXT_BYTES: int = Settings.model_fields["max_text_bytes"].default

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff", ".heic"}
AUDIO_EXTS = {".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma",
              ".aif", ".aiff", ".webm", ".mka"}
TEXT_EXTS = {".txt", ".md", ".markdown", ".rst", ".html", ".htm", ".xhtml", ".pdf"}
HTML_EXTS = {".html", ".htm", ".xhtml"}
VIDEO_EXTS = {".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".3gp"}
MediaType = Literal["image", "audio", "text", "video"]

# load_image checks the pixel count itself (XMODAL_MAX_IMAGE_PIXELS), so Pillow's warning is
# noise. Pillow still refuses outright above 2x Image.MAX_IMAGE_PIXELS (about 179 megapixels).
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


# --- type detection -------------------------------------------------------------------------


def _looks_like_text(head: bytes) -> bool:
    """True when the first bytes decode as text (UTF-8/UTF-16 or a mostly printable 8-bit)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a multi-byte character cut by the read
            return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls <= len(head) // 100


def _is_html(head: bytes) -> bool:
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return start.startswith((b"<!doctype html", b"<html")) or b"<html" in start[:1024]


def detect_type(path: Path) -> MediaType | None:
    """What kind of media a file holds, judged by its content; the extension only breaks ties.

    Returns None for empty, unreadable or unsupported files (archives, executables). A video
    container (MP4, MKV, WebM, MOV, AVI) is ``video`` when it holds moving pictures and
    ``audio`` when it holds only sound (a voice note, or music with cover art); one ffprobe
    cannot read at all is ``video``, so indexing reports why.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(8192)
    except OSError:
        return None
    if not head:
        return None
    ext = path.suffix.lower()
    if head.startswith(b"%PDF-"):
        return "text"
    import filetype

    kind = filetype.guess(head)
    if kind is not None:
        mime = kind.mime
        if mime.startswith("image/"):
            return "image"
        if mime.startswith("audio/"):
            return "audio"
        if mime.startswith("video/"):
            from retrieval.media.video import has_moving_picture

            moving = has_moving_picture(path)
            if moving is None:
                return "video" if ext in VIDEO_EXTS or ext not in AUDIO_EXTS else "audio"
            return "video" if moving else "audio"
        return None
    if _looks_like_text(head):
        return "text"
    if ext in AUDIO_EXTS:  # e.g. an MP3 without an ID3 tag that sniffers miss
        return "audio"
    return None


# --- images ---------------------------------------------------------------------------------


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode to 8-bit RGB: alpha composited on white, 16-bit/float scaled, CMYK mapped."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if mode.startswith("I") or mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if mode == "F":
            lo, hi = float(arr.min()), float(arr.max())
            arr = (arr - lo) / (hi - lo or 1.0) * 255.0
        elif arr.max() > 255:
            arr = arr / 257.0  # 16-bit range onto 8-bit
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L").convert("RGB")
    return img.convert("RGB")


def load_image(src: Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> Image.Image:
    """Decode an image file or upload into RGB, EXIF-rotated, first frame only.

    The pixel count is read from the header and refused above ``max_pixels`` before any pixel
    is decoded (``XMODAL_MAX_IMAGE_PIXELS``), so a 60000x60000 "bomb" costs nothing.
    """
    return load_image_at_least(src, None, max_pixels)[0]


def load_image_at_least(src: Path | bytes, min_side: int | None,
                        max_pixels: int = DEFAULT_MAX_PIXELS
                        ) -> tuple[Image.Image, tuple[int, int]]:
    """``load_image``, decoding a JPEG at 1/2, 1/4 or 1/8 scale where the picture keeps at
    least ``min_side`` px on its long side; also returns the full, EXIF-rotated size.

    libjpeg scales in the DCT while decoding, so a 12 MP photo that the encoders look at
    through 2000 px at most costs a quarter of the decode (and no downscaling) this way.
    """
    label = "upload" if isinstance(src, bytes | bytearray) else str(src)
    if isinstance(src, bytes | bytearray):
        data = bytes(src)
    else:
        try:
            data = Path(src).read_bytes()
        except OSError as exc:
            raise MediaError(f"cannot read {label}: {exc.strerror or exc}") from exc
    if not data:
        raise MediaError(f"{label} is empty (0 bytes)")
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise MediaError(f"{label} is too large to decode safely: {exc}") from exc
    except UnidentifiedImageError as exc:
        hint = " (it contains text)" if _looks_like_text(data[:4096]) else ""
        raise MediaError(f"{label} is not a readable image{hint}") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise MediaError(f"{label} is not a readable image: {exc}") from exc
    with im:
        w, h = im.size
        if w <= 0 or h <= 0:
            raise MediaError(f"{label} has an invalid size {w}x{h}")
        if w * h > max_pixels:
            raise MediaError(
                f"{label} is {w}x{h} = {w * h:,} pixels, over the limit of {max_pixels:,} "
                "(XMODAL_MAX_IMAGE_PIXELS); refusing to decode it"
            )
        try:
            im.seek(0)
            if min_side and im.format in ("JPEG", "MPO") and max(w, h) >= 2 * min_side:
                scale = min_side / max(w, h)
                im.draft(None, (max(1, math.ceil(w * scale)), max(1, math.ceil(h * scale))))
            im.load()
            try:
                frame = ImageOps.exif_transpose(im) or im
            except Exception:  # noqa: BLE001 - broken EXIF: show the pixels unrotated
                frame = im
            full = (h, w) if frame.size != im.size else (w, h)  # EXIF turned it a quarter
            return to_rgb(frame).copy(), full
        except Image.DecompressionBombError as exc:
            raise MediaError(f"{label} is too large to decode safely: {exc}") from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise MediaError(f"{label} is damaged or truncated: {exc}") from exc


# --- text -----------------------------------------------------------------------------------


class _VisibleText(HTMLParser):
    """Collects the text a browser would show: no scripts, styles or markup."""

    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "title",
             "section", "article", "header", "footer", "blockquote", "pre", "table", "ul", "ol"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.title: list[str] = []
        self.in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "title":
            self.in_title = True
        elif tag in self.SKIP:
            self.skip += 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
        elif tag in self.SKIP and self.skip:
            self.skip -= 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skip:
            self.parts.append(data)

    def text(self) -> str:
        lines = [" ".join(line.split()) for line in "".join(self.parts).splitlines()]
        body = "\n".join(line for line in lines if line)
        title = " ".join("".join(self.title).split())
        return f"{title}\n{body}".strip() if title else body


def _decode(data: bytes, label: str) -> str:
    """Bytes to str: BOMs, then UTF-8, then charset detection, then cp1252 as a last resort."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    if b"\x00" in data[:8192]:
        raise MediaError(f"{label} is binary, not text")
    try:
        from charset_normalizer import from_bytes

        results = list(from_bytes(data[:1_000_000]))
        if results:
            # Short texts leave the detector torn between near-identical 8-bit code pages;
            # among the near-best guesses prefer Western (cp1252), the commonest in practice.
            best = min(r.chaos for r in results)
            close = [r.encoding for r in results if r.chaos <= best + 0.05]
            enc = next((e for e in ("cp1252", "latin_1") if e in close), results[0].encoding)
            return data.decode(enc, errors="replace")
    except ImportError:
        pass
    return data.decode("cp1252", errors="replace")


def _read_pdf(data: bytes, label: str, max_chars: int) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise MediaError(f"{label} is a password-protected PDF")
        pages: list[str] = []
        total = 0
        for page in reader.pages:
            text = page.extract_text() or ""
            pages.append(text)
            total += len(text)
            if total > max_chars:
                raise MediaError(f"{label} holds more than {max_chars:,} characters of text "
                                 "(XMODAL_MAX_TEXT_BYTES)")
    except MediaError:
        raise
    except (PdfReadError, OSError, ValueError, KeyError, TypeError) as exc:
        raise MediaError(f"{label} is not a readable PDF: {exc}") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def read_text(path: Path, max_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> str:
    """The readable text of a txt/md/html/pdf file.

    Raises MediaError for empty files, files over ``max_bytes`` (``XMODAL_MAX_TEXT_BYTES``;
    PDFs may be 4x larger on disk, as they carry fonts and images), binary content, and
    documents with no text at all (a whitespace-only file, a scanned PDF without a text layer).
    """
    path = Path(path)
    label = str(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise MediaError(f"cannot read {label}: {exc.strerror or exc}") from exc
    if size == 0:
        raise MediaError(f"{label} is empty (0 bytes)")
    with path.open("rb") as f:
        head = f.read(8)
    is_pdf = head.startswith(b"%PDF-")
    limit = max_bytes * 4 if is_pdf else max_bytes
    if size > limit:
        raise MediaError(f"{label} is {size:,} bytes, over the limit of {limit:,} "
                         "(XMODAL_MAX_TEXT_BYTES)")
    data = path.read_bytes()
    if is_pdf:
        text = _read_pdf(data, label, max_bytes)
    else:
        text = _decode(data, label)
        if path.suffix.lower() in HTML_EXTS or _is_html(data[:4096]):
            parser = _VisibleText()
            parser.feed(text)
            parser.close()
            text = parser.text()
    text = text.replace("\r\n", "\n").replace("\x00", "")
    if not text.strip():
        raise MediaError(f"no text found in {label}")
    return text
