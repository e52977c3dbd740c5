"""Factories for hostile inputs: files built to break an indexer that trusts what it reads.

Each factory makes one small file (or link, pipe, device) on the spot, so the suites that use
them need no downloaded corpus and say exactly what they feed the indexer. Every file is small
on disk even when it claims to be huge: bombs are compressed, the hour of silence is FLAC,
the two-gigabyte text file is sparse. ``build_hostile_folder`` lays them all out in one folder
with the outcome each one is allowed to have, which is what ``test_hostile_files`` checks and
what ``docs/reliability.md`` reports.
"""

from __future__ import annotations

import io
import os
import stat
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from tests.media import corrupt_wav, empty_file, huge_png, pattern_image, truncated_jpeg

# What the indexer may do with a hostile file:
#   "fail"   - a failures row with a reason (it must not be indexed),
#   "skip"   - never reaches the catalog at all (links leaving the roots, pipes, devices),
#   "index"  - valid content under a hostile name or shape: it must be indexed,
#   "either" - indexed or failed with a reason (e.g. a truncated JPEG Pillow can half-read).
Outcome = Literal["fail", "skip", "index", "either"]

SECRET_WORD = "zqxsecretmarker"  # lives only outside the indexed roots; must never be searchable


@dataclass(frozen=True)
class Hostile:
    """One hostile input laid out for the indexer, and what it is allowed to make of it."""

    label: str
    path: Path
    expect: Outcome
    note: str = ""
    # For "index" entries: a word the file's text contains, to find it by keyword afterwards.
    word: str | None = None


# --- decompression bombs -----------------------------------------------------------------


def png_zlib_bomb(path: Path, width: int = 24000, height: int = 24000) -> Path:
    """A *valid* grayscale PNG of ``width`` x ``height`` zeros, about 0.6 MB on disk.

    Unlike ``tests.media.huge_png`` (whose header lies), every row is really there: a decoder
    that ignores the pixel count inflates 576 megapixels before it notices anything. The
    deflate stream is written row block by row block so building it stays cheap too.
    """
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    comp = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte + pixels
    block = row * 256
    chunks: list[bytes] = []
    done = 0
    while done < height:
        n = min(256, height - done)
        chunks.append(comp.compress(block if n == 256 else row * n))
        done += n
    chunks.append(comp.flush())
    idat = b"".join(chunks)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
    Path(path).write_bytes(data + _png_chunk(b"IEND", b""))
    return Path(path)


def jpeg_header_bomb(path: Path, width: int = 65000, height: int = 65000) -> Path:
    """A small real JPEG whose frame header (SOF0) is patched to claim 65000 x 65000 pixels."""
    buf = io.BytesIO()
    pattern_image(11, (64, 48)).save(buf, "JPEG", quality=80)
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    if sof < 0:
        raise RuntimeError("Pillow wrote no baseline SOF0 marker")
    struct.pack_into(">HH", data, sof + 5, height, width)
    Path(path).write_bytes(bytes(data))
    return Path(path)


def gif_screen_bomb(path: Path) -> Path:
    """A GIF whose logical screen is 65535 x 65535 around a single 1 x 1 frame."""
    header = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0x80, 0, 0)
    palette = b"\x00\x00\x00\xff\xff\xff"
    image = b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    Path(path).write_bytes(header + palette + image + b"\x3b")
    return Path(path)


def pdf_flate_bomb(path: Path, inflated_mb: int = 1024) -> Path:
    """A one-page PDF whose content stream inflates to ``inflated_mb`` MB of spaces (~1 MB)."""
    comp = zlib.compressobj(9)
    block = b" " * (1 << 20)
    body = b"".join(comp.compress(block) for _ in range(inflated_mb)) + comp.flush()
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(body) + body + b"\nendstream",
    ]
    Path(path).write_bytes(_pdf(objs))
    return Path(path)


