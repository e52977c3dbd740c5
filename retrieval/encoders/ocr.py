"""Text in images (screenshots, scans, receipts, signs) via rapidocr-onnxruntime's PP-OCRv4.

CLIP sees that an image holds text but cannot read it; OCR lines become searchable parts.
"""

from __future__ import annotations

import logging
import os
import statistics
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from PIL import Image

from retrieval.config import Settings
from retrieval.encoders.base import LazyModel
from retrieval.encoders.ocr_reduced import CHECK_SIDE, ReducedOcr
from retrieval.errors import ModelUnavailable
from retrieval.media.decode import to_rgb
from retrieval.records import OcrLine

log = logging.getLogger(__name__)

# PP-OCRv4's recogniser was trained mostly on Chinese, whose glyphs are square; on Latin text
# it drops the spaces between words. Squeezing the image to 75 % width before OCR restores
# them (measured on rendered lines, six fonts, 18-40 px: 66 % -> 99 % of words exact;
# 0.7 and 0.8 both did worse).
SQUEEZE = 0.75
# The detector upscales the short side to 736 px; a tiny image would grow its text so much that
# lines split. Padding small images with their background instead keeps text at its size.
MIN_SIDE = 1000
# The text-presence check and, for images larger than it, the reading itself run from one
# detector pass over a reduced copy (retrieval/encoders/ocr_reduced.py): half the resolution
# full OCR detects at, at least CHECK_SIDE px long. Letters under ~1% of the long side are
# lost with it (full OCR reads down to ~0.4%; docs/performance.md). Detection alone is not
# enough to call an image text-free: on photos it fires on edges and textures (8 of 10
# generated photos without text), which recognition then rejects (bench/ocr_precheck.py).


def _background(img: Image.Image) -> tuple[int, int, int]:
    """The median colour of the image border: what to pad with so no edge appears."""
    a = np.asarray(img)
    border = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
    r, g, b = (int(v) for v in np.median(border, axis=0))
    return r, g, b


