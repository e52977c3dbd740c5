"""What a file says about itself: when and where a photo was taken, with what; a song's tags.

Read from headers only (EXIF through Pillow, which parses the header without decoding
pixels; audio tags through mutagen, with ffprobe for what mutagen does not read), so items
indexed before metadata existed get it on the next run without being decoded again. The
place name comes from the coordinates offline: ``reverse_geocoder`` ships GeoNames' cities
of 1000+ people; its k-d tree is built once, on the first photo with GPS, and never for a
collection without any.

EXIF times are wall-clock times without a zone: they are stored as if they were UTC, and the
date filters read dates the same way, so ``after:2024-05`` means what the camera's clock said.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
import threading
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
TAG_MAKE, TAG_MODEL, TAG_ORIENTATION, TAG_DATETIME = 271, 272, 274, 306
TAG_DATETIME_ORIGINAL, TAG_DATETIME_DIGITIZED = 36867, 36868
FFPROBE_SECONDS = 20
MAX_TAG_CHARS = 200
HASH_SIDE = 8  # dHash: 9x8 grey pixels, one bit per horizontal neighbour pair = 64 bits


@dataclass
class ItemMeta:
    """Metadata of one item; every field may be unknown (None)."""

    taken_at: float | None = None  # EXIF DateTimeOriginal, as UTC unix seconds
    camera: str | None = None  # "Make Model"
    orientation: int | None = None  # EXIF orientation 1..8 (images are shown upright)
    lat: float | None = None
    lon: float | None = None
    place: str | None = None  # "City, Region, CC" from the coordinates
    title: str | None = None
    artist: str | None = None
    album: str | None = None
    dhash: int | None = None  # 64-bit perceptual hash of a photo, as a signed integer

    @classmethod
    def columns(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def values(self) -> list[Any]:
        return list(asdict(self).values())


# -- images -----------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    value = " ".join(value.replace("\x00", " ").split())[:MAX_TAG_CHARS]
    return value or None


def exif_time(value: Any) -> float | None:
    """``2024:05:01 14:30:00`` (EXIF's format) as unix seconds, read as UTC; None if bad."""
    text = _text(value)
    if not text:
        return None
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d"):
        try:
            return datetime.strptime(text[:19], fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


def _degrees(dms: Any, ref: Any) -> float | None:
    """EXIF's (degrees, minutes, seconds) rationals and N/S/E/W reference as signed degrees."""
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    value = d + m / 60 + s / 3600
    if not math.isfinite(value):
        return None
    if _text(ref) in ("S", "W"):
        value = -value
    return value


def camera_name(make: Any, model: Any) -> str | None:
    """"Canon Canon EOS R5" reads as "Canon EOS R5": the model often repeats the make."""
    make_s, model_s = _text(make), _text(model)
    if make_s and model_s and model_s.lower().startswith(make_s.split()[0].lower()):
        return model_s
    return " ".join(x for x in (make_s, model_s) if x) or None


def image_meta(img: Image.Image) -> ItemMeta:
    """Date taken, camera, orientation and GPS position from an opened image's EXIF."""
    meta = ItemMeta()
    try:
        exif = img.getexif()
    except Exception as exc:  # noqa: BLE001 - a damaged EXIF block only loses the metadata
        log.debug("unreadable EXIF: %s", exc)
        return meta
    if not exif:
        return meta
    try:
        sub = exif.get_ifd(EXIF_IFD)
        gps = exif.get_ifd(GPS_IFD)
    except Exception:  # noqa: BLE001
        sub, gps = {}, {}
    meta.taken_at = (exif_time(sub.get(TAG_DATETIME_ORIGINAL))
                     or exif_time(sub.get(TAG_DATETIME_DIGITIZED))
                     or exif_time(exif.get(TAG_DATETIME)))
    meta.camera = camera_name(exif.get(TAG_MAKE), exif.get(TAG_MODEL))
    orientation = exif.get(TAG_ORIENTATION)
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        meta.orientation = orientation
    if gps:
        lat, lon = _degrees(gps.get(2), gps.get(1)), _degrees(gps.get(4), gps.get(3))
        if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
            meta.lat, meta.lon = round(lat, 6), round(lon, 6)
            meta.place = place_name(meta.lat, meta.lon)
    return meta


def dhash(img: Image.Image) -> int:
    """64-bit difference hash: is each grey pixel brighter than its right neighbour (9x8).

    Survives resizing, re-encoding and small edits; returned signed so SQLite stores it.
    """
    from PIL import Image as PILImage

    grey = img.convert("L").resize((HASH_SIDE + 1, HASH_SIDE), PILImage.Resampling.LANCZOS)
    px = grey.tobytes()
    bits = 0
    for row in range(HASH_SIDE):
        for col in range(HASH_SIDE):
            left = px[row * (HASH_SIDE + 1) + col]
            bits = (bits << 1) | int(left > px[row * (HASH_SIDE + 1) + col + 1])
    return bits - (1 << 64) if bits >= 1 << 63 else bits


def exif_meta(path: Path) -> ItemMeta:
    """An image file's EXIF metadata; reads the header, not the pixels."""
    from PIL import Image as PILImage

    with PILImage.open(path) as img:
        return image_meta(img)


def read_image_meta(path: Path, max_pixels: int) -> ItemMeta:
    """Metadata and dHash of an image file, decoding only a small draft of it (backfill)."""
    from PIL import Image as PILImage
    from PIL import ImageOps

    with PILImage.open(path) as img:
        meta = image_meta(img)
        if img.width * img.height > max_pixels:
            return meta
        img.draft("L", (64, 64))  # JPEG: decode at 1/8 scale at most
        meta.dhash = dhash(ImageOps.exif_transpose(img))  # upright, as load_image shows it
    return meta


# -- places -----------------------------------------------------------------------------
_geo_lock = threading.Lock()
_geocoder: Any = None


def place_name(lat: float, lon: float) -> str | None:
    """The nearest GeoNames city as "City, Region, CC" (offline; None without the package)."""
    global _geocoder
    with _geo_lock:
        if _geocoder is None:
            try:
                import reverse_geocoder

                # mode 1: one process (mode 2 forks a pool per query)
                _geocoder = reverse_geocoder.RGeocoder(mode=1, verbose=False)
            except Exception as exc:  # noqa: BLE001 - places are optional
                log.warning("no place names (reverse_geocoder unavailable: %s)", exc)
                _geocoder = False
        if _geocoder is False:
            return None
        try:
            (hit,) = _geocoder.query([(lat, lon)])
        except Exception as exc:  # noqa: BLE001
            log.debug("reverse geocoding failed: %s", exc)
            return None
    return ", ".join(x for x in (hit.get("name"), hit.get("admin1"), hit.get("cc")) if x) or None


# -- audio ------------------------------------------------------------------------------
def _first(tags: Any, *names: str) -> str | None:
    for name in names:
        value = tags.get(name) if tags is not None else None
        if isinstance(value, list):
            value = value[0] if value else None
        text = _text(str(value)) if value is not None else None
        if text:
            return text
    return None


def read_audio_meta(path: Path) -> ItemMeta:
    """Title, artist and album: mutagen for the common formats, ffprobe for the rest."""
    meta = ItemMeta()
    try:
        import mutagen

        found = mutagen.File(path, easy=True)
        tags = found.tags if found is not None else None
    except Exception as exc:  # noqa: BLE001 - tags are optional; a bad header loses only them
        log.debug("mutagen could not read %s: %s", path, exc)
        tags = None
    if tags:
        meta.title = _first(tags, "title")
        meta.artist = _first(tags, "artist", "albumartist")
        meta.album = _first(tags, "album")
    if meta.title or meta.artist or meta.album:
        return meta
    probed = ffprobe_tags(path)
    meta.title = _first(probed, "title")
    meta.artist = _first(probed, "artist", "album_artist")
    meta.album = _first(probed, "album")
    return meta


def ffprobe_tags(path: Path) -> dict[str, str]:
    """The container's and first stream's tags, lower-cased keys; empty when none or no ffprobe."""
    exe = shutil.which("ffprobe")
    if exe is None:
        return {}
    try:
        done = subprocess.run(
            [exe, "-v", "error", "-print_format", "json", "-show_entries",
             "format_tags:stream_tags", "--", str(path)],
            capture_output=True, timeout=FFPROBE_SECONDS, check=False)
        data = json.loads(done.stdout or b"{}")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return {}
    tags: dict[str, str] = {}
    for block in [data.get("format", {}), *data.get("streams", [])]:
        for key, value in (block.get("tags") or {}).items():
            tags.setdefault(str(key).lower(), str(value))
    return tags


def read_meta(path: Path, kind: str, max_pixels: int) -> ItemMeta:
    """Metadata of a file of this kind, from its headers; never raises for a bad file."""
    try:
        if kind == "exif":  # the pixels are decoded already: the header alone
            return exif_meta(path)
        if kind == "image":
            return read_image_meta(path, max_pixels)
        if kind in ("audio", "video"):  # containers carry the same title/artist/album tags
            return read_audio_meta(path)
    except Exception as exc:  # noqa: BLE001 - metadata is a bonus; the item is still indexed
        log.debug("no metadata from %s: %s", path, exc)
    return ItemMeta()
