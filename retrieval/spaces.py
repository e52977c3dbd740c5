"""Which vector spaces are live, which model built each, and who may write the data dir.

A space's vectors are only comparable with queries embedded by the same model, so the catalog
records ``space.<name>.model`` and ``.dim`` when a space is first written, and every writer
(and the search engine, via ``check_space_models(..., reembed=False)``) compares them with
the configured encoders. A change needs an explicit ``--reembed``; silently mixing two models'
vectors would return confident nonsense.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.errors import IndexMismatch, XmodalError

if TYPE_CHECKING:
    from retrieval.catalog import Catalog
    from retrieval.encoders import Encoders

LOCK_NAME = "index.lock"


@dataclass(frozen=True)
class Space:
    """A live vector space: its model's name and dimension, and how to embed into it."""

    name: str
    model: str
    dim: int
    encode_texts: Callable[[Sequence[str]], np.ndarray]
    encode_images: Callable[[Sequence[Any]], np.ndarray] | None = None


def active_spaces(encoders: Encoders | None) -> dict[str, Space]:
    """The spaces whose encoder is available (a missing model disables only its space)."""
    out: dict[str, Space] = {}
    if encoders is None:
        return out
    text = encoders.text
    if text is not None:
        out["text"] = Space("text", str(text.name), int(text.dim), text.encode)
    clip = encoders.clip
    if clip is not None:
        out["clip"] = Space("clip", str(clip.name), int(clip.dim), clip.encode_texts,
                            clip.encode_images)
    return out


def check_space_models(catalog: Catalog, spaces: dict[str, Space], *,
                       reembed: bool = False) -> list[str]:
    """Record models of new spaces; refuse (or with ``reembed`` reset) changed ones.

    Returns the spaces that were reset; their vectors are gone and must be backfilled.
    Raises IndexMismatch naming the old and new model when ``reembed`` is False.
    """
    reset: list[str] = []
    for name, space in sorted(spaces.items()):
        stored = catalog.space_model(name)
        same = stored == (space.model, space.dim)
        if stored is not None and not same and not reembed:
            raise IndexMismatch(
                f"the {name!r} space was built with {stored[0]} ({stored[1]}-d) but the "
                f"configured model is {space.model} ({space.dim}-d). Run `xmodal index "
                "--reembed PATH...` to re-encode the collection with the new model (stored "
                "text is reused, images are decoded again), or configure the old model."
            )
        if stored is not None and same and not reembed:
            continue
        with catalog.write() as conn:
            if stored is not None:
                conn.execute("DELETE FROM vectors WHERE space=?", (name,))
                reset.append(name)
            catalog.set_meta(f"space.{name}.model", space.model, conn)
            catalog.set_meta(f"space.{name}.dim", str(space.dim), conn)
            catalog.bump_generation(conn, name)
    return reset


class WriteLock:
    """An exclusive ``flock`` on ``<data>/index.lock``: one writer per data directory.

    The kernel drops the lock when the process dies, so ``kill -9`` never leaves it stuck.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self, timeout: float = 0.0) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                    os.close(fd)
                    raise XmodalError(
                        f"another indexing run is writing {self.path.parent} "
                        f"(pid {holder or '?'}); wait for it to finish"
                    ) from None
                time.sleep(0.2)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None