def billion_laughs_html(path: Path) -> Path:
    """An HTML file with a nested XML entity expansion (harmless unless a parser expands it)."""
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    doc = (
        '<?xml version="1.0"?>\n<!DOCTYPE html [\n' + "\n".join(ents) + "\n]>\n"
        "<html><body><p>&lol9;</p></body></html>\n"
    )
    Path(path).write_text(doc, encoding="utf-8")
    return Path(path)


def deep_html(path: Path, depth: int = 100_000) -> Path:
    """HTML nested ``depth`` elements deep: breaks recursive tree builders."""
    Path(path).write_text("<html><body>" + "<div>" * depth + "deep" + "</div>" * depth)
    return Path(path)


# --- truncated and garbage media ---------------------------------------------------------


def garbage(path: Path, size: int = 64 * 1024, seed: int = 0) -> Path:
    """Random bytes under whatever name ``path`` has (``.jpg``, ``.wav``, ``.pdf`` ...)."""
    rng = np.random.default_rng(seed)
    Path(path).write_bytes(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    return Path(path)


def magic_then_garbage(path: Path, magic: bytes, size: int = 16 * 1024) -> Path:
    """The right magic number for a format, then noise: passes a sniff test, fails to decode."""
    rng = np.random.default_rng(len(magic))
    Path(path).write_bytes(magic + rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    return Path(path)


def truncated(path: Path, data: bytes, keep: float = 0.5) -> Path:
    """The first ``keep`` fraction of ``data``."""
    Path(path).write_bytes(data[: max(1, int(len(data) * keep))])
    return Path(path)


def png_bytes(seed: int = 5) -> bytes:
    buf = io.BytesIO()
    pattern_image(seed, (320, 240)).save(buf, "PNG")
    return buf.getvalue()


def flac_bytes(seconds: float = 3.0, sr: int = 16000) -> bytes:
    import soundfile as sf

    t = np.arange(int(seconds * sr)) / sr
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * 330 * t)).astype(np.float32), sr, format="FLAC")
    return buf.getvalue()


def pdf_bytes(text: str = "a perfectly ordinary pdf page") -> bytes:
    content = b"BT /F1 24 Tf 72 700 Td (%s) Tj ET" % text.encode("latin-1")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return _pdf(objs)


def lying_wav(path: Path, claimed_seconds: float = 86_400.0, sr: int = 16000) -> Path:
    """A WAV header that declares a day of 16-bit audio over one second of real samples."""
    n = int(claimed_seconds * sr) * 2
    n = min(n, 0xFFFFFFFF - 36)
    header = b"RIFF" + struct.pack("<I", 36 + n) + b"WAVE"
    header += b"fmt " + struct.pack("<IHHIIHH", 16, 1, 1, sr, sr * 2, 2, 16)
    header += b"data" + struct.pack("<I", n)
    samples = (np.sin(np.arange(sr) / 5) * 3000).astype("<i2").tobytes()
    Path(path).write_bytes(header + samples)
    return Path(path)


# --- long, silent, sparse ----------------------------------------------------------------


def silent_hour(path: Path, seconds: float = 3600.0, sr: int = 16000) -> Path:
    """An hour of digital silence as FLAC, written block by block (a few hundred KB on disk).

    Silence is the worst case for speech models: nothing to transcribe, yet a naive
    pipeline still runs the decoder over 120 thirty-second windows, and Whisper is known to
    hallucinate words into silence.
    """
    import soundfile as sf

    block = np.zeros(sr * 60, dtype=np.float32)
    left = int(seconds * sr)
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=1, format="FLAC") as out:
        while left > 0:
            n = min(left, len(block))
            out.write(block[:n])
            left -= n
    return Path(path)


def single_line_text(
    path: Path, size_bytes: int = 10 * 2**20, word: str = "longlinemarker"
) -> Path:
    """``size_bytes`` of words with no newline at all, written in pieces of at most 1 MB."""
    piece = (" ".join(f"w{i % 997}" for i in range(200_000)) + " ").encode()[: 1 << 20]
    with open(path, "wb") as out:
        out.write(word.encode() + b" ")
        left = size_bytes
        while left > 0:
            out.write(piece[: min(left, len(piece))])
            left -= len(piece)
    return Path(path)


