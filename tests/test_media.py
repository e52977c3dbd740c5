"""Decoding with limits: what each kind of file turns into, and how bad input is refused."""

from __future__ import annotations

import io
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from retrieval.errors import MediaError
from retrieval.media.decode import audio_duration, detect_type, iter_audio, load_image, read_text
from tests import media as m


def _ffmpeg(src: Path, dst: Path) -> Path:
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(src), str(dst)], check=True,
                   timeout=60)
    return dst


@pytest.fixture(scope="module")
def tone_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2.5 s of 44.1 kHz stereo: exercises resampling and down-mixing."""
    path = tmp_path_factory.mktemp("audio") / "stereo.wav"
    t = np.arange(int(2.5 * 44100)) / 44100
    left, right = 0.3 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)
    sf.write(str(path), np.stack([left, right], 1).astype(np.float32), 44100)
    return path


# --- detect_type ----------------------------------------------------------------------------


def test_detect_type_by_content(tmp_path: Path, tone_wav: Path) -> None:
    img = m.pattern_image(1)
    for fmt in ("png", "jpeg", "gif", "webp", "bmp", "tiff"):
        img.save(tmp_path / f"a.{fmt}")
        assert detect_type(tmp_path / f"a.{fmt}") == "image", fmt
    assert detect_type(tone_wav) == "audio"
    for ext in ("flac", "mp3", "ogg", "m4a"):
        assert detect_type(_ffmpeg(tone_wav, tmp_path / f"a.{ext}")) == "audio", ext
    (tmp_path / "n.md").write_text("# Notes\n\nsome *markdown* text")
    (tmp_path / "p.html").write_text("<!DOCTYPE html><html><body>hi</body></html>")
    assert detect_type(tmp_path / "n.md") == "text"
    assert detect_type(tmp_path / "p.html") == "text"
    # content wins over a misleading name; unknown binary and empty files are nothing
    assert detect_type(m.text_named(tmp_path / "photo.png")) == "text"
    (tmp_path / "blob.bin").write_bytes(np.random.default_rng(0).bytes(4096))
    assert detect_type(tmp_path / "blob.bin") is None
    assert detect_type(m.empty_file(tmp_path / "e.jpg")) is None
    assert detect_type(tmp_path / "missing.png") is None


# --- images ---------------------------------------------------------------------------------


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    img = Image.new("RGB", (40, 20), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "r.jpg", exif=exif.tobytes())
    out = load_image(tmp_path / "r.jpg")
    assert out.mode == "RGB" and out.size == (20, 40)


def test_odd_modes_become_rgb(tmp_path: Path) -> None:
    clear = Image.new("RGBA", (8, 8), (0, 0, 255, 0))
    clear.save(tmp_path / "alpha.png")
    assert load_image(tmp_path / "alpha.png").getpixel((0, 0)) == (255, 255, 255)

    pal = Image.new("P", (8, 8), 1)
    pal.putpalette([0, 0, 0, 10, 200, 10] + [0] * 762)
    pal.info["transparency"] = 0
    pal.save(tmp_path / "pal.png")
    assert load_image(tmp_path / "pal.png").getpixel((0, 0)) == (10, 200, 10)

    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")
    r, g, b = load_image(tmp_path / "cmyk.jpg").getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60

    deep = Image.fromarray(np.full((8, 8), 65535, dtype=np.uint16))
    deep.save(tmp_path / "deep.png")
    assert load_image(tmp_path / "deep.png").getpixel((0, 0)) == (255, 255, 255)
    half = Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16))
    half.save(tmp_path / "half.png")
    assert load_image(tmp_path / "half.png").getpixel((0, 0)) == (128, 128, 128)


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    r, g, b = load_image(tmp_path / "anim.gif").getpixel((8, 8))
    assert r > 200 and g < 50 and b < 50


def test_bytes_and_path_agree(tmp_path: Path) -> None:
    m.pattern_image(3).save(tmp_path / "p.png")
    a = np.asarray(load_image(tmp_path / "p.png"))
    b = np.asarray(load_image((tmp_path / "p.png").read_bytes()))
    assert a.shape == (192, 256, 3) and np.array_equal(a, b)


def test_bomb_is_refused_from_the_header(tmp_path: Path) -> None:
    start = time.perf_counter()
    with pytest.raises(MediaError, match="too large|over the limit"):
        load_image(m.huge_png(tmp_path / "bomb.png"))
    assert time.perf_counter() - start < 1.0
    m.pattern_image(4, (100, 100)).save(tmp_path / "p.png")
    with pytest.raises(MediaError, match="10,000 pixels, over the limit of 5,000"):
        load_image(tmp_path / "p.png", max_pixels=5000)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: m.empty_file(d / "empty.png"), "empty"),
        (lambda d: m.text_named(d / "photo.png"), "not a readable image .it contains text"),
        (lambda d: m.truncated_jpeg(d / "cut.jpg"), "truncated"),
        (lambda d: m.huge_png(d / "huge.png"), "too large"),
    ],
    ids=["zero-byte", "text-named-png", "truncated-jpeg", "60000x60000-png"],
)
def test_bad_images_raise_media_error(tmp_path: Path, make, message: str) -> None:
    path = make(tmp_path)
    with pytest.raises(MediaError, match=message):
        load_image(path)
    with pytest.raises(MediaError):
        load_image(path.read_bytes())


# --- text -----------------------------------------------------------------------------------


def test_read_text_encodings(tmp_path: Path) -> None:
    (tmp_path / "u.txt").write_text("naïve café — ok", encoding="utf-8")
    assert read_text(tmp_path / "u.txt") == "naïve café — ok"
    (tmp_path / "w.txt").write_bytes("Le café était très bon, déjà vu.".encode("cp1252"))
    assert "café était très" in read_text(tmp_path / "w.txt")
    (tmp_path / "s.txt").write_text("wide text", encoding="utf-16")
    assert read_text(tmp_path / "s.txt") == "wide text"


def test_html_gives_visible_text(tmp_path: Path) -> None:
    page = ("<html><head><title>Tide tables</title><style>p{color:red}</style>"
            "<script>var secret = 1;</script></head><body><h1>High water</h1>"
            "<p>At 6&nbsp;am &amp; 6 pm.</p><noscript>enable js</noscript></body></html>")
    (tmp_path / "t.html").write_text(page)
    text = read_text(tmp_path / "t.html")
    assert "Tide tables" in text and "High water" in text and "At 6 am & 6 pm." in text
    assert "secret" not in text and "color" not in text and "enable js" not in text


def test_pdf_text_layer(tmp_path: Path) -> None:
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(tmp_path / "d.pdf"))
    c.drawString(72, 720, "Glacier retreat measured in 2019")
    c.showPage()
    c.drawString(72, 720, "Second page about moraines")
    c.save()
    text = read_text(tmp_path / "d.pdf")
    assert "Glacier retreat measured in 2019" in text and "moraines" in text


def test_bad_text_raises_media_error(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="empty"):
        read_text(m.empty_file(tmp_path / "e.txt"))
    (tmp_path / "big.txt").write_text("x" * 2000)
    with pytest.raises(MediaError, match="over the limit"):
        read_text(tmp_path / "big.txt", max_bytes=1000)
    (tmp_path / "blank.md").write_text(" \n\t\n")
    with pytest.raises(MediaError, match="no text"):
        read_text(tmp_path / "blank.md")
    (tmp_path / "bin.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    with pytest.raises(MediaError, match="binary"):
        read_text(tmp_path / "bin.txt")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4\n garbage")
    with pytest.raises(MediaError):
        read_text(tmp_path / "bad.pdf")


# --- audio ----------------------------------------------------------------------------------


def test_iter_audio_resamples_downmixes_and_streams(tone_wav: Path) -> None:
    blocks = list(iter_audio(tone_wav, block_seconds=1.0))
    assert [round(o, 3) for o, _ in blocks] == [0.0, 1.0, 2.0]
    assert all(b.dtype == np.float32 and b.ndim == 1 and len(b) <= 16000 for _, b in blocks)
    assert sum(len(b) for _, b in blocks) == pytest.approx(2.5 * 16000, abs=2)
    assert audio_duration(tone_wav) == pytest.approx(2.5, abs=1e-3)


def test_ffmpeg_formats_stream_too(tmp_path: Path, tone_wav: Path) -> None:
    m4a = _ffmpeg(tone_wav, tmp_path / "t.m4a")  # libsndfile cannot read AAC: ffmpeg path
    blocks = list(iter_audio(m4a, block_seconds=1.0))
    assert [round(o, 3) for o, _ in blocks][:3] == [0.0, 1.0, 2.0]
    assert sum(len(b) for _, b in blocks) == pytest.approx(2.5 * 16000, rel=0.03)
    assert audio_duration(m4a) == pytest.approx(2.5, rel=0.03)


def test_long_audio_is_streamed_not_loaded(tmp_path: Path) -> None:
    """Ten minutes through both decoders in 10 s blocks: peak memory stays a few blocks."""
    import tracemalloc

    sr, minutes = 8000, 10
    wav = tmp_path / "long.wav"
    with sf.SoundFile(str(wav), "w", sr, 1, "PCM_16") as f:
        minute = (0.2 * np.sin(2 * np.pi * 300 * np.arange(60 * sr) / sr)).astype(np.float32)
        for _ in range(minutes):
            f.write(minute)
    mka = tmp_path / "long.mka"  # PCM in Matroska: libsndfile cannot, ffmpeg can, cheaply
    subprocess.run(["ffmpeg", "-y", "-v", "error", "-i", str(wav), "-c:a", "pcm_s16le",
                    str(mka)], check=True, timeout=120)
    whole = minutes * 60 * 16000 * 4  # bytes, were the whole recording decoded at once
    for path in (wav, mka):
        tracemalloc.start()
        total = 0
        for _, block in iter_audio(path, block_seconds=10.0):
            total += len(block)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert total == pytest.approx(minutes * 60 * 16000, rel=1e-3)
        assert peak < whole / 5, f"{path.suffix}: peak {peak / 1e6:.1f} MB"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: m.empty_file(d / "empty.wav"), "empty"),
        (lambda d: m.corrupt_wav(d / "corrupt.wav"), "not a readable audio file"),
        (lambda d: m.short_wav(d / "short.wav", 0.1), "0.10 s of audio, too short"),
        (lambda d: m.text_named(d / "song.mp3"), "not a readable audio file"),
    ],
    ids=["zero-byte", "corrupt-wav", "0.1s", "text-named-mp3"],
)
def test_bad_audio_raises_media_error(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        list(iter_audio(make(tmp_path)))


def test_bad_audio_duration(tmp_path: Path) -> None:
    for path in (m.empty_file(tmp_path / "e.wav"), m.corrupt_wav(tmp_path / "c.wav")):
        with pytest.raises(MediaError):
            audio_duration(path)


def test_media_error_is_the_only_exception(tmp_path: Path) -> None:
    """Random bytes under every supported name: each call either works or raises MediaError."""
    rng = np.random.default_rng(5)
    for ext in (".png", ".jpg", ".gif", ".wav", ".mp3", ".flac", ".txt", ".html", ".pdf"):
        path = tmp_path / f"noise{ext}"
        path.write_bytes(rng.bytes(3000))
        for fn in (load_image, read_text, lambda p: list(iter_audio(p))):
            try:
                fn(path)
            except MediaError:
                pass
    buf = io.BytesIO()
    m.pattern_image(9).save(buf, "PNG")
    assert load_image(buf.getvalue()).size == (256, 192)
