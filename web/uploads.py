"""Checking uploaded media before it reaches a decoder.

The declared content type is a hint from the client; the first bytes decide. A file whose
bytes are not a known image or audio container is refused with 415 before any decoder (and
its parser bugs) sees it. Sizes are bounded by ``BodyLimitMiddleware`` while the body streams.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from fastapi import UploadFile

from web.errors import ApiError

_IMAGE_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"\xff\xd8\xff"),  # JPEG
    (0, b"\x89PNG\r\n\x1a\n"),
    (0, b"GIF87a"),
    (0, b"GIF89a"),
    (0, b"BM"),
    (0, b"II*\x00"),  # TIFF little-endian
    (0, b"MM\x00*"),  # TIFF big-endian
    (8, b"WEBP"),
)
_AUDIO_MAGIC: tuple[tuple[int, bytes], ...] = (
    (8, b"WAVE"),
    (0, b"OggS"),
    (0, b"fLaC"),
    (0, b"ID3"),
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM, what MediaRecorder produces in Chromium
    (4, b"ftyp"),  # MP4 / M4A, what Safari's MediaRecorder produces
    (0, b"\xff\xfb"),  # MPEG audio frame sync (MP3 without ID3)
    (0, b"\xff\xf3"),
    (0, b"\xff\xf2"),
    (0, b"\xff\xf1"),  # ADTS AAC
    (0, b"\xff\xf9"),
)

UPLOAD_SUFFIXES = {
    "image": {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"},
    "audio": {".wav", ".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".webm"},
    "text": {".txt", ".md", ".markdown", ".html", ".htm", ".pdf"},
    "video": {".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi"},
}


def _matches(head: bytes, magic: tuple[tuple[int, bytes], ...]) -> bool:
    return any(head[offset : offset + len(sig)] == sig for offset, sig in magic)


def sniff(head: bytes) -> str | None:
    """``"image"`` or ``"audio"`` from a file's first bytes, or None."""
    if _matches(head, _IMAGE_MAGIC):
        return "image"
    if _matches(head, _AUDIO_MAGIC):
        return "audio"
    return None


async def read_media(upload: UploadFile | None, kind: str) -> bytes | None:
    """The bytes of an image or audio query upload, or None when the field was left empty.

    Raises 415 when the bytes are not the expected kind of media, whatever the client declared.
    """
    if upload is None:
        return None
    data = await upload.read()
    if not data and not upload.filename:
        return None  # an empty file input that browsers send as a nameless, empty part
    if not data:
        raise ApiError(400, "empty_upload", f"the {kind} upload is empty")
    if sniff(data[:16]) != kind:
        declared = upload.content_type or "unknown"
        raise ApiError(
            415,
            "unsupported_media_type",
            f"the {kind} upload is not a supported {kind} format (declared {declared})",
        )
    return data


_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)


def safe_name(filename: str | None) -> str:
    """A file name that is only a name: no folders, no control characters, not hidden."""
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")[:120]
    return name or "upload"


def upload_suffix_kind(filename: str) -> str | None:
    """Which kind of media the upload's suffix says it is, or None for an unsupported suffix."""
    suffix = Path(filename).suffix.lower()
    for kind, suffixes in UPLOAD_SUFFIXES.items():
        if suffix in suffixes:
            return kind
    return None


def new_upload_dir(data_dir: Path) -> Path:
    """A fresh folder under ``<data>/uploads`` for one request, so original names are kept."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    folder = data_dir / "uploads" / f"{stamp}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def stored_upload_bytes(data_dir: Path) -> int:
    """The bytes of every file under ``<data>/uploads``: what counts against the total cap."""
    total = 0
    for folder, _, names in os.walk(data_dir / "uploads"):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue  # removed while we walked
    return total


def check_upload_quota(stored: int, incoming: int, cap_mb: int) -> None:
    """Refuse (413 ``upload_quota_exceeded``) uploads that would take storage past the cap."""
    cap = cap_mb * 1024 * 1024
    if stored + incoming > cap:
        mb = 1024 * 1024
        raise ApiError(
            413,
            "upload_quota_exceeded",
            f"stored uploads would pass the {cap_mb} MB cap ({stored / mb:.1f} MB stored, "
            f"{incoming / mb:.1f} MB sent); remove some or raise XMODAL_MAX_UPLOADS_TOTAL_MB",
        )
