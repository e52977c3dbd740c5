"""Indexing photos fast: OCR read from the pre-check's own detection, JPEGs decoded at scale.

Both shortcuts must leave what a user finds unchanged: the words on a sign in a photo, the
photo's recorded size, its nearest CLIP neighbour.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrieval.config import Settings
from retrieval.encoders import OcrReader
from retrieval.encoders.ocr_reduced import Found
from retrieval.media.decode import load_image, load_image_at_least
from tests.media import font_paths, pattern_image, text_image

SIGN = ["Platform 4 exit to harbour street", "Museum bakery and coffee"]


def words(text: str) -> set[str]:
    return {w for w in "".join(c if c.isalnum() else " " for c in text.lower()).split()}


def sign_photo(seed: int, size: tuple[int, int], at: tuple[int, int], px: int) -> Image.Image:
    fonts = [p for p in font_paths() if p.name == "DejaVuSans.ttf"]
    if not fonts:
        pytest.skip("DejaVuSans.ttf not installed (fonts-dejavu-core)")
    img = pattern_image(seed, size)
    img.paste(text_image(SIGN, None, font_path=fonts[0], size=px), at)
    return img


def detect(reader: OcrReader, image: Image.Image) -> Found:
    with reader._reduced_reader() as reduced:
        return reduced.detect(image)


def test_sign_in_photo_reads_the_same_in_one_pass(ocr_reader: OcrReader,
                                                  offline_settings: Settings) -> None:
    """The shipped reader (one detection on a reduced copy, lines cut from the full image)
    finds every word full OCR finds on a 24 px sign, with boxes where the sign is; the
    pre-check followed by full OCR gives full OCR's lines exactly."""
    photo = sign_photo(3, (1600, 1200), (300, 500), 24)
    assert ocr_reader.single_pass and ocr_reader.precheck_side is not None  # the defaults
    found = detect(ocr_reader, photo)  # read from the reduced detection: no small line
    assert found.scale < 1 and not found.too_small(list(found.boxes))
    fast = ocr_reader.read(photo)
    full = OcrReader(offline_settings.model_copy(update={"ocr_precheck": False}))
    two_pass = OcrReader(offline_settings.model_copy(update={"ocr_single_pass": False}))
    full_lines = full.read(photo)
    expected = words(" ".join(SIGN))
    assert words(" ".join(ln.text for ln in full_lines)) == expected
    assert words(" ".join(ln.text for ln in fast)) == expected
    assert [ln.text for ln in two_pass.read(photo)] == [ln.text for ln in full_lines]
    for line in fast:
        xs, ys = [x for x, _ in line.box], [y for _, y in line.box]
        assert 280 <= min(xs) and max(xs) <= 1100 and 480 <= min(ys) and max(ys) <= 700, line
    assert ocr_reader.read(pattern_image(3, (1600, 1200))) == []


def test_small_lines_get_full_ocr_and_tiny_text_is_the_stated_cost(
        ocr_reader: OcrReader, offline_settings: Settings) -> None:
    """Letters of 1% of the long side are too small to read from the reduced copy's boxes:
    such a photo gets full OCR's lines exactly. Letters of 0.5% are not found at all (the
    cost docs/performance.md states), where full OCR still reads them."""
    full = OcrReader(offline_settings.model_copy(update={"ocr_precheck": False}))
    small = sign_photo(5, (1600, 1200), (200, 300), 16)
    found = detect(ocr_reader, small)
    assert found.scale < 1 and found.too_small(list(found.boxes))
    assert [ln.text for ln in ocr_reader.read(small)] == [ln.text for ln in full.read(small)]
    tiny = sign_photo(5, (2400, 1800), (200, 300), 12)
    read = " ".join(ln.text for ln in full.read(tiny)).lower()
    assert sum(w in read for w in words(" ".join(SIGN))) >= 7  # letters right, spaces not
    assert ocr_reader.read(tiny) == []


def jpeg(img: Image.Image, path: Path, orientation: int | None = None) -> Path:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(path, "JPEG", quality=90, exif=exif.tobytes())
    return path


def test_draft_decode_keeps_size_and_clip_neighbour(tmp_path: Path, tiny_clip) -> None:
    """A 2400x1800 JPEG decoded at 1/4 scale for CLIP: the full size is still reported
    (EXIF rotation included) and every photo's nearest neighbour among the fully decoded
    photos is itself."""
    paths = [jpeg(pattern_image(seed, (2400, 1800)), tmp_path / f"p{seed}.jpg")
             for seed in range(5)]
    turned = jpeg(pattern_image(9, (2400, 1800)), tmp_path / "turned.jpg", orientation=6)
    small, size = load_image_at_least(turned, 448)
    assert size == (1800, 2400) and small.size == (450, 600)
    assert load_image(turned).size == (1800, 2400)
    twelve = jpeg(pattern_image(8, (4000, 3000)), tmp_path / "12mp.jpg")
    assert load_image_at_least(twelve, 2000)[0].size == (2000, 1500)  # what OCR reads at most
    mpo = tmp_path / "phone.mpo"  # what many phones write: a JPEG with a second picture
    pattern_image(1, (2400, 1800)).save(mpo, "MPO", save_all=True,
                                        append_images=[pattern_image(2, (2400, 1800))])
    small, size = load_image_at_least(mpo, 448)
    assert size == (2400, 1800) and small.size == (600, 450)

    def thumb(img: Image.Image) -> Image.Image:
        img.thumbnail((448, 448))
        return img

    full = tiny_clip.encode_images([thumb(load_image(p)) for p in paths])
    drafted = []
    for p in paths:
        img, size = load_image_at_least(p, 448)
        assert size == (2400, 1800) and max(img.size) == 600  # 1/4 scale: 600 >= 448
        drafted.append(thumb(img))
    sims = tiny_clip.encode_images(drafted) @ full.T
    assert list(np.argmax(sims, axis=1)) == list(range(len(paths)))
    assert float(np.min(np.diag(sims))) > 0.98


