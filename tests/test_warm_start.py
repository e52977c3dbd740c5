"""Warm start: a real ``xmodal serve`` is alive at once and ready only once its models are.

``/healthz`` must answer while the models still load (a supervisor must not kill a process
that is busy starting), ``/readyz`` must say 503 until then and 200 after, with the models'
states; and the first query after ready must not pay for loading anything. The same server
runs with ``--watch``: a file written into the watched folder becomes findable.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import httpx

from tests.xmodal_process import free_port, model_env, start, stop


def test_serve_is_live_first_and_ready_once_models_are_loaded(
        tmp_path: Path, offline_settings: Any, encoders: Any) -> None:
    from indexer.pipeline import run_index

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "lighthouse.txt").write_text("The lighthouse keeper polished the great lens.\n")
    data = tmp_path / "data"
    run_index(offline_settings.model_copy(update={"data_dir": data}), [docs],
              encoders=encoders, progress=False)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = start(model_env(offline_settings, data), "serve", "--port", str(port),
                 "--watch", str(docs), log=tmp_path / "serve.log")
    seen: list[tuple[str, int]] = []  # (probe, status) in the order they were answered
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and ("readyz", 200) not in seen:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            for probe in ("healthz", "readyz"):
                try:
                    seen.append((probe, httpx.get(f"{url}/{probe}", timeout=5).status_code))
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
        assert ("readyz", 200) in seen, (tmp_path / "serve.log").read_text()
        first_live = seen.index(("healthz", 200))
        assert ("readyz", 503) in seen[first_live:], "never saw the starting state"
        assert first_live < seen.index(("readyz", 200))
        ready = httpx.get(f"{url}/readyz", timeout=5).json()
        models = {m["kind"]: m for m in ready["models"]}
        assert models["text"]["available"] and models["clip"]["available"]
        assert ready["indexes"]["text"]["vectors"] >= 1
        t0 = time.monotonic()
        found = httpx.get(f"{url}/api/search", params={"q": "lens keeper"}, timeout=60).json()
        first_query = time.monotonic() - t0
        assert found["results"][0]["path"].endswith("lighthouse.txt")
        assert first_query < 5, f"the first query took {first_query:.1f} s after ready"

        (docs / "walrus.txt").write_text("A walrus colony rests on the ice floe.\n")
        deadline = time.monotonic() + 60
        while not any(r["path"].endswith("walrus.txt") for r in httpx.get(
                f"{url}/api/search", params={"q": "walrus colony"}, timeout=30).json()["results"]):
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
    finally:
        stop(proc)
    log_text = (tmp_path / "serve.log").read_text()
    ready_line = re.search(r"ready in [\d.]+ s \((\d+) objects frozen", log_text)
    assert ready_line and int(ready_line.group(1)) > 10_000, "warm models stay out of gc's walks"
