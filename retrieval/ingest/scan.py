"""Walking the folders to index: ignore rules, hidden files, symlink safety.

Rules, and why:
- Hidden files and folders (name starts with ``.``) are skipped: caches, VCS data, editor
  droppings. A hidden file named explicitly on the command line is still indexed.
- ``.xmodalignore`` files (gitignore syntax, via pathspec) apply to their folder and below,
  like ``.gitignore``, so a user can keep exports or build folders out.
- Symlinks are followed only to targets inside one of the given roots, and each real folder is
  entered once: a link to ``/`` or a link cycle can neither escape nor loop.
- Folders listed in ``exclude`` (the data directory, when it lives inside a root) are skipped,
  so xmodal never indexes its own catalog.
- Entries come out sorted, so runs (and the part ids they assign) are reproducible.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pathspec

IGNORE_FILE = ".xmodalignore"


@dataclass(frozen=True)
class ScanEntry:
    """A regular file to consider, with the size and mtime the incremental check compares."""

    path: Path
    size: int
    mtime_ns: int


@dataclass
class _Rules:
    base: Path
    spec: pathspec.GitIgnoreSpec


def _read_rules(directory: Path) -> _Rules | None:
    try:
        lines = (directory / IGNORE_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return _Rules(directory, pathspec.GitIgnoreSpec.from_lines(lines.splitlines()))


def _ignored(path: Path, is_dir: bool, rules: Sequence[_Rules]) -> bool:
    for r in rules:
        rel = path.relative_to(r.base).as_posix() + ("/" if is_dir else "")
        if r.spec.match_file(rel):
            return True
    return False


def _within(path: Path, roots: Sequence[Path]) -> bool:
    return any(path == r or path.is_relative_to(r) for r in roots)


def scan(
    roots: Sequence[Path],
    *,
    exclude: Sequence[Path] = (),
    on_error: Callable[[Path, str], None] | None = None,
) -> Iterator[ScanEntry]:
    """Yield every indexable regular file under ``roots`` (files or folders), each path once.

    Paths are absolute and resolved for the roots themselves; inside a root they are the path
    as found (a symlink keeps its own name). ``on_error(path, reason)`` hears about roots that
    do not exist and folders that cannot be read; the walk goes on.
    """
    real_roots = [Path(os.path.realpath(r)) for r in roots]
    excluded = [Path(os.path.realpath(e)) for e in exclude]
    seen_dirs: set[tuple[int, int]] = set()
    seen_files: set[Path] = set()

    def report(path: Path, reason: str) -> None:
        if on_error is not None:
            on_error(path, reason)

    def emit(path: Path, st: os.stat_result) -> Iterator[ScanEntry]:
        if path not in seen_files:
            seen_files.add(path)
            yield ScanEntry(path, st.st_size, st.st_mtime_ns)

    def walk(directory: Path, rules: list[_Rules]) -> Iterator[ScanEntry]:
        try:
            dst = directory.stat()
        except OSError as exc:
            report(directory, f"cannot read folder: {exc.strerror or exc}")
            return
        key = (dst.st_dev, dst.st_ino)
        if key in seen_dirs:
            return
        seen_dirs.add(key)
        local = _read_rules(directory)
        if local is not None:
            rules = [*rules, local]
        try:
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            report(directory, f"cannot read folder: {exc.strerror or exc}")
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = directory / entry.name
            try:
                if entry.is_symlink():
                    target = Path(os.path.realpath(path))
                    if not _within(target, real_roots):
                        continue
                st = entry.stat()  # follows links
            except OSError:
                continue  # dangling link or vanished file
            is_dir = stat.S_ISDIR(st.st_mode)
            if _ignored(path, is_dir, rules):
                continue
            if is_dir:
                if not _within(Path(os.path.realpath(path)), excluded):
                    yield from walk(path, rules)
            elif stat.S_ISREG(st.st_mode):
                yield from emit(path, st)

    for root in real_roots:
        try:
            st = root.stat()
        except OSError as exc:
            report(root, f"cannot read: {exc.strerror or exc}")
            continue
        if stat.S_ISDIR(st.st_mode):
            if not _within(root, excluded):
                yield from walk(root, [])
        elif stat.S_ISREG(st.st_mode):
            yield from emit(root, st)
        else:
            report(root, "not a regular file or folder")