def test_indexing_a_large_photo_keeps_its_size_and_sign(tmp_path: Path,
                                                        offline_settings: Settings,
                                                        text_encoder, tiny_clip,
                                                        ocr_reader: OcrReader) -> None:
    """``xmodal index`` of a 12 MP photo with a sign and one without: full size recorded,
    the sign's words in the photo's OCR text, no OCR text for the other, CLIP vectors for
    both."""
    from retrieval.encoders import Encoders
    from retrieval.ingest.run import index_roots

    folder = tmp_path / "photos"
    folder.mkdir()
    jpeg(sign_photo(11, (4000, 3000), (600, 900), 60), folder / "sign.jpg")
    jpeg(pattern_image(12, (4000, 3000)), folder / "plain.jpg")
    settings = offline_settings.model_copy(update={"data_dir": tmp_path / "data"})
    encoders = Encoders(settings, text=text_encoder, clip=tiny_clip, ocr=ocr_reader)
    report = index_roots(settings, [folder], encoders=encoders)
    assert report.added == 2 and report.failed == 0, report
    con = sqlite3.connect(tmp_path / "data" / "catalog.sqlite")
    try:
        rows = con.execute(
            "SELECT f.path, i.width, i.height, "
            "(SELECT group_concat(p.text, ' ') FROM parts p WHERE p.item_id = i.id "
            " AND p.kind = 'ocr') FROM files f JOIN items i ON i.id = f.item_id").fetchall()
        vectors = con.execute("SELECT count(*) FROM vectors").fetchone()[0]
    finally:
        con.close()
    got = {Path(path).name: (w, h, text) for path, w, h, text in rows}
    assert got["sign.jpg"][:2] == (4000, 3000) and got["plain.jpg"] == (4000, 3000, None)
    assert words(got["sign.jpg"][2] or "") >= words(" ".join(SIGN))
    assert vectors >= 2


def test_photos_read_side_by_side_match_one_at_a_time(ocr_reader: OcrReader) -> None:
    """The indexer's decode threads call one OcrReader at once: each photo gets the lines it
    gets alone, and the readers made for the threads are kept for the next calls."""
    from concurrent.futures import ThreadPoolExecutor

    photos = [sign_photo(20 + i, (1600, 1200), (100 + 150 * i, 400), 30) for i in range(3)]
    photos.append(pattern_image(30, (1600, 1200)))
    alone = [[ln.text for ln in ocr_reader.read(p)] for p in photos]
    with ThreadPoolExecutor(max_workers=2) as pool:
        together = list(pool.map(lambda p: [ln.text for ln in ocr_reader.read(p)], photos))
    assert together == alone and alone[-1] == [] and all(alone[:-1])
    assert 1 <= len(ocr_reader._idle) <= 2


def test_torch_gets_the_cores_ocr_leaves_while_batches_hold_images(
        offline_settings: Settings) -> None:
    """Fewer torch threads for a batch of photos (their neighbours are OCR'd meanwhile), the
    usual count for documents, and the usual count back at the end."""
    import os

    import torch

    from retrieval.ingest.cores import CoreShare
    from retrieval.ingest.extract import Extracted

    usual = torch.get_num_threads()
    share = CoreShare(offline_settings, workers=2)
    photo = Extracted("a.jpg", 1, 1, "h1", "image")
    note = Extracted("b.md", 1, 1, "h2", "text")
    try:
        share.fit([note, photo])
        assert torch.get_num_threads() == max(1, (os.cpu_count() or 1) - 2)
        share.fit([note])
        assert torch.get_num_threads() == usual
        share.fit([photo])
    finally:
        share.restore()
    assert torch.get_num_threads() == usual
    off = CoreShare(offline_settings.model_copy(update={"ocr_enabled": False}), workers=2)
    off.fit([photo])
    assert torch.get_num_threads() == usual


def test_an_unexpected_rapidocr_falls_back_to_full_ocr(offline_settings: Settings,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """Should rapidocr's internals change under the reduced path (here: its classifier
    gone), a photo still gets full OCR's lines, with one warning, and later photos go
    straight to full OCR."""
    reader = OcrReader(offline_settings)
    photo = sign_photo(3, (1600, 1200), (300, 500), 24)
    with reader._reduced_reader() as reduced:
        reduced.engine.text_cls = None
    with caplog.at_level("WARNING", logger="retrieval.encoders.ocr"):
        lines = reader.read(photo)
    assert words(" ".join(ln.text for ln in lines)) == words(" ".join(SIGN))
    assert reader.precheck_side is None
    assert sum("text-presence check unavailable" in r.message for r in caplog.records) == 1
