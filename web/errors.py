"""One error shape for every failure: ``{"error": {"code", "message"}}`` with a 4xx status.

Clients (the page, scripts, fuzzers) can rely on a single JSON shape, and no traceback ever
leaves the process. The library's exceptions are mapped here once instead of in every route.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from retrieval.errors import (
    IndexMismatch,
    ItemNotFound,
    MediaError,
    ModelUnavailable,
    XmodalError,
)

log = logging.getLogger("xmodal.web")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "unprocessable",
    429: "busy",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by routes for an expected failure; rendered as the standard JSON error."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})


def error_response(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """The one JSON error body every handler returns."""
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _first_message(exc: Exception) -> str:
    """The exception's text without any chained context: enough to act on, nothing internal."""
    text = str(exc).strip()
    return text[:500] or exc.__class__.__name__


def _validation_message(exc: RequestValidationError | ValidationError) -> str:
    """Turn pydantic's error list into one readable sentence per bad parameter."""
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body"))
        parts.append(f"{where or 'request'}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Register JSON handlers for FastAPI's own errors and the library's exceptions."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "invalid_parameter", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        status = exc.status_code if 400 <= exc.status_code < 600 else 400
        code = _STATUS_CODES.get(status, "error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        return error_response(status, code, message, getattr(exc, "headers", None))

    @app.exception_handler(ValueError)
    async def _value(_: Request, exc: ValueError) -> JSONResponse:
        return error_response(400, "bad_request", _first_message(exc))

    @app.exception_handler(ValidationError)
    async def _invalid_model(_: Request, exc: ValidationError) -> JSONResponse:
        # A request model built inside a route (``Query``) refused a value.
        return error_response(400, "invalid_parameter", _validation_message(exc))

    @app.exception_handler(ItemNotFound)
    async def _not_found(_: Request, exc: ItemNotFound) -> JSONResponse:
        return error_response(404, "not_found", f"no such item: {exc.item_id}")

    @app.exception_handler(MediaError)
    async def _media(_: Request, exc: MediaError) -> JSONResponse:
        return error_response(422, "bad_media", _first_message(exc))

    @app.exception_handler(ModelUnavailable)
    async def _model(_: Request, exc: ModelUnavailable) -> JSONResponse:
        # The server lacks weights for this modality: not the client's fault, but explainable.
        return error_response(503, "model_unavailable", _first_message(exc))

    @app.exception_handler(IndexMismatch)
    async def _mismatch(_: Request, exc: IndexMismatch) -> JSONResponse:
        return error_response(503, "index_mismatch", _first_message(exc))

    @app.exception_handler(XmodalError)
    async def _xmodal(_: Request, exc: XmodalError) -> JSONResponse:
        return error_response(400, "bad_request", _first_message(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug: log it with its traceback here, answer without one.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error; see the server log")


DRAIN_BYTES = 64 * 1024 * 1024  # the largest refused body read to the end before the 413
DRAIN_SECONDS = 5.0


class UploadTooLarge(Exception):
    """Raised from inside ``receive`` once a request body passes the configured limit."""


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with a JSON 413, counting while they stream.

    A declared ``Content-Length`` over the limit is refused before the app sees a byte; a body
    without one (chunked) is cut off as soon as the running total passes the limit, so an
    upload never has to be held in full before it can be refused. Whatever the inner app
    made of the interrupted read (FastAPI turns it into a 400), the client gets the 413.

    A declared body of up to ``DRAIN_BYTES`` is read and thrown away (for at most
    ``DRAIN_SECONDS``) before the 413 goes out, as nginx's lingering close does: many clients
    (httpx, requests) send the whole body before they read the answer, and closing a socket
    with unread bytes in it makes the kernel send a reset that can destroy the 413 in flight.
    A bigger declared body is refused at once, and a chunked one is cut off where it passed
    the limit: nobody should wait for gigabytes, or an endless stream, to be thrown away.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = content_length(scope)
        if declared is not None and declared > self.max_bytes:
            if declared <= DRAIN_BYTES:  # a bigger one is not worth reading to say no
                await drain_body(receive)
            await self._refuse(scope, receive, send)
            return

        state: dict[str, Any] = {"total": 0, "over": False, "started": False}

        async def limited_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["total"] += len(message.get("body", b""))
                if state["total"] > self.max_bytes:
                    state["over"] = True
                    raise UploadTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if state["over"]:
                return  # swallow whatever the app answered; the 413 goes out below
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except UploadTooLarge:
            pass
        except Exception:
            if not state["over"]:
                raise
        if state["over"] and not state["started"]:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        mb = self.max_bytes / (1024 * 1024)
        response = error_response(
            413, "too_large", f"request body is larger than the {mb:g} MB limit"
        )
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


async def drain_body(receive: Receive) -> None:
    """Read and discard the rest of a refused body; a client that stalls gets DRAIN_SECONDS."""
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            while True:
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    return  # the whole body is in, or the client went away
    except TimeoutError:
        return


def content_length(scope: Scope) -> int | None:
    """The request's declared body size, or None when it declares none (or nonsense)."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
