"""OCR stage with and without the text-presence pre-check, on a generated mix of photos.

Photo-like JPEGs (gradients, noise, shapes) at ``--size``; every ``--text-every``-th one
carries a few lines of real words at a few font sizes. Each image goes through full OCR
(``XMODAL_OCR_PRECHECK=false``) and through the shipped reader (pre-check on), in
alternating order, so both see the same load. Reports images/s of the OCR stage alone, and
the quality cost: does a text image give the same lines, how many rendered words each finds,
how many text images the pre-check turned away.

    python -m bench.indexing --ocr-precheck 36
"""

from __future__ import annotations

import io
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

WORDS = ("invoice receipt total station platform exit museum coffee menu street parking "
         "harbour meeting agenda budget north south open closed ticket gate river bridge "
         "market bakery garden library").split()
FONT_SIZES = (22, 32, 48, 72)  # px on the full-size photo


def _font(size: int) -> Any:
    for root in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        for p in sorted(root.rglob("DejaVuSans.ttf")) if root.is_dir() else []:
            return ImageFont.truetype(str(p), size)
    return ImageFont.load_default(size)


def photo(i: int, size: tuple[int, int], text: bool) -> tuple[bytes, list[str]]:
    """One JPEG and the words written on it (none for a photo without text)."""
    rng = random.Random(i)
    w, h = size
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([(x / w) * rng.uniform(60, 200), (y / h) * rng.uniform(60, 200),
                     np.full_like(x, rng.uniform(40, 160))], axis=-1)
    noise = np.random.default_rng(i).normal(0, 12, (h, w, 3))
    img = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(8):  # shapes: edges a detector must not take for text
        x0, y0 = rng.randrange(w), rng.randrange(h)
        box = (x0, y0, x0 + rng.randrange(40, w // 3), y0 + rng.randrange(40, h // 3))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.5))
    words: list[str] = []
    if text:
        draw = ImageDraw.Draw(img)
        size_px = FONT_SIZES[i % len(FONT_SIZES)]
        font = _font(size_px)
        top = rng.randrange(h // 8, h // 2)
        left = rng.randrange(w // 16, w // 4)
        draw.rectangle((left - 20, top - 20, left + 14 * size_px, top + 3.6 * size_px),
                       fill=(245, 245, 240))  # a sign or a page: dark words on light
        for line in range(3):
            line_words = [rng.choice(WORDS) for _ in range(3)]
            words += line_words
            draw.text((left, top + line * 1.2 * size_px), " ".join(line_words),
                      fill=(20, 20, 30), font=font)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88)
    return buf.getvalue(), words


def run(n: int, size: tuple[int, int], text_every: int) -> dict[str, Any]:
    """Time both readers over ``n`` images; counts and seconds per kind of image."""
    from retrieval.config import Settings
    from retrieval.encoders import OcrReader

    full = OcrReader(Settings(ocr_precheck=False))
    pre = OcrReader(Settings(ocr_precheck=True))
    full.load()
    pre.load()
    warm = Image.open(io.BytesIO(photo(10_000, size, True)[0]))
    full.read(warm)
    pre.read(warm)
    out: dict[str, Any] = {"full": {"text": 0.0, "plain": 0.0}, "pre": {"text": 0.0, "plain": 0.0},
                           "n_text": 0, "n_plain": 0, "same_lines": 0, "turned_away": 0,
                           "false_alarm": 0, "words": 0, "found": {"full": 0, "pre": 0}}
    for i in range(n):
        has_text = i % text_every == 0
        blob, words = photo(i, size, has_text)
        image = Image.open(io.BytesIO(blob))
        image.load()  # decoding is the indexer's cost, not the OCR stage's
        kind = "text" if has_text else "plain"
        out["n_" + kind] += 1
        lines = {}
        for name in (("full", "pre") if i % 2 else ("pre", "full")):
            reader = full if name == "full" else pre
            t = time.perf_counter()
            lines[name] = [ln.text for ln in reader.read(image)]
            out[name][kind] += time.perf_counter() - t
        if has_text:
            out["words"] += len(words)
            out["same_lines"] += lines["full"] == lines["pre"]
            out["turned_away"] += bool(lines["full"]) and not lines["pre"]
            for name in ("full", "pre"):
                found = " ".join(lines[name]).lower()
                out["found"][name] += sum(w in found for w in words)
        else:
            out["false_alarm"] += bool(lines["pre"]) or pre.has_text(image)
    return out


def print_table(r: dict[str, Any], size: tuple[int, int]) -> None:
    """Markdown: OCR-stage images/s per mode and image kind, then the quality rows."""
    n = r["n_text"] + r["n_plain"]
    print(f"{n} photo-like JPEGs {size[0]}x{size[1]}: {r['n_text']} with text "
          f"(3 lines at {', '.join(map(str, FONT_SIZES))} px), {r['n_plain']} without\n")
    print("| OCR stage | images/s, all | s per image without text | s per image with text |")
    print("|---|---:|---:|---:|")
    for name, label in (("full", "full OCR on every image (before)"),
                        ("pre", "pre-check, then full OCR where text (after)")):
        t = r[name]
        print(f"| {label} | {n / (t['text'] + t['plain']):.2f} | "
              f"{t['plain'] / max(1, r['n_plain']):.2f} | {t['text'] / max(1, r['n_text']):.2f} |")
    speed = (r["full"]["text"] + r["full"]["plain"]) / (r["pre"]["text"] + r["pre"]["plain"])
    print(f"\n- pre-check: **{speed:.2f}x** the OCR stage's images/s on this mix")
    per = {name: (r[name]["text"] / max(1, r["n_text"]), r[name]["plain"] / max(1, r["n_plain"]))
           for name in ("full", "pre")}
    for share in (0.1, 0.5):  # weighted for another library's mix
        cost = {n: share * t + (1 - share) * p for n, (t, p) in per.items()}
        print(f"- the same per-image times, {share:.0%} of photos bearing text: "
              f"{cost['full'] / cost['pre']:.2f}x")
    print()
    print("| quality (text images) | value |")
    print("|---|---:|")
    print(f"| same lines as full OCR | {r['same_lines']} / {r['n_text']} |")
    print(f"| text images the pre-check turned away | {r['turned_away']} / {r['n_text']} |")
    print(f"| rendered words found, full OCR | {r['found']['full']} / {r['words']} |")
    print(f"| rendered words found, with pre-check | {r['found']['pre']} / {r['words']} |")
    print(f"| photos without text the pre-check sent to full OCR | "
          f"{r['false_alarm']} / {r['n_plain']} |")
