"""Replacing a file so that a reader sees the old content or the new, never half of either.

Write to a temp file in the same folder, then ``os.replace`` it over the target (atomic on
POSIX within one file system). ``durable`` adds the fsyncs that make the new file survive a
power cut too: the data before the rename, the folder's entry after it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable; file systems that cannot are skipped."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def replacing(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """A temp path next to ``path`` to write; renamed over ``path`` when the block succeeds.

    Temp names are ``.<name>.<random>.tmp``, so a crashed writer's leftovers are easy to find
    and sweep. On any exception the temp file is removed and ``path`` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if durable:
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