def sparse_file(path: Path, size: int = 2 << 30, head: bytes = b"sparse text ") -> Path:
    """A file that claims ``size`` bytes but occupies almost no disk (a hole after ``head``)."""
    with open(path, "wb") as out:
        out.write(head)
        out.truncate(size)
    return Path(path)


def binary_as_text(path: Path) -> Path:
    """Binary data (an ELF-like header, NULs, noise) under a ``.txt`` name."""
    rng = np.random.default_rng(9)
    data = b"\x7fELF\x02\x01\x01" + b"\x00" * 64 + rng.integers(0, 256, 8192, np.uint8).tobytes()
    Path(path).write_bytes(data)
    return Path(path)


def latin1_text(path: Path, word: str = "latinmarker") -> Path:
    """Valid text that is not UTF-8: Latin-1 bytes such as 0xE9 for 'é'."""
    Path(path).write_bytes(f"{word} caf\xe9 cr\xe8me br\xfbl\xe9e na\xefve\n".encode("latin-1"))
    return Path(path)


# --- names -------------------------------------------------------------------------------


def write_bytes_name(folder: Path, name: bytes, content: bytes) -> Path:
    """Create a file whose name is raw bytes (possibly not UTF-8); return it as a ``Path``."""
    full = os.path.join(os.fsencode(folder), name)
    with open(full, "wb") as out:
        out.write(content)
    return Path(os.fsdecode(full))


def long_name(folder: Path, suffix: str = ".txt", total_bytes: int = 255) -> str:
    """A file name of exactly ``total_bytes`` bytes (the usual NAME_MAX), multi-byte included."""
    stem = "é" * 40  # 80 bytes of two-byte characters
    stem += "n" * (total_bytes - len(stem.encode()) - len(suffix.encode()))
    name = stem + suffix
    assert len(name.encode()) == total_bytes
    return name


# --- links, pipes, devices ---------------------------------------------------------------


def make_fifo(path: Path) -> Path | None:
    """A named pipe (reading it blocks forever), or None where the platform has none."""
    try:
        os.mkfifo(path)
    except (AttributeError, OSError):
        return None
    return Path(path)


def make_zero_device(path: Path) -> Path | None:
    """A character device like /dev/zero (reading never ends); needs root, else None."""
    try:
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 5))
    except (AttributeError, OSError):
        return None
    return Path(path)


# --- the whole folder --------------------------------------------------------------------


