"""Warm start: models loaded and indexes opened before the server says it is ready.

Without it the first query of a fresh ``xmodal serve`` waits for every model to load (tens of
seconds on a small CPU). The lifespan starts the warm-up on a thread of its own and the server
accepts connections at once, so the two probes a supervisor (Docker, Kubernetes, systemd)
needs differ: ``/healthz`` says the process is alive and answers; ``/readyz`` answers 503
until the warm-up has finished, then 200 with each model's state and each index's size.

Once warm, the process's objects (the models' modules, tokenizers, vocabularies: about 600,000
that live as long as the server) are frozen out of garbage collection (``gc.freeze``). Each
full collection walked them all, 276 ms with every thread stopped, seven times in 20 s under
16 clients at 100k parts; frozen, it only walks what queries made (docs/performance.md).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

log = logging.getLogger("xmodal.web")

router = APIRouter()


class Warmup:
    """The state of one engine's warm-up: running, ready, or failed (with the reason)."""

    def __init__(self) -> None:
        self.ready = False
        self.error: str | None = None
        self.report: dict[str, Any] = {}
        self.seconds: float | None = None
        self._thread: threading.Thread | None = None

    def start(self, engine: Any) -> None:
        """Warm ``engine`` on a daemon thread (an engine without ``warm`` is ready at once)."""
        warm = getattr(engine, "warm", None)
        if warm is None:
            self.ready = True
            return

        def run() -> None:
            t0 = time.monotonic()
            try:
                self.report = warm()
            except Exception as exc:  # noqa: BLE001 - reported by /readyz, never fatal
                log.exception("warm-up failed")
                self.error = f"{type(exc).__name__}: {exc}"
                return
            self.seconds = round(time.monotonic() - t0, 2)
            gc.freeze()
            self.ready = True
            log.warning("xmodal: ready in %.1f s (%d objects frozen out of garbage collection)",
                        self.seconds, gc.get_freeze_count())

        self._thread = threading.Thread(target=run, name="xmodal-warmup", daemon=True)
        self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the warm-up ends (tests, ``serve``); True when ready."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.ready


@router.get("/readyz", responses={503: {"description": "Still loading models or indexes"}})
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 once models are loaded and indexes open, with their states; else 503."""
    warmup: Warmup | None = getattr(request.app.state, "warmup", None)
    if warmup is None or not warmup.ready:
        body: dict[str, Any] = {"status": "failed" if warmup and warmup.error else "starting"}
        if warmup is not None and warmup.error:
            body["error"] = warmup.error
        return JSONResponse(body, status_code=503, headers={"Retry-After": "2"})
    return JSONResponse({"status": "ready", "seconds": warmup.seconds, **warmup.report})
