"""Thumbnails: made once per image or video moment, cached in the data directory, icons for
everything else.

The cache key includes the source file's size and modification time, so an edited photo gets a
fresh thumbnail and a reused item id can never show another item's picture.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from retrieval.atomic import replacing
from retrieval.results import ItemDetail

THUMB_SIZE = (480, 480)

_ICON = """<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 96 96" width="96" height="96">
<rect width="96" height="96" rx="16" fill="{bg}"/>{glyph}</svg>"""
_GLYPHS = {
    "audio": (
        "#e8eefc",
        '<g fill="#3b5bdb"><rect x="22" y="40" width="6" height="16" rx="3"/>'
        '<rect x="34" y="30" width="6" height="36" rx="3"/><rect x="46" y="22" width="6" '
        'height="52" rx="3"/><rect x="58" y="32" width="6" height="32" rx="3"/>'
        '<rect x="70" y="42" width="6" height="12" rx="3"/></g>',
    ),
    "video": (
        "#fff4e6",
        '<g fill="#e8590c"><rect x="18" y="28" width="44" height="40" rx="6"/>'
        '<path d="M66 40 L80 31 L80 65 L66 56 Z"/></g>',
    ),
    "text": (
        "#f1f3f5",
        '<g fill="#868e96"><rect x="24" y="26" width="48" height="6" rx="3"/>'
        '<rect x="24" y="40" width="40" height="6" rx="3"/><rect x="24" y="54" width="48" '
        'height="6" rx="3"/><rect x="24" y="68" width="28" height="6" rx="3"/></g>',
    ),
}


def icon_svg(kind: str) -> str:
    """A small, neutral icon for an item that has no picture of its own."""
    bg, glyph = _GLYPHS.get(kind, _GLYPHS["text"])
    return _ICON.format(bg=bg, glyph=glyph)


def thumb_path(cache_dir: Path, item_id: int, source: Path) -> Path:
    """Where the thumbnail of this version of the source file lives in the cache."""
    st = source.stat()
    return cache_dir / f"{item_id}-{st.st_size}-{st.st_mtime_ns}.jpg"


def _open(source: Path) -> Image.Image:
    """Open an image with the library's checked loader (size limits, EXIF rotation)."""
    from retrieval.media.decode import load_image

    return load_image(source)


def make_thumbnail(cache_dir: Path, item_id: int, source: Path) -> Path:
    """The cached thumbnail for an image item, creating it on first use.

    Written to a temporary file and renamed, so two concurrent first requests never serve a
    half-written JPEG to anyone.
    """
    target = thumb_path(cache_dir, item_id, source)
    if target.exists():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    img = _open(source)
    img.thumbnail(THUMB_SIZE, Image.Resampling.LANCZOS)
    with replacing(target, durable=False) as tmp:  # a cache: remade if lost
        img.save(tmp, "JPEG", quality=82, optimize=True)
    for stale in cache_dir.glob(f"{item_id}-*.jpg"):
        if stale != target:
            stale.unlink(missing_ok=True)
    return target


def keyframe_start(detail: ItemDetail, seconds: float | None) -> float:
    """The start of the keyframe on screen at ``seconds`` (default: the first keyframe).

    Snapping to keyframes bounds the cache at one thumbnail per keyframe, whatever times
    clients ask for; a video without keyframes snaps to whole seconds inside its length.
    """
    starts = sorted(p.start for p in detail.parts if p.kind == "frame" and p.start is not None)
    want = seconds if seconds is not None else (starts[0] if starts else 0.0)
    before = [s for s in starts if s <= want + 1e-3]
    if before:
        return before[-1]
    if starts:
        return starts[0]
    return float(min(int(want), max(int(detail.duration or 0) - 1, 0)))


def make_video_thumbnail(cache_dir: Path, item_id: int, source: Path, seconds: float) -> Path:
    """The cached JPEG of the frame a video shows at ``seconds`` (a keyframe's start)."""
    from retrieval.media.video import frame_at

    st = source.stat()
    target = cache_dir / f"{item_id}-{st.st_size}-{st.st_mtime_ns}-{round(seconds * 1000)}.jpg"
    if target.exists():
        return target
    img = frame_at(source, seconds, max(THUMB_SIZE))
    with replacing(target, durable=False) as tmp:  # a cache: remade if lost
        img.save(tmp, "JPEG", quality=82)
    return target