def build_hostile_folder(root: Path, outside: Path, line_bytes: int = 10 * 2**20) -> list[Hostile]:
    """Lay out every hostile input under ``root``; ``outside`` is a folder that is not indexed.

    ``line_bytes`` sizes the single-line text file. Its cost is the embedding of up to 1000
    chunks, whatever the size beyond ~200 KB, so quick suites pass a small size and test the
    full 10 MB on its own.

    ``outside`` receives the targets that symlinks in ``root`` point to, carrying
    ``SECRET_WORD`` so a test can prove their content never became searchable.
    """
    root.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text(f"{SECRET_WORD} the contents of a file nobody asked to index\n")
    (outside / "private").mkdir(exist_ok=True)
    (outside / "private" / "notes.txt").write_text(f"{SECRET_WORD} private notes\n")

    items: list[Hostile] = []

    def add(
        label: str, path: Path | None, expect: Outcome, note: str = "", word: str | None = None
    ) -> None:
        if path is not None:
            items.append(Hostile(label, Path(path), expect, note, word))

    # bombs
    add("png header bomb", huge_png(root / "bomb_header.png"), "fail", "IHDR claims 60000x60000")
    add("png zlib bomb", png_zlib_bomb(root / "bomb_zlib.png"), "fail", "576 Mpx of real zeros")
    # 156 Mpx: over max_image_pixels (100 M) but under twice Pillow's own limit, where Pillow
    # only warns; a loader that relies on Pillow's DecompressionBombError decodes this one.
    add(
        "png bomb, 1.5x limit",
        png_zlib_bomb(root / "bomb_156mpx.png", 12500, 12500),
        "fail",
        "156 Mpx: Pillow only warns",
    )
    add("jpeg header bomb", jpeg_header_bomb(root / "bomb.jpg"), "fail", "SOF0 claims 65000x65000")
    add("gif screen bomb", gif_screen_bomb(root / "bomb.gif"), "fail", "65535x65535 screen")
    add("pdf flate bomb", pdf_flate_bomb(root / "bomb.pdf"), "either", "1 GB content stream")
    add("billion laughs html", billion_laughs_html(root / "laughs.html"), "either", "entities")
    add("deeply nested html", deep_html(root / "deep.html"), "either", "100k nested divs")
    # truncated and garbage
    add("truncated jpeg", truncated_jpeg(root / "cut.jpg"), "either", "half the scan data")
    add("truncated png", truncated(root / "cut.png", png_bytes()), "either", "half the IDAT")
    add("truncated flac", truncated(root / "cut.flac", flac_bytes()), "either", "half the frames")
    add("truncated pdf", truncated(root / "cut.pdf", pdf_bytes(), 0.6), "either", "no xref")
    add("garbage .jpg", garbage(root / "noise.jpg", seed=1), "fail", "random bytes")
    add("garbage .wav", garbage(root / "noise.wav", seed=2), "fail", "random bytes")
    add("garbage .mp3", garbage(root / "noise.mp3", seed=3), "fail", "random bytes")
    add("garbage .pdf", garbage(root / "noise.pdf", seed=4), "fail", "random bytes")
    add("png magic + noise", magic_then_garbage(root / "magic.png", b"\x89PNG\r\n\x1a\n"), "fail")
    add("pdf magic + noise", magic_then_garbage(root / "magic.pdf", b"%PDF-1.7\n"), "fail")
    add("wav bad format", corrupt_wav(root / "badfmt.wav"), "fail", "format tag 0x7777")
    add("wav lying header", lying_wav(root / "lying.wav"), "either", "claims 24 h, holds 1 s")
    add("empty .png", empty_file(root / "empty.png"), "fail", "zero bytes")
    add("empty .txt", empty_file(root / "empty.txt"), "either", "zero bytes")
    # long, silent, large
    add("one hour of silence", silent_hour(root / "silent_hour.flac"), "either", "FLAC, 3600 s")
    add(
        f"{line_bytes / 2**20:g} MB single line"
        if line_bytes >= 2**20
        else f"{line_bytes // 1024} KB single line",
        single_line_text(root / "oneline.txt", line_bytes),
        "index",
        "no newline",
        word="longlinemarker",
    )
    add("2 GB sparse .txt", sparse_file(root / "huge_sparse.txt"), "fail", "a 2 GB hole")
    add(
        "2 GB sparse .png",
        sparse_file(root / "huge_sparse.png", head=png_bytes(6)),
        "either",
        "a real PNG, then a 2 GB hole",
    )
    add("binary named .txt", binary_as_text(root / "program.txt"), "fail", "ELF header, NULs")
    add("latin-1 text", latin1_text(root / "latin1.txt"), "index", "not UTF-8", word="latinmarker")
    # names
    add(
        "non-UTF-8 name",
        write_bytes_name(
            root, b"caf\xe9-na\xefve.txt", b"nonutfnamemarker words under a latin-1 file name\n"
        ),
        "either",
        "name bytes 0xE9 0xEF",
        word="nonutfnamemarker",
    )
    long = root / long_name(root)
    long.write_text("longnamemarker a file with a 255-byte name\n")
    add("255-byte name", long, "index", "NAME_MAX, multi-byte", word="longnamemarker")
    newline = root / "two\nlines.txt"
    newline.write_text("newlinenamemarker a newline in the file name\n")
    add("newline in name", newline, "index", word="newlinenamemarker")
    dash = root / "--help.txt"
    dash.write_text("dashnamemarker a name that looks like an option\n")
    add("leading-dash name", dash, "index", word="dashnamemarker")
    # links, pipes, devices
    (root / "link_secret.txt").symlink_to(secret)
    add("symlink to file outside", root / "link_secret.txt", "skip", "-> outside/secret.txt")
    (root / "link_private").symlink_to(outside / "private", target_is_directory=True)
    add("symlink to dir outside", root / "link_private", "skip", "-> outside/private/")
    (root / "link_etc_passwd.txt").symlink_to("/etc/passwd")
    add("symlink to /etc/passwd", root / "link_etc_passwd.txt", "skip", "absolute target")
    (root / "link_loop").symlink_to(root, target_is_directory=True)
    add("symlink loop", root / "link_loop", "skip", "-> its own parent")
    (root / "link_dangling.txt").symlink_to(root / "does-not-exist.txt")
    add("dangling symlink", root / "link_dangling.txt", "skip")
    add("named pipe .txt", make_fifo(root / "pipe.txt"), "skip", "open() blocks forever")
    add("char device .txt", make_zero_device(root / "zero.txt"), "skip", "like /dev/zero")
    # a control: an ordinary file that must be indexed, so "everything failed" cannot pass
    ok = root / "ordinary.txt"
    ok.write_text("controlmarker an ordinary note about a harbour at sunset\n")
    add("ordinary control", ok, "index", word="controlmarker")
    return items


