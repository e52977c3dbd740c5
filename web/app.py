"""Building the FastAPI app: JSON API, media routes, the search page and their guards.

``create_app(settings, engine=None)`` is the only entry point. The engine is created once in
the lifespan, so models load once per process however many requests arrive; tests (and the
CLI) may pass their own engine instead, which the app then never closes.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from retrieval import __version__
from retrieval.config import Settings
from web import api, duplicate_routes, index_routes, limits, media_routes, readiness
from web.errors import BodyLimitMiddleware, install_error_handlers
from web.guards import SecurityHeadersMiddleware, WriteGuardMiddleware
from web.hosts import HostAllowListMiddleware, allowed_host_names
from web.rate_limit import RateLimitMiddleware, limits_from_settings

if TYPE_CHECKING:
    from retrieval.engine import Engine

log = logging.getLogger("xmodal.web")

STATIC_DIR = Path(__file__).parent / "static"
DEFAULT_MAX_TRANSCRIPTIONS = 2

PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "style-src 'self'; script-src 'self'; connect-src 'self'; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


def _make_engine(settings: Settings) -> Engine:
    from retrieval.engine import Engine  # imported late: it pulls in torch and the models

    return Engine(settings)


def _start_watching(settings: Settings, engine: Engine, roots: Sequence[Path]) -> Any:
    from retrieval.ingest.watch import Watcher

    watcher = Watcher(settings, list(roots), encoders=engine.encoders)
    watcher.start()
    return watcher


def create_app(
    settings: Settings,
    engine: Engine | None = None,
    *,
    max_transcriptions: int = DEFAULT_MAX_TRANSCRIPTIONS,
    watch: Sequence[Path] = (),
) -> FastAPI:
    """The xmodal web app over ``settings.data_dir``; ``engine`` overrides the one it would make.

    ``POST /api/index`` is only registered when ``settings.api_token`` is set, so an instance
    without a token has no write endpoint at all, not merely a guarded one. ``watch``: folders
    whose changes are indexed while serving (``retrieval.ingest.watch``), with the engine's
    models.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        app.state.engine = await run_in_threadpool(_make_engine, settings) if owned else engine
        app.state.warmup = readiness.Warmup()
        app.state.warmup.start(app.state.engine)
        watcher = _start_watching(settings, app.state.engine, watch) if watch else None
        try:
            yield
        finally:
            if watcher is not None:
                watcher.stop.set()
            if owned and app.state.engine is not None:
                await run_in_threadpool(app.state.engine.close)
            app.state.engine = None

    app = FastAPI(
        title="xmodal",
        version=__version__,
        summary="Cross-modal search over your photos, recordings and documents",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.transcription_limiter = anyio.CapacityLimiter(max_transcriptions)
    app.state.upload_lock = anyio.Lock()

    install_error_handlers(app)
    app.include_router(api.router, tags=["search"])
    app.include_router(media_routes.router, tags=["media"])
    app.include_router(readiness.router, tags=["search"])
    app.include_router(duplicate_routes.router, tags=["search"])
    app.include_router(limits.router, tags=["search"])
    if settings.api_token:
        app.include_router(index_routes.router, tags=["index"])

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        """The search page; its CSP allows only this origin's own scripts and styles."""
        return FileResponse(
            STATIC_DIR / "index.html",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    # Added last = outermost: the body limit must see the raw stream before anything parses it.
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_upload_mb * 1024 * 1024)
    if settings.api_token:  # refuse writes without the token before reading a byte
        app.add_middleware(WriteGuardMiddleware, token=settings.api_token)
    rate_limits = limits_from_settings(settings)
    if rate_limits:
        app.add_middleware(RateLimitMiddleware, limits=rate_limits)
    host_names = allowed_host_names(settings)
    if host_names is not None:  # outermost: a rebound name gets nothing, not even a 401
        app.add_middleware(HostAllowListMiddleware, names=host_names)
    return app
