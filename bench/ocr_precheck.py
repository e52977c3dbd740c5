"""OCR stage with and without the text-presence pre-check, on a generated mix of photos.

Photo-like JPEGs (gradients, noise, shapes) at ``--size``; every ``--text-every``-th one
carries a few lines of real words at a few font sizes (``font_sizes``, in turn). Each image
goes through full OCR (``XMODAL_OCR_PRECHECK=false``), the pre-check followed by full OCR
(``XMODAL_OCR_SINGLE_PASS=false``) and the shipped reader (lines read from the pre-check's
detection), each first in turn, so all see the same load. One image at a time: the shipped
reader's ONNX sessions have the thread count the indexer gives each of its decode threads,
so this understates it (``--photos`` times the whole indexer). Reports images/s of the OCR
stage alone, and the quality cost: same lines as full OCR, rendered words found (per letter
size), text images turned away.

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


def photo(i: int, size: tuple[int, int], text: bool,
          font_sizes: tuple[int, ...] = FONT_SIZES) -> tuple[bytes, list[str]]:
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
        size_px = font_sizes[i % len(font_sizes)]
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


MODES = {  # name: (settings, label)
    "full": ({"ocr_precheck": False}, "full OCR on every image (before)"),
    "pre": ({"ocr_single_pass": False}, "pre-check, then full OCR where text"),
    "single": ({}, "pre-check, lines read from its detection (shipped)"),
}


def run(n: int, size: tuple[int, int], text_every: int,
        font_sizes: tuple[int, ...] = FONT_SIZES) -> dict[str, Any]:
    """Time every reader in ``MODES`` over ``n`` images; counts and seconds per kind of image."""
    from retrieval.config import Settings
    from retrieval.encoders import OcrReader

    readers = {name: OcrReader(Settings(**cfg)) for name, (cfg, _) in MODES.items()}
    warm = Image.open(io.BytesIO(photo(10_000, size, True)[0]))
    for reader in readers.values():
        reader.load()
        reader.read(warm)
    out: dict[str, Any] = {name: {"text": 0.0, "plain": 0.0} for name in MODES}
    out.update({"n_text": 0, "n_plain": 0, "words": 0, "false_alarm": 0,
                "same_lines": dict.fromkeys(MODES, 0), "turned_away": dict.fromkeys(MODES, 0),
                "found": dict.fromkeys(MODES, 0), "by_size": {}})
    for i in range(n):
        has_text = i % text_every == 0
        blob, words = photo(i, size, has_text, font_sizes)
        image = Image.open(io.BytesIO(blob))
        image.load()  # decoding is the indexer's cost, not the OCR stage's
        kind = "text" if has_text else "plain"
        out["n_" + kind] += 1
        lines = {}
        order = list(MODES)
        order = order[i % len(order):] + order[:i % len(order)]  # each mode first in turn
        for name in order:
            t = time.perf_counter()
            lines[name] = [ln.text for ln in readers[name].read(image)]
            out[name][kind] += time.perf_counter() - t
        if has_text:
            out["words"] += len(words)
            px = font_sizes[i % len(font_sizes)]
            per_size = out["by_size"].setdefault(px, {"words": 0, **dict.fromkeys(MODES, 0)})
            per_size["words"] += len(words)
            for name in MODES:
                out["same_lines"][name] += lines[name] == lines["full"]
                out["turned_away"][name] += bool(lines["full"]) and not lines[name]
                found = " ".join(lines[name]).lower()
                hits = sum(w in found for w in words)
                out["found"][name] += hits
                per_size[name] += hits
        else:
            out["false_alarm"] += readers["pre"].has_text(image)
    return out


def print_table(r: dict[str, Any], size: tuple[int, int],
                font_sizes: tuple[int, ...] = FONT_SIZES) -> None:
    """Markdown: OCR-stage images/s per mode and image kind, then the quality rows."""
    n = r["n_text"] + r["n_plain"]
    print(f"{n} photo-like JPEGs {size[0]}x{size[1]}: {r['n_text']} with text "
          f"(3 lines at {', '.join(map(str, font_sizes))} px), {r['n_plain']} without\n")
    print("| OCR stage | images/s, all | x full OCR | s per image without text "
          "| s per image with text |")
    print("|---|---:|---:|---:|---:|")
    full_s = r["full"]["text"] + r["full"]["plain"]
    for name, (_cfg, label) in MODES.items():
        t = r[name]
        total = t["text"] + t["plain"]
        print(f"| {label} | {n / total:.2f} | {full_s / total:.2f}x | "
              f"{t['plain'] / max(1, r['n_plain']):.2f} | {t['text'] / max(1, r['n_text']):.2f} |")
    per = {name: (r[name]["text"] / max(1, r["n_text"]), r[name]["plain"] / max(1, r["n_plain"]))
           for name in MODES}
    for share in (0.1, 0.5):  # weighted for another library's mix
        cost = {m: share * t + (1 - share) * p for m, (t, p) in per.items()}
        print(f"- the same per-image times, {share:.0%} of photos bearing text: "
              + ", ".join(f"{m} {cost['full'] / cost[m]:.2f}x" for m in MODES if m != "full"))
    print()
    print("| quality (text images) | " + " | ".join(MODES) + " |")
    print("|---|" + "---:|" * len(MODES))
    print("| same lines as full OCR | "
          + " | ".join(f"{r['same_lines'][m]} / {r['n_text']}" for m in MODES) + " |")
    print("| text images turned away (full OCR read some) | "
          + " | ".join(f"{r['turned_away'][m]} / {r['n_text']}" for m in MODES) + " |")
    print("| rendered words found | "
          + " | ".join(f"{r['found'][m]} / {r['words']}" for m in MODES) + " |")
    for px, row in sorted(r["by_size"].items()):
        print(f"| words found, {px} px letters ({px / max(size):.1%} of the long side) | "
              + " | ".join(f"{row[m]} / {row['words']}" for m in MODES) + " |")
    print(f"\nphotos without text in which the pre-check read a line (so full OCR ran): "
          f"{r['false_alarm']} / {r['n_plain']}")