# --- files that vanish or change while being read ----------------------------------------


@dataclass
class Churn:
    """A background thread that keeps rewriting, truncating, deleting and recreating files.

    Started around an indexing run, it makes files vanish between the scan and the read and
    change size while they are being read, at random moments, so a run sees every kind of
    race without hooks into the indexer. The thread stops (and leaves every file in a final,
    valid state) when the context exits.
    """

    folder: Path
    # When set, some cycles swap a file for a symlink to this path (outside the roots): a
    # scanner that checked the link rule at listing time must not follow it at read time.
    outside_target: Path | None = None
    count: int = 12
    period_s: float = 0.005
    seed: int = 0
    paths: list[Path] = field(default_factory=list)
    cycles: int = 0
    swaps: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _content(self, i: int, rng: np.random.Generator) -> bytes:
        n = int(rng.integers(1, 400))
        words = " ".join(f"churn{i} word{int(w)}" for w in rng.integers(0, 999, n))
        return (words + "\n").encode()

    def _run(self) -> None:
        rng = np.random.default_rng(self.seed)
        png = png_bytes(3)
        while not self._stop.is_set():
            i = int(rng.integers(0, self.count))
            p = self.paths[i]
            action = int(rng.integers(0, 6 if self.outside_target else 5))
            try:
                if action == 0:
                    p.unlink(missing_ok=True)
                elif action == 1:
                    if p.is_symlink():  # never write through a swapped-in link
                        p.unlink()
                    p.write_bytes(png if p.suffix == ".png" else self._content(i, rng))
                elif action == 2 and p.exists() and not p.is_symlink():
                    with open(p, "r+b") as f:
                        f.truncate(int(rng.integers(0, max(1, p.stat().st_size))))
                elif action == 3:
                    tmp = p.with_name("." + p.name + ".tmp")  # hidden: the scanner skips it
                    tmp.write_bytes(png[: len(png) // 2] if p.suffix == ".png" else b"x")
                    os.replace(tmp, p)
                elif action == 4 and not p.is_symlink():
                    with open(p, "ab") as f:
                        f.write(self._content(i, rng))
                elif self.outside_target is not None:
                    link = p.with_name("." + p.name + ".lnk")
                    link.unlink(missing_ok=True)
                    link.symlink_to(self.outside_target)
                    os.replace(link, p)
                    self.swaps += 1
            except OSError:
                pass
            self.cycles += 1
            time.sleep(self.period_s)

    @contextmanager
    def running(self) -> Iterator[Churn]:
        """Create the files, churn them while the block runs, then leave them all valid."""
        self.folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(self.seed + 1)
        self.paths = [
            self.folder / (f"churn_{i:02d}.png" if i % 4 == 3 else f"churn_{i:02d}.txt")
            for i in range(self.count)
        ]
        for i, p in enumerate(self.paths):
            p.write_bytes(png_bytes(i) if p.suffix == ".png" else self._content(i, rng))
        thread = threading.Thread(target=self._run, name="churn", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join(timeout=10)
            for i, p in enumerate(self.paths):
                p.unlink(missing_ok=True)  # a symlink left by a swap: replace, don't write through
                p.write_bytes(png_bytes(i) if p.suffix == ".png" else self._content(i, rng))


# Runs argv as its own child and writes that child's peak RSS (KiB) to the file in argv[1].
# Linux hands a parent's memory high-water mark to a child it spawns (across fork and exec), so
# a command started straight from pytest, which holds several models, reports pytest's peak,
# not its own. Spawned from this small interpreter instead, it reports what it used itself.
_SPAWNER = """
import json, os, signal, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[2], sys.argv[2:])
_, status, usage = os.wait4(pid, 0)
with open(sys.argv[1], "w") as f:
    json.dump(usage.ru_maxrss, f)
code = os.waitstatus_to_exitcode(status)
if code < 0:
    signal.signal(-code, signal.SIG_DFL)
    os.kill(os.getpid(), -code)
sys.exit(code)
"""


def run_with_peak_rss(
    argv: list[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 600,
) -> tuple[int, str, str, int]:
    """Run ``argv``; return (returncode, stdout, stderr, peak RSS in bytes of that command).

    The peak is ``ru_maxrss`` from ``wait4`` on the command alone (threads and native libraries
    included: the number that decides whether a machine runs out of memory), taken by a small
    spawner so that the suite's own memory does not leak into it (see ``_SPAWNER``).
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        peak_file = Path(tmp) / "peak.json"
        proc = subprocess.Popen([sys.executable, "-c", _SPAWNER, str(peak_file), *argv],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        timer = threading.Timer(timeout, lambda: _kill(proc.pid))
        timer.start()
        try:
            stdout, stderr = proc.communicate()
        finally:
            timer.cancel()
        peak_kib = int(peak_file.read_text()) if peak_file.exists() else 0
    return (proc.returncode, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace"),
            peak_kib * 1024)


def _kill(pid: int) -> None:
    import signal

    try:
        os.killpg(pid, signal.SIGKILL)  # the spawner and the command it runs
    except ProcessLookupError:
        pass


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _pdf(objs: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


# --- running xmodal as a separate process ------------------------------------------------


def xmodal_argv() -> list[str]:
    """The ``xmodal`` console script of this interpreter's environment (or the module)."""
    import sys

    script = Path(sys.executable).with_name("xmodal")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from indexer.cli import main; sys.exit(main())"]


def subprocess_env(settings: object, **extra: str) -> dict[str, str]:
    """Environment variables that make a child ``xmodal`` use exactly these settings.

    Every field that differs from its default becomes ``XMODAL_<FIELD>`` (``XMODAL_DATA`` for
    the data folder), so a subprocess sees the same models the in-process fixtures use.
    """
    import json

    from retrieval.config import Settings

    env = dict(os.environ)
    defaults = Settings.model_construct()
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if value == getattr(defaults, name, None) and name != "data_dir":
            continue
        key = "XMODAL_DATA" if name == "data_dir" else f"XMODAL_{name.upper()}"
        if value is None:
            env.pop(key, None)
        elif isinstance(value, list | dict):
            env[key] = json.dumps(value)
        elif isinstance(value, bool):
            env[key] = "true" if value else "false"
        else:
            env[key] = str(value)
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, env.get("PYTHONPATH")]))
    env.update(extra)
    return env
