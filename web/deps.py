"""FastAPI dependencies: the process-wide engine and settings, and the write token check.

The engine is created once in the app's lifespan (so models load once per process) and
handed to routes through ``Depends``; tests inject an engine built over their own corpus.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from retrieval.config import Settings
from web.errors import ApiError

if TYPE_CHECKING:
    from retrieval.engine import Engine


def get_engine(request: Request) -> Engine:
    """The engine the lifespan created (or the one injected into ``create_app``)."""
    engine = getattr(request.app.state, "engine", None)
    if engine is None:
        raise ApiError(503, "starting", "the search engine is not ready yet")
    return engine


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (not re-read from the environment)."""
    return request.app.state.settings


def get_transcription_limiter(request: Request) -> anyio.CapacityLimiter:
    """The limiter bounding concurrent voice queries, shared by every request."""
    return request.app.state.transcription_limiter


EngineDep = Annotated["Engine", Depends(get_engine)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]
LimiterDep = Annotated[anyio.CapacityLimiter, Depends(get_transcription_limiter)]

_bearer = HTTPBearer(auto_error=False, description="The token set in XMODAL_API_TOKEN")


def require_token(
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Let a write through only with ``Authorization: Bearer <token>`` matching the setting.

    The comparison is constant-time so the token cannot be guessed byte by byte from
    response timings.
    """
    expected = settings.api_token
    if not expected:
        raise ApiError(403, "forbidden", "writes are disabled: no API token is configured")
    given = credentials.credentials if credentials is not None else ""
    if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
        raise ApiError(
            401,
            "unauthorized",
            "a valid 'Authorization: Bearer <token>' header is required",
            headers={"WWW-Authenticate": "Bearer"},
        )


def bearer_matches(authorization: str | None, expected: str) -> bool:
    """Whether a raw ``Authorization`` header carries the token (constant-time compare).

    Used by the write guard, which must decide before any request body is read.
    """
    scheme, _, given = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        given = ""
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))