class OcrReader(LazyModel):
    """``read(image) -> list[OcrLine]`` in reading order, boxes in the original image's pixels."""

    env_var = "XMODAL_OCR_ENABLED"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        squeeze: float = SQUEEZE,
        min_side: int = MIN_SIDE,
        min_confidence: float = 0.5,
        precheck_side: int | None = CHECK_SIDE,
    ) -> None:
        super().__init__(settings, "cpu")
        self.name = "rapidocr PP-OCRv4"
        self.precision = "fp32"  # ONNX Runtime on the shipped fp32 models
        self.squeeze = squeeze
        self.min_side = min_side
        self.min_confidence = min_confidence
        # None: every image gets full OCR (XMODAL_OCR_PRECHECK=false)
        self.precheck_side = precheck_side if self.settings.ocr_precheck else None
        self._engine: Any = None
        # a large image is read from the pre-check's own detection (XMODAL_OCR_SINGLE_PASS)
        self.single_pass = self.settings.ocr_single_pass
        self._idle: list[ReducedOcr] = []  # rapidocr again, for reduced copies; one a thread
        self._pool_lock = threading.Lock()
        # ONNX Runtime threads for each decode thread's reader: the cores shared between them
        self.reduced_threads = max(1, (os.cpu_count() or 1) // self.settings.decode_workers)
        self._run_lock = threading.Lock()

    def _load(self) -> None:
        if not self.settings.ocr_enabled:
            raise ModelUnavailable(self.name, ["XMODAL_OCR_ENABLED=false"],
                                   "OCR is switched off; set XMODAL_OCR_ENABLED=true to enable it.")
        try:
            import rapidocr_onnxruntime
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:
            raise ModelUnavailable(self.name, ["rapidocr_onnxruntime (not installed)"],
                                   "`pip install rapidocr-onnxruntime`.") from exc
        try:
            self._engine = RapidOCR()
        except Exception as exc:  # noqa: BLE001 - broken install / missing ONNX files
            where = str(getattr(rapidocr_onnxruntime, "__file__", "rapidocr_onnxruntime"))
            raise ModelUnavailable(self.name, [where],
                                   f"Reinstall rapidocr-onnxruntime ({exc}).") from exc
        from importlib.metadata import PackageNotFoundError, version
        from pathlib import Path

        try:
            ver = version("rapidocr-onnxruntime")
        except PackageNotFoundError:
            ver = "?"
        models = Path(rapidocr_onnxruntime.__file__).parent / "models"
        self.weights = f"{models} (rapidocr-onnxruntime {ver})"

    def _prepare(self, image: Image.Image) -> tuple[Image.Image, float, int, int]:
        """Squeeze and pad for the OCR models; returns the image and how to map boxes back."""
        img = to_rgb(image)
        sx = self.squeeze
        if sx != 1.0:
            img = img.resize((max(1, round(img.width * sx)), img.height), Image.Resampling.BICUBIC)
        w, h = img.size
        if min(w, h) >= self.min_side:
            return img, sx, 0, 0
        big_w, big_h = max(w, self.min_side), max(h, self.min_side)
        canvas = Image.new("RGB", (big_w, big_h), _background(img))
        dx, dy = (big_w - w) // 2, (big_h - h) // 2
        canvas.paste(img, (dx, dy))
        return canvas, sx, dx, dy

    def read(self, image: Image.Image) -> list[OcrLine]:
        """Lines of text found in ``image``, top-to-bottom then left-to-right; [] if none.

        Pre-check on (the default): no line on the reduced copy, no OCR. An image larger
        than that copy is read from the same detection (``single_pass``), unless a line read
        there is too small to trust (``ocr_reduced.SMALL_LINE``); those, smaller images, and
        any with ``XMODAL_OCR_SINGLE_PASS=false`` get full OCR.
        """
        self.load()
        if self.precheck_side is not None:
            try:
                with self._reduced_reader() as reader:
                    found = reader.detect(image, self.precheck_side)
                    if len(found.boxes) == 0:
                        return []
                    if self.single_pass and found.scale < 1.0:
                        read = reader.read(image, found.boxes)
                        if not read:
                            return []
                        if not found.too_small([box for box, _, _ in read]):
                            return reading_order([self._line(box, text, score, image)
                                                  for box, text, score in read])
                    elif not reader.reads_a_line(image, found.boxes):
                        return []
            except Exception as exc:  # noqa: BLE001 - an unexpected rapidocr: full OCR
                self._give_up_precheck(exc)
        return self._read_full(image)

    def _give_up_precheck(self, exc: Exception) -> None:
        """Full OCR from now on, should rapidocr's internals differ from what
        ``ocr_reduced`` expects."""
        log.warning("OCR text-presence check unavailable (%s); running full OCR", exc)
        self.precheck_side = None

    def _read_full(self, image: Image.Image) -> list[OcrLine]:
        """rapidocr's own pipeline on the whole (squeezed, padded) image."""
        prepared, sx, dx, dy = self._prepare(image)
        with self._run_lock:
            result, _ = self._engine(prepared)
        lines: list[OcrLine] = []
        for box, text, score in result or []:
            text = str(text).strip()
            if not text or float(score) < self.min_confidence:
                continue
            pts = np.array([((x - dx) / sx, y - dy) for x, y in box], np.float32)
            lines.append(self._line(pts, text, float(score), image))
        return reading_order(lines)

    @staticmethod
    def _line(box: np.ndarray, text: str, score: float, image: Image.Image) -> OcrLine:
        """An OcrLine with its box clamped to the image, in the original's pixels."""
        pts = tuple((round(min(max(float(x), 0.0), image.width), 1),
                     round(min(max(float(y), 0.0), image.height), 1)) for x, y in box)
        return OcrLine(text, pts, round(score, 4))

    @contextmanager
    def _reduced_reader(self) -> Iterator[ReducedOcr]:
        """A reduced-copy reader of this thread's own for the call: the indexer's decode
        threads each read their own image at once, on a share of the cores each, instead of
        queueing for one. Readers are kept for the next call, whichever thread makes it."""
        with self._pool_lock:
            reader = self._idle.pop() if self._idle else None
        if reader is None:
            reader = ReducedOcr(self.squeeze, self.min_confidence, self.reduced_threads)
        try:
            yield reader
        finally:
            with self._pool_lock:
                self._idle.append(reader)

    def has_text(self, image: Image.Image) -> bool:
        """Whether a downscaled copy shows any line of text OCR would keep.

        Photos without text are most of a photo library, and full OCR costs them a detector
        pass at up to 2000 px plus recognition of whatever edges it mistook for text. This
        reads a copy at half that resolution instead: no box, no recognition. Answers True
        (run full OCR) when the check cannot run.
        """
        self.load()
        try:
            with self._reduced_reader() as reader:
                found = reader.detect(image, self.precheck_side or CHECK_SIDE)
                return len(found.boxes) > 0 and reader.reads_a_line(image, found.boxes)
        except Exception as exc:  # noqa: BLE001 - an unexpected rapidocr: do the full OCR
            self._give_up_precheck(exc)
            return True


def _bounds(line: OcrLine) -> tuple[float, float, float, float]:
    xs = [p[0] for p in line.box]
    ys = [p[1] for p in line.box]
    return min(xs), min(ys), max(xs), max(ys)


def reading_order(lines: list[OcrLine]) -> list[OcrLine]:
    """Rows top to bottom (a line joins a row its middle lies inside), each left to right."""
    rows: list[tuple[float, float, list[OcrLine]]] = []
    for line in sorted(lines, key=lambda ln: _bounds(ln)[1]):
        _, top, _, bottom = _bounds(line)
        mid = (top + bottom) / 2
        for i, (rtop, rbottom, members) in enumerate(rows):
            if rtop <= mid <= rbottom:
                members.append(line)
                rows[i] = (min(rtop, top), max(rbottom, bottom), members)
                break
        else:
            rows.append((top, bottom, [line]))
    rows.sort(key=lambda r: r[0])
    return [ln for _, _, members in rows for ln in sorted(members, key=lambda m: _bounds(m)[0])]


def group_paragraphs(lines: list[OcrLine], gap: float = 0.8) -> list[list[OcrLine]]:
    """Split reading-ordered lines where the vertical gap exceeds ``gap`` x the median height.

    Paragraphs, not single lines, become searchable parts: a line alone is often too short
    to embed meaningfully.
    """
    if not lines:
        return []
    heights = [b[3] - b[1] for b in map(_bounds, lines)]
    limit = gap * (statistics.median(heights) or 1.0)
    groups: list[list[OcrLine]] = [[lines[0]]]
    prev = _bounds(lines[0])
    for line in lines[1:]:
        cur = _bounds(line)
        same_row = cur[1] < prev[3] and cur[3] > prev[1]
        if same_row or cur[1] - prev[3] <= limit:
            groups[-1].append(line)
        else:
            groups.append([line])
        prev = cur
    return groups


def paragraph_texts(lines: list[OcrLine], gap: float = 0.8) -> list[str]:
    """The text of each paragraph from :func:`group_paragraphs`, lines joined by spaces."""
    return [" ".join(ln.text for ln in g) for g in group_paragraphs(lines, gap)]
