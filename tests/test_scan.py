"""Scanning: hidden files, .xmodalignore, symlink loops and escapes, excluded data dir."""

from __future__ import annotations

import os
from pathlib import Path

from retrieval.ingest.scan import scan


def _touch(path: Path, text: str = "x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _names(root: Path, **kw: object) -> list[str]:
    real = Path(os.path.realpath(root))
    return [e.path.relative_to(real).as_posix() for e in scan([root], **kw)]


def test_walk_sorted_hidden_skipped(tmp_path: Path) -> None:
    _touch(tmp_path / "b.txt")
    _touch(tmp_path / "a" / "c.txt")
    _touch(tmp_path / ".hidden.txt")
    _touch(tmp_path / ".git" / "config")
    assert _names(tmp_path) == ["a/c.txt", "b.txt"]
    entry = next(iter(scan([tmp_path / "b.txt"])))
    assert entry.size == 1 and entry.mtime_ns == (tmp_path / "b.txt").stat().st_mtime_ns
    assert [e.path.name for e in scan([tmp_path / ".hidden.txt"])] == [".hidden.txt"]


def test_xmodalignore_gitignore_syntax(tmp_path: Path) -> None:
    _touch(tmp_path / ".xmodalignore", "*.log\nbuild/\n!keep.log\n")
    _touch(tmp_path / "x.log")
    _touch(tmp_path / "keep.log")
    _touch(tmp_path / "build" / "out.txt")
    _touch(tmp_path / "sub" / "y.log")
    _touch(tmp_path / "sub" / ".xmodalignore", "secret.txt\n")
    _touch(tmp_path / "sub" / "secret.txt")
    _touch(tmp_path / "secret.txt")
    assert _names(tmp_path) == ["keep.log", "secret.txt"]


def test_symlink_loops_and_escapes(tmp_path: Path) -> None:
    root = tmp_path / "root"
    outside = _touch(tmp_path / "outside" / "secret.txt")
    _touch(root / "d" / "f.txt")
    (root / "d" / "loop").symlink_to(root)  # cycle back to the root
    (root / "escape").symlink_to(outside.parent)  # folder outside the roots
    (root / "escape.txt").symlink_to(outside)  # file outside the roots
    (root / "alias.txt").symlink_to(root / "d" / "f.txt")  # inside: kept under its own name
    (root / "dangling").symlink_to(tmp_path / "nope")
    assert _names(root) == ["alias.txt", "d/f.txt"]


def test_exclude_and_errors(tmp_path: Path) -> None:
    _touch(tmp_path / "xmodal-data" / "catalog.sqlite")
    _touch(tmp_path / "a.txt")
    errors: list[tuple[Path, str]] = []
    found = _names(tmp_path, exclude=[tmp_path / "xmodal-data"])
    assert found == ["a.txt"]
    list(scan([tmp_path / "missing"], on_error=lambda p, r: errors.append((p, r))))
    assert len(errors) == 1 and "cannot read" in errors[0][1]


def test_overlapping_roots_yield_once(tmp_path: Path) -> None:
    _touch(tmp_path / "a" / "b.txt")
    paths = [e.path for e in scan([tmp_path, tmp_path / "a", tmp_path / "a" / "b.txt"])]
    assert len(paths) == 1
