"""Per-client rate limits on the expensive routes: searches and uploads.

Every search encodes a query on the CPU and every upload is decoded and indexed, so one
client in a loop can take the whole machine. Each client address gets a token bucket per kind
of route: ``burst`` requests at once, refilled at ``per_second``; an empty bucket is answered
429 with ``Retry-After`` (whole seconds until a token is back) before the request body is read.
Clients are told apart by the socket's peer address (uvicorn runs without proxy headers), so
behind a reverse proxy every client shares one bucket: limit there instead.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

from retrieval.config import Settings
from web.errors import DRAIN_BYTES, content_length, drain_body, error_response

MAX_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten first


@dataclass
class Bucket:
    """Tokens left and when they were counted."""

    tokens: float
    stamp: float


class TokenBuckets:
    """One token bucket per client key, thread-safe, bounded to ``max_clients`` keys."""

    def __init__(
        self,
        burst: int,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when granted, else seconds until one is back."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.pop(key, None) or Bucket(float(self.burst), now)
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.per_second)
            bucket.stamp = now
            self._buckets[key] = bucket  # most recently seen last
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.per_second


@dataclass(frozen=True)
class LimitedRoute:
    """Which requests a bucket set counts, and the error code they get when over."""

    name: str
    code: str
    methods: frozenset[str]
    matches: Callable[[str], bool]


SEARCH = LimitedRoute(
    "searches",
    "too_many_searches",
    frozenset({"GET", "POST"}),
    lambda path: path == "/api/search" or path.endswith("/similar"),
)
UPLOAD = LimitedRoute(
    "uploads", "too_many_uploads", frozenset({"POST"}), lambda path: path == "/api/index"
)


def limits_from_settings(settings: Settings) -> list[tuple[LimitedRoute, TokenBuckets]]:
    """The buckets ``settings`` asks for; a rate of 0 leaves that kind of route unlimited."""
    out = []
    if settings.search_per_second > 0:
        out.append((SEARCH, TokenBuckets(settings.search_burst, settings.search_per_second)))
    if settings.upload_per_second > 0:
        out.append((UPLOAD, TokenBuckets(settings.upload_burst, settings.upload_per_second)))
    return out


class RateLimitMiddleware:
    """Answer 429 with ``Retry-After`` to a client whose bucket for this route is empty."""

    def __init__(self, app: ASGIApp, limits: list[tuple[LimitedRoute, TokenBuckets]]) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"].rstrip("/")
            for route, buckets in self.limits:
                if scope["method"] not in route.methods or not route.matches(path):
                    continue
                client = scope.get("client")
                wait = buckets.take(client[0] if client else "unknown")
                if wait > 0:
                    await self._refuse(scope, receive, send, route, wait)
                    return
        await self.app(scope, receive, send)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, route: LimitedRoute, wait: float
    ) -> None:
        declared = content_length(scope)
        if declared and declared <= DRAIN_BYTES:  # so the 429 is not lost to a reset
            await drain_body(receive)
        seconds = max(1, math.ceil(wait))
        response = error_response(
            429,
            route.code,
            f"too many {route.name} from this address; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )
        await response(scope, receive, send)
