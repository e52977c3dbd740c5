"""OCR of a large image from one detector pass over a reduced copy.

Full OCR runs rapidocr's text detector at the image's own resolution (up to 2000 px), which
is most of its time on a photo. Here the detector runs once, on a copy reduced to about half
that; its boxes are mapped back to the original's pixels, and every line is cut from the
full-resolution image for the recogniser, in batches. That one pass serves both the
text-presence check (is there any line worth reading?) and, for a large image, the reading
itself, so a photo with text no longer pays for a second, full-size detection. What it costs:
letters too small for the reduced copy's detector (under ~1% of the long side) are not found.
``docs/performance.md`` has the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from retrieval.media.decode import to_rgb

CHECK_SIDE = 736  # the reduced copy's long side is at least this
FULL_OCR_SIDE = 2000  # rapidocr's max_side_len: full OCR reduces larger images to this


# A line read from a box under this many pixels tall on the reduced copy has letters near
# what its detector resolves: such boxes clip letters and run lines together (16 px letters
# on a 1600 px photo: 29 of 36 words read from them, against 36 by full OCR), and smaller
# lines beside them go unseen. An image with one gets full OCR after all.
SMALL_LINE = 16


@dataclass(frozen=True)
class Found:
    """Candidate text boxes, (n, 4, 2) float32 in the original image's pixels."""

    boxes: np.ndarray
    scale: float  # the reduced copy's size over the image's (1.0: detected at its own size)

    def too_small(self, boxes: list[np.ndarray]) -> bool:
        """Whether any of ``boxes`` (lines read from these) is under ``SMALL_LINE`` px tall
        on the reduced copy."""
        heights = [float(np.ptp(b[:, 1])) * self.scale for b in boxes]
        return bool(heights) and min(heights) < SMALL_LINE


def check_scale(size: tuple[int, int], min_side: int = CHECK_SIDE) -> float:
    """How much the copy the detector sees is reduced: half of full OCR's resolution (the
    image's own, up to 2000 px), at least ``min_side`` px on the long side, never enlarged."""
    long_side = max(size)
    side = max(min_side, min(long_side, FULL_OCR_SIDE) // 2)
    return min(1.0, side / long_side)


def line_crop(rgb: np.ndarray, box: np.ndarray, squeeze: float) -> np.ndarray:
    """One text line cut from the full-size RGB array, squeezed in width as the recogniser
    wants it (see ``ocr.SQUEEZE``), upright, in the BGR order rapidocr's models take."""
    import cv2

    src = box.astype(np.float32)
    sq = src * np.array([squeeze, 1.0], dtype=np.float32)
    width = int(max(np.linalg.norm(sq[0] - sq[1]), np.linalg.norm(sq[2] - sq[3])))
    height = int(max(np.linalg.norm(sq[0] - sq[3]), np.linalg.norm(sq[1] - sq[2])))
    width, height = max(width, 1), max(height, 1)
    dst = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    crop = cv2.warpPerspective(rgb, cv2.getPerspectiveTransform(src, dst), (width, height),
                               borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    if height / width >= 1.5:  # a vertical line: rapidocr reads it turned, as full OCR does
        crop = np.rot90(crop)
    return np.ascontiguousarray(crop[:, :, ::-1])


class ReducedOcr:
    """rapidocr's detector on a reduced copy, its classifier and recogniser on full-size lines.

    It has ONNX sessions of its own: shared with full OCR, the small inputs slowed the
    full-size ones that followed (1.7 -> 3 s an image, measured). ``threads``: ONNX Runtime's
    intra-op threads (None: one per core). Not thread-safe; each thread has its own.
    """

    def __init__(self, squeeze: float, min_confidence: float, threads: int | None = None
                 ) -> None:
        from rapidocr_onnxruntime import RapidOCR
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

        self.engine: Any = RapidOCR(**({"intra_op_num_threads": threads} if threads else {}))
        self.post = DBPostProcess(thresh=0.3, box_thresh=0.5, max_candidates=1000,
                                  unclip_ratio=1.6, use_dilation=True)
        self.squeeze = squeeze
        self.min_confidence = min_confidence

    def detect(self, image: Image.Image, min_side: int = CHECK_SIDE) -> Found:
        """Text boxes found on the reduced, squeezed copy, mapped to the original's pixels.

        Only the small copy is made (one resize of the decoded image, never a full-size
        converted one).
        """
        from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

        scale = check_scale(image.size, min_side)
        size = (max(1, round(image.width * scale * self.squeeze)),
                max(1, round(image.height * scale)))
        if image.mode in ("RGB", "L", "RGBA"):
            small = to_rgb(image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0))
        else:  # palette, 16-bit, float: convert first (rare)
            small = to_rgb(image).resize(size, Image.Resampling.BILINEAR)
        det = self.engine.text_det
        arr = self.engine.load_img(small)
        batch = DetPreProcess(max(arr.shape[:2]), "max", det.mean, det.std)(arr)
        none = Found(np.zeros((0, 4, 2), np.float32), scale)
        if batch is None:
            return none
        boxes, _scores = self.post(det.infer(batch)[0], arr.shape[:2])
        if len(boxes) == 0:
            return none
        boxes = det.filter_tag_det_res(np.asarray(boxes, np.float32), arr.shape[:2])
        if len(boxes) == 0:
            return none
        fx = image.width / small.width
        fy = image.height / small.height
        return Found((boxes * np.array([fx, fy], np.float32)).astype(np.float32), scale)

    def reads_a_line(self, image: Image.Image, boxes: np.ndarray) -> bool:
        """Whether any box reads as a confident line of two or more characters.

        Widest boxes first, one at a time: on an image with text the first is usually a line,
        and the check stops there.
        """
        widest = np.argsort(-np.ptp(boxes[:, :, 0], axis=1))
        rgb = np.asarray(to_rgb(image))
        for box in boxes[widest]:  # each cut only when the ones before it did not read
            (text, score), = self.engine.text_rec([line_crop(rgb, box, self.squeeze)])[0]
            if float(score) >= self.min_confidence and len(str(text).strip()) >= 2:
                return True
        return False

    def read(self, image: Image.Image, boxes: np.ndarray) -> list[tuple[np.ndarray, str, float]]:
        """Every box recognised (angle classifier, then the recogniser in batches):
        (box in original pixels, text, confidence) for the lines read with confidence."""
        rgb = np.asarray(to_rgb(image))
        crops, _cls, _ = self.engine.text_cls([line_crop(rgb, box, self.squeeze)
                                               for box in boxes])
        results, _ = self.engine.text_rec(crops)
        out = []
        for box, (text, score) in zip(boxes, results, strict=True):
            text = str(text).strip()
            if text and float(score) >= self.min_confidence:
                out.append((box, text, float(score)))
        return out
