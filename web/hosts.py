"""Refusing requests whose ``Host`` header names a host this server does not answer to.

DNS rebinding: a page on ``http://evil.example:8000`` re-points its name at 127.0.0.1, and the
browser then treats a local xmodal as that page's own origin, so the page can read every
search result and file. The browser still sends ``Host: evil.example:8000``, so checking the
header against the names this server is known by closes the hole. Always allowed: loopback
names (``localhost``, ``*.localhost``), IP literals (an address cannot be re-pointed; a page
fetched from an IP is that IP's own origin), the bound host and this machine's name, plus
``XMODAL_ALLOWED_HOSTS``. ``*`` among them turns the check off (e.g. behind a proxy that
checks names itself).
"""

from __future__ import annotations

import ipaddress
import socket

from starlette.types import ASGIApp, Receive, Scope, Send

from retrieval.config import Settings
from web.errors import error_response

ANY_HOST = "*"
WILDCARD_INTERFACES = {"0.0.0.0", "::", ""}


def host_name(header: str) -> str:
    """The name in a ``Host`` header, without port, brackets or a trailing dot, lower case."""
    value = header.strip().lower()
    if value.startswith("["):  # [::1]:8000
        return value[1 : value.find("]")] if "]" in value else value
    if value.count(":") == 1:
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def is_ip_literal(name: str) -> bool:
    """Whether ``name`` is an IPv4 or IPv6 address rather than a name DNS resolves."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def allowed_host_names(settings: Settings) -> frozenset[str] | None:
    """The names requests may carry, or None when the check is off (``*``)."""
    extra = {host_name(h) for h in settings.allowed_hosts}
    if ANY_HOST in extra:
        return None
    names = {"localhost", host_name(settings.host)} | extra
    if settings.host in WILDCARD_INTERFACES:  # reachable by the machine's own name too
        names.add(socket.gethostname().lower())
    return frozenset(names - {""})


def host_allowed(header: str | None, names: frozenset[str]) -> bool:
    """Whether a request's ``Host`` header is one of ``names``, a loopback name or an IP."""
    if header is None:
        return True  # only HTTP/1.0 clients omit it, and browsers never do
    name = host_name(header)
    return name in names or name.endswith(".localhost") or is_ip_literal(name)


class HostAllowListMiddleware:
    """Answer 400 ``host_not_allowed`` to a request for a host name not on the list."""

    def __init__(self, app: ASGIApp, names: frozenset[str]) -> None:
        self.app = app
        self.names = names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = None
            for name, value in scope.get("headers", ()):
                if name == b"host":
                    header = value.decode("latin-1")
                    break
            if not host_allowed(header, self.names):
                response = error_response(
                    400,
                    "host_not_allowed",
                    f"this server does not answer to the host {host_name(header or '')!r}; "
                    "add it to XMODAL_ALLOWED_HOSTS if it is yours",
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
