"""A generated mixed-media corpus and an index built from it, once per test session.

The corpus is small on purpose (two CPU cores shared by the whole suite) but covers every
path the indexer has: 30 images in six formats (six carry rendered codes for OCR), six spoken
clips (espeak-ng, 2-4 s, three audio formats), ten text documents (txt/md/html), a PDF with
a real text layer, and five broken files. Tests that change files work on their own copies.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.media import (
    corrupt_wav,
    empty_file,
    huge_png,
    pattern_image,
    speak,
    text_image,
    truncated_jpeg,
)

IMAGE_FORMATS = ("png", "jpg", "webp", "gif", "bmp", "tiff")
OCR_TEXTS = {  # file stem -> words rendered in the picture
    "sign_harbor": ["BLUE HARBOR"],
    "invoice": ["INVOICE ZX-4471"],
    "poster": ["JAZZ NIGHT"],
    "label": ["CODE QK-2093"],
    "note": ["MEET AT NOON"],
    "ticket": ["GATE B12"],
}
SPOKEN = {  # file name -> sentence (each 2-4 s at 170 wpm)
    "weather.wav": "the weather forecast says heavy rain tomorrow",
    "recipe.wav": "add two cups of flour to the bowl",
    "train.wav": "the train to boston leaves at nine",
    "garden.flac": "please water the tomato plants",
    "meeting.mp3": "the budget meeting moved to friday",
    "guitar.ogg": "she plays the electric guitar loudly",
}
DOCS = {
    "volcano.txt": "Volcanoes erupt when magma rises through the crust. Lava flows cool into "
                   "basalt, and ash clouds can ground aircraft for days.",
    "sourdough.md": "# Sourdough\n\nFeed the starter with flour and water, wait until it "
                    "doubles, then mix the dough and let it proof overnight.",
    "chess.txt": "The Sicilian Defence is a chess opening that begins 1.e4 c5; black fights "
                 "for the centre from the flank.",
    "whales.html": "<html><body><h1>Whales</h1><p>Humpback whales sing long songs during the "
                   "breeding season in warm tropical waters.</p></body></html>",
    "bicycle.md": "## Fixing a flat\n\nRemove the wheel, lever the tyre off, patch the inner "
                  "tube and pump it back to pressure.",
    "taxes.txt": "The quarterly tax return is due on the fifteenth. Keep receipts for every "
                 "deductible business expense.",
    "orchids.html": "<html><head><title>Orchids</title><style>p{}</style></head><body><p>"
                    "Orchids like bright indirect light and should dry out between "
                    "waterings.</p><script>var x=1;</script></body></html>",
    "mars.txt": "The rover collected rock samples from the dry river delta of Jezero crater "
                "on Mars.",
    "knitting.md": "Cast on forty stitches with wool yarn and knit every row for a garter "
                   "stitch scarf.",
    "python.txt": "A Python list comprehension builds a new list from an iterable in a "
                  "single readable expression.",
}
PDF_TEXT = ["Annual report of the lighthouse keepers guild.",
            "Membership grew to eighty keepers; the foghorn fund is secure."]
BROKEN = ("truncated.jpg", "bomb.png", "corrupt.wav", "empty.jpg", "random.bin")


@dataclass
class Corpus:
    """Where the generated corpus lives and what it holds, for exact assertions."""

    root: Path
    images: list[Path] = field(default_factory=list)
    ocr_images: dict[str, list[str]] = field(default_factory=dict)
    audio: dict[Path, str] = field(default_factory=dict)
    texts: list[Path] = field(default_factory=list)
    pdf: Path | None = None
    broken: list[Path] = field(default_factory=list)

    @property
    def good(self) -> int:
        return len(self.images) + len(self.audio) + len(self.texts) + 1

    @property
    def total(self) -> int:
        return self.good + len(self.broken)


def write_pdf(path: Path, lines: list[str]) -> Path:
    """A one-page PDF with a real text layer (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    y = 780
    for line in lines:
        c.drawString(72, y, line)
        y -= 20
    c.showPage()
    c.save()
    return path


def _convert(wav: Path, dest: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), str(dest)], check=True,
                   timeout=60)
    wav.unlink()
    return dest


def build_corpus(root: Path) -> Corpus:
    """Write the corpus into ``root`` (deterministic content)."""
    corpus = Corpus(root=root)
    img_dir = root / "images"
    img_dir.mkdir(parents=True)
    for i in range(24):
        fmt = IMAGE_FORMATS[i % len(IMAGE_FORMATS)]
        path = img_dir / f"pattern_{i:02d}.{fmt}"
        pattern_image(i, (160 + 8 * i, 120)).save(path)
        corpus.images.append(path)
    for stem, lines in OCR_TEXTS.items():
        path = img_dir / "text" / f"{stem}.png"
        text_image(lines, path, size=40)
        corpus.images.append(path)
        corpus.ocr_images[stem] = lines
    audio_dir = root / "audio"
    for name, sentence in SPOKEN.items():
        wav = speak(sentence, audio_dir / (Path(name).stem + ".wav"), wpm=170)
        path = wav if name.endswith(".wav") else _convert(wav, audio_dir / name)
        corpus.audio[path] = sentence
    doc_dir = root / "docs"
    doc_dir.mkdir()
    for name, text in DOCS.items():
        path = doc_dir / name
        path.write_text(text + "\n", encoding="utf-8")
        corpus.texts.append(path)
    corpus.pdf = write_pdf(doc_dir / "guild_report.pdf", PDF_TEXT)
    bad = root / "broken"
    bad.mkdir()
    truncated_jpeg(bad / "truncated.jpg")
    huge_png(bad / "bomb.png")
    corrupt_wav(bad / "corrupt.wav")
    empty_file(bad / "empty.jpg")
    (bad / "random.bin").write_bytes(np.random.default_rng(1).bytes(3000))
    corpus.broken = [bad / n for n in BROKEN]
    (root / ".hidden_notes.txt").write_text("hidden files are not indexed\n")
    return corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The generated corpus (read-only: copy it before changing anything)."""
    if shutil.which("espeak-ng") is None or shutil.which("ffmpeg") is None:
        pytest.skip("espeak-ng and ffmpeg are needed to generate the corpus")
    return build_corpus(tmp_path_factory.mktemp("corpus"))


@dataclass
class IndexedCorpus:
    """A data directory holding the whole corpus, plus what the first run reported."""

    corpus: Corpus
    settings: object
    report: object
    decoded: int
    encoded: int
    seconds: float


@pytest.fixture(scope="session")
def indexed_corpus(corpus: Corpus, encoders: object, offline_settings: object,
                   tmp_path_factory: pytest.TempPathFactory) -> IndexedCorpus:
    """The corpus indexed once (in-process, real MiniLM/Whisper/OCR, tiny CLIP)."""
    from indexer.pipeline import run_index

    data = tmp_path_factory.mktemp("indexed") / "data"
    settings = offline_settings.model_copy(update={"data_dir": data})  # type: ignore[attr-defined]
    result = run_index(settings, [corpus.root], encoders=encoders, progress=False)
    return IndexedCorpus(corpus, settings, result, result.decoded, result.encoded,
                         result.seconds)
