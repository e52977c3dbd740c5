"""Factories for the small media files tests need: speech, text images, photos, broken files.

Everything is generated on the spot (espeak-ng, Pillow, numpy), so the suite needs no
downloaded test data and each test can say exactly what its input contains.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_DIRS = (Path("/usr/share/fonts"), Path("/usr/local/share/fonts"))
# Plain upright faces that OCR and people both read easily, in a stable order.
PREFERRED_FONTS = (
    "DejaVuSans.ttf",
    "LiberationSerif-Regular.ttf",
    "LiberationSans-Regular.ttf",
    "DejaVuSerif.ttf",
    "LiberationMono-Regular.ttf",
    "DejaVuSansMono.ttf",
)


def font_paths() -> list[Path]:
    """TrueType fonts from DejaVu and Liberation found on this machine, preferred faces first."""
    found: dict[str, Path] = {}
    for root in FONT_DIRS:
        if root.is_dir():
            for p in sorted(root.rglob("*.ttf")):
                if p.name.startswith(("DejaVu", "Liberation")):
                    found.setdefault(p.name, p)
    first = [found[n] for n in PREFERRED_FONTS if n in found]
    rest = [p for n, p in sorted(found.items()) if n not in PREFERRED_FONTS]
    return first + rest


def have_espeak() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, path: Path, wpm: int = 150, voice: str = "en-us") -> Path:
    """Say ``text`` with espeak-ng into a WAV file (22.05 kHz mono) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed (apt-get install espeak-ng)")
    subprocess.run(
        [exe, "-v", voice, "-s", str(wpm), "-w", str(path), text],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return path


def text_image(
    lines: Sequence[str],
    path: Path | None = None,
    font_path: Path | str | None = None,
    size: int = 32,
    *,
    fg: tuple[int, int, int] = (0, 0, 0),
    bg: tuple[int, int, int] = (255, 255, 255),
    margin: int | None = None,
    line_spacing: float = 1.6,
    width: int | None = None,
) -> Path | Image.Image:
    """Render ``lines`` of text with Pillow; save to ``path`` (any Pillow format) or return it.

    The canvas is sized to the text plus a margin, which is what a screenshot or scan of a
    short note looks like to the OCR detector.
    """
    font_file = Path(font_path) if font_path else font_paths()[0]
    font = ImageFont.truetype(str(font_file), size)
    margin = size if margin is None else margin
    step = int(size * line_spacing)
    text_w = max(int(font.getlength(line)) for line in lines) if lines else 0
    w = width or text_w + 2 * margin
    h = step * max(len(lines), 1) + 2 * margin
    img = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((margin, margin + i * step), line, font=font, fill=fg)
    if path is None:
        return img
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path


def pattern_image(seed: int, size: tuple[int, int] = (256, 192)) -> Image.Image:
    """A distinct, deterministic picture (blobs, bars and noise) for image-similarity tests."""
    rng = np.random.default_rng(seed)
    w, h = size
    img = Image.new("RGB", size, tuple(int(c) for c in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(10, w // 2)), y0 + int(rng.integers(10, h // 2))
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        shape = int(rng.integers(0, 3))
        if shape == 0:
            draw.ellipse((x0, y0, x1, y1), fill=color)
        elif shape == 1:
            draw.rectangle((x0, y0, x1, y1), fill=color)
        else:
            draw.line((x0, y0, x1, y1), fill=color, width=int(rng.integers(2, 12)))
    return img


def tone(
    path: Path, seconds: float, freq: float = 440.0, sr: int = 16000, amp: float = 0.3
) -> Path:
    """A sine tone written as 16-bit WAV (no speech in it)."""
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    wave = (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(str(path), wave, sr, subtype="PCM_16")
    return Path(path)


def silence(path: Path, seconds: float = 3.0, sr: int = 16000) -> Path:
    """A WAV of digital silence."""
    import soundfile as sf

    sf.write(str(path), np.zeros(int(seconds * sr), dtype=np.float32), sr, subtype="PCM_16")
    return Path(path)


# --- broken files ------------------------------------------------------------------------


def empty_file(path: Path) -> Path:
    """A zero-byte file."""
    Path(path).write_bytes(b"")
    return Path(path)


def text_named(path: Path, text: str = "this is not an image, just words\n") -> Path:
    """A plain text file under a misleading name (e.g. ``photo.png``)."""
    Path(path).write_text(text, encoding="utf-8")
    return Path(path)


def truncated_jpeg(path: Path, keep: float = 0.5) -> Path:
    """A real JPEG cut off part way through its scan data."""
    import io

    buf = io.BytesIO()
    pattern_image(7, (320, 240)).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    Path(path).write_bytes(data[: int(len(data) * keep)])
    return Path(path)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def huge_png(path: Path, width: int = 60000, height: int = 60000) -> Path:
    """A tiny PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
    Path(path).write_bytes(data + _png_chunk(b"IEND", b""))
    return Path(path)


def corrupt_wav(path: Path) -> Path:
    """A RIFF/WAVE header followed by garbage: looks like audio, decodes as nothing."""
    rng = np.random.default_rng(3)
    header = b"RIFF" + struct.pack("<I", 100036) + b"WAVE" + b"fmt " + struct.pack("<I", 16)
    header += struct.pack("<HHIIHH", 0x7777, 9, 12345, 999, 3, 13)  # nonsense format
    header += b"data" + struct.pack("<I", 100000)
    Path(path).write_bytes(header + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    return Path(path)


def short_wav(path: Path, seconds: float = 0.1) -> Path:
    """A valid WAV too short to hold a word."""
    return tone(path, seconds)


def _dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    return float(d), float(m), round((value - d - m / 60) * 3600, 2)


def exif_photo(
    path: Path,
    image: Image.Image,
    *,
    taken: str | None = None,
    make: str | None = None,
    model: str | None = None,
    gps: tuple[float, float] | None = None,
    orientation: int | None = None,
    quality: int = 90,
) -> Path:
    """Save ``image`` with the EXIF a camera writes: date taken, make/model, GPS, orientation.

    ``taken`` is EXIF's ``YYYY:MM:DD HH:MM:SS``; ``gps`` is (latitude, longitude) in degrees;
    ``quality`` applies to JPEG and WebP.
    """
    exif = Image.Exif()
    if make:
        exif[271] = make
    if model:
        exif[272] = model
    if orientation:
        exif[274] = orientation
    if taken:
        exif.get_ifd(0x8769)[36867] = taken
    if gps:
        lat, lon = gps
        ifd = exif.get_ifd(0x8825)
        ifd[1], ifd[2] = ("N" if lat >= 0 else "S"), _dms(lat)
        ifd[3], ifd[4] = ("E" if lon >= 0 else "W"), _dms(lon)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, exif=exif, quality=quality)
    return path


def tagged_audio(source: Path, dest: Path, **tags: str) -> Path:
    """Re-encode ``source`` with ffmpeg into ``dest`` (format by suffix) carrying these tags."""
    args = [x for k, v in tags.items() for x in ("-metadata", f"{k}={v}")]
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), *args, str(dest)],
                   check=True, timeout=60)
    return Path(dest)
