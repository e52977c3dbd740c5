"""Watching: a real ``xmodal watch`` process keeps the catalog in step with a folder.

Each change is made the way a person makes it (write, rename, rewrite, delete a file) and must
show in the catalog within a bounded time; a rename must keep the item (attached by content
hash, nothing decoded again); changes made while the watcher was off are caught by its
rescan at start. (``xmodal serve --watch`` is tested with the warm start, one server.)
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from tests.xmodal_process import model_env, start, stop

WITHIN = 60.0  # seconds a change may take to show (models load on the first batch; 2 shared cores)


def files(data: Path) -> dict[str, int | None]:
    """path -> item id of every file the catalog holds (empty before the first commit)."""
    db = data / "catalog.sqlite"
    if not db.exists():
        return {}
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        return dict(con.execute("SELECT path, item_id FROM files WHERE status='ok'").fetchall())
    except sqlite3.OperationalError:  # the schema is being created
        return {}
    finally:
        con.close()


def wait_for(check: Any, what: str, log: Path, proc: Any, timeout: float = WITHIN) -> float:
    """Poll ``check()`` until true; returns the seconds it took, fails after ``timeout``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if check():
            return time.monotonic() - t0
        assert proc.poll() is None, f"xmodal watch exited:\n{log.read_text()}"
        time.sleep(0.1)
    pytest.fail(f"{what} not seen within {timeout:.0f} s:\n{log.read_text()}")


def batches(log: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]


def test_watch_follows_adds_renames_and_deletes(tmp_path: Path, offline_settings: Any) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "first.txt").write_text("The ferry timetable changes in March.\n")
    data = tmp_path / "data"
    env = model_env(offline_settings, data, XMODAL_OCR_ENABLED="false")
    log = tmp_path / "watch.log"
    proc = start(env, "watch", str(folder), "--json", "--settle", "200", log=log)
    try:
        first = str(folder / "first.txt")
        wait_for(lambda: first in files(data), "the rescan at start", log, proc)
        wait_for(lambda: batches(log), "the rescan's report", log, proc)

        added = folder / "added.txt"
        added.write_text("Copper cables for the lighthouse generator.\n")
        took = wait_for(lambda: str(added) in files(data), "a new file", log, proc)
        item = files(data)[str(added)]

        renamed = folder / "sub" / "renamed.txt"
        renamed.parent.mkdir()
        added.rename(renamed)
        wait_for(lambda: str(renamed) in files(data) and str(added) not in files(data),
                 "a rename", log, proc)
        assert files(data)[str(renamed)] == item, "the renamed file was indexed as new content"
        assert batches(log)[-1]["decoded"] == 0

        renamed.write_text("Copper cables, and a new fuse box for the generator.\n")
        wait_for(lambda: files(data).get(str(renamed)) not in (None, item), "a change", log, proc)
        item = files(data)[str(renamed)]

        (folder / "first.txt").unlink()
        wait_for(lambda: first not in files(data), "a delete", log, proc)
        (folder / ".hidden.txt").write_text("not for the index\n")
    finally:
        assert stop(proc) == 0, log.read_text()
    assert took < WITHIN

    # while nothing watches: one file changes, one appears, one goes
    renamed.write_text("New content: the generator was replaced in May.\n")
    late = folder / "late.txt"
    late.write_text("Written while the watcher was off.\n")
    log2 = tmp_path / "watch2.log"
    proc = start(env, "watch", str(folder), "--json", log=log2)
    try:
        wait_for(lambda: batches(log2), "the rescan at start", log2, proc)
    finally:
        stop(proc)
    report = batches(log2)[0]
    assert (report["added"], report["updated"]) == (1, 1), report
    now = files(data)
    assert set(now) == {str(renamed), str(late)}
    assert now[str(renamed)] != item  # changed content is a new item
