"""Helpers shared by the live-server API test modules."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlsplit

import httpx

ERROR_KEYS = {"code", "message"}


def assert_error(r: httpx.Response, status: int | tuple[int, ...]) -> dict:
    """The response is the standard JSON error with the expected status, and no traceback."""
    statuses = status if isinstance(status, tuple) else (status,)
    assert r.status_code in statuses, (r.status_code, r.text[:300])
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == ERROR_KEYS, body
    assert "Traceback" not in r.text
    return body["error"]


def raw_get(url: str, raw_path: str) -> tuple[int, bytes, dict[str, str]]:
    """GET a path byte for byte as given: no client normalises ``..`` or decodes ``%2F``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", raw_path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()


def a_word(text: str) -> str:
    """A distinctive word of an indexed passage: the longest alphabetic one."""
    words = re.findall(r"[A-Za-z]{4,}", text)
    assert words, text
    return max(words, key=len).lower()
