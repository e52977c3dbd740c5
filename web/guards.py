"""ASGI guards that act before routing, and so before any request body is read.

The write guard refuses an unauthenticated ``POST /api/index`` at the door: without it the
multipart body (up to the upload limit, spooled to temporary files) would be parsed before the
route's own token dependency runs, letting anyone make the server store and parse uploads.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from web.deps import bearer_matches
from web.errors import error_response

WRITE_PATHS = frozenset({"/api/index"})


class WriteGuardMiddleware:
    """Answer 401 to any request for a write path that lacks the bearer token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in WRITE_PATHS:
            header = None
            for name, value in scope.get("headers", ()):
                if name == b"authorization":
                    header = value.decode("latin-1")
                    break
            if not bearer_matches(header, self.token):
                response = error_response(
                    401,
                    "unauthorized",
                    "a valid 'Authorization: Bearer <token>' header is required",
                    headers={"WWW-Authenticate": "Bearer", "Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class SecurityHeadersMiddleware:
    """Headers every answer should carry; routes with stricter needs set their own first."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                for name, value in (
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"x-frame-options", b"DENY"),
                ):
                    if name not in names:
                        headers.append((name, value))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
