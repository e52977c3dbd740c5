"""Which vector spaces are live, which model built each, and who may write the data dir.

A space's vectors are only comparable with queries embedded by the same model, so the catalog
records ``space.<name>.model`` and ``.dim`` when a space is first written, and every writer
(and the search engine, via ``check_space_models(..., reembed=False)``) compares them with
the configured encoders. A change needs an explicit ``--reembed``; silently mixing two models'
vectors would return confident nonsense.
"""

from __future__ import annotations

import fcntl
import functools
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from retrieval.errors import IndexMismatch, XmodalError

if TYPE_CHECKING:
    from retrieval.catalog.database import Catalog
    from retrieval.encoders import Encoders

LOCK_NAME = "index.lock"


class Space:
    """A vector space and the encoder behind it, loaded only when something must be encoded.

    ``model`` (the encoder's name) is known without loading, which is enough to refuse a
    changed model at start-up; the dimension needs the weights and is checked against the
    catalog on first use (``ready``). A run with nothing new to encode loads no model at all.
    """

    def __init__(self, name: str, model: str, get: Callable[[], Any], images: bool) -> None:
        self.name = name
        self.model = model
        self.images = images  # whether images go into this space (CLIP's image tower)
        self._get = get
        self._checked = False

    @property
    def encoder(self) -> Any:
        return self._get()

    @property
    def dim(self) -> int:
        enc = self._get()
        if enc is None:
            raise XmodalError(f"the model for the {self.name!r} space is unavailable")
        return int(enc.dim)

    def ready(self, catalog: Catalog) -> bool:
        """Load the encoder (False when unavailable); IndexMismatch if its dimension changed."""
        enc = self._get()
        if enc is None:
            return False
        if not self._checked:
            stored = catalog.space_model(self.name)
            if stored is None:  # first vectors of this space: record what made them
                with catalog.write() as conn:
                    catalog.set_meta(f"space.{self.name}.model", self.model, conn)
                    catalog.set_meta(f"space.{self.name}.dim", str(int(enc.dim)), conn)
            elif stored != (self.model, int(enc.dim)):
                raise IndexMismatch(_mismatch(self.name, stored, (self.model, int(enc.dim))))
            self._checked = True
        return True

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        enc = self._get()
        return enc.encode_texts(texts) if self.images else enc.encode(texts)

    def encode_images(self, images: Sequence[Any]) -> np.ndarray:
        return self._get().encode_images(images)


def _mismatch(name: str, stored: tuple[str, int], now: tuple[str, int]) -> str:
    return (
        f"the {name!r} space was built with {stored[0]} ({stored[1]}-d) but the configured "
        f"model is {now[0]} ({now[1]}-d). Run `xmodal index --reembed PATH...` to re-encode "
        "the collection with the new model (stored text is reused, images are decoded "
        "again), or configure the old model."
    )


def _same(encoder: Any) -> Any:
    return encoder


def active_spaces(encoders: Encoders | None) -> dict[str, Space]:
    """The spaces whose encoder is configured; none is loaded here.

    With the real ``Encoders`` container, names come from ``status(load=False)``; any other
    object (tests' fakes) is asked for its ``text``/``clip`` attributes directly.
    """
    if encoders is None:
        return {}
    names: dict[str, str] = {}
    status = getattr(encoders, "status", None)
    if callable(status):
        try:
            names = {st.kind: st.name for st in status(load=False)
                     if st.kind in ("text", "clip")}
        except TypeError:
            names = {}
    out: dict[str, Space] = {}
    for role in ("text", "clip"):
        if role in names:
            out[role] = Space(role, str(names[role]), functools.partial(getattr, encoders, role),
                              images=role == "clip")
            continue
        enc = getattr(encoders, role, None)
        if enc is not None:
            out[role] = Space(role, str(enc.name), functools.partial(_same, enc),
                              images=role == "clip")
    return out


def check_space_models(catalog: Catalog, spaces: dict[str, Space], *,
                       reembed: bool = False) -> list[str]:
    """Record models of new spaces; refuse (or with ``reembed`` reset) changed ones.

    Only a space that was never written (or is being reset) loads its model here, for its
    dimension. Returns the spaces that were reset; their vectors are gone and get backfilled.
    Raises IndexMismatch naming the old and new model when ``reembed`` is False.
    """
    reset: list[str] = []
    for name, space in sorted(spaces.items()):
        stored = catalog.space_model(name)
        if not reembed and (stored is None or stored[0] == space.model):
            continue  # new, or the same model: recorded and checked by ``ready`` on first use
        if stored is not None and not reembed:
            if space.encoder is None:
                continue  # the new model is missing: its space is off (Encoders warned why)
            raise IndexMismatch(_mismatch(name, stored, (space.model, space.dim)))
        if space.encoder is None:
            continue  # unavailable now: nothing to record or reset
        dim = space.dim
        with catalog.write() as conn:
            if stored is not None:
                conn.execute("DELETE FROM vectors WHERE space=?", (name,))
                reset.append(name)
            catalog.set_meta(f"space.{name}.model", space.model, conn)
            catalog.set_meta(f"space.{name}.dim", str(dim), conn)
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
