"""Serving files over the live server: whole files, HTTP ranges, traversal attempts, thumbnails.

Only files the catalog knows are ever served, by integer id; every traversal form must end in
a 4xx without a byte of the file system leaking.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api_helpers import assert_error, raw_get


def test_media_serves_the_indexed_file(client: httpx.Client, live) -> None:
    for kind in sorted(set(live.items.values())):
        item_id = live.first(kind)
        r = client.get(f"/media/{item_id}")
        assert r.status_code == 200
        assert r.content == live.paths[item_id].read_bytes()
        assert r.headers["accept-ranges"] == "bytes"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        if kind == "text":  # an indexed HTML file must never render as a page of this origin
            assert r.headers["content-type"].split(";")[0] in ("text/plain", "application/pdf")
        else:
            assert r.headers["content-type"].startswith(kind + "/")


def test_range_requests(client: httpx.Client, live) -> None:
    audio_id = live.first("audio")
    data = live.paths[audio_id].read_bytes()
    size = len(data)
    r = client.get(f"/media/{audio_id}", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 0-99/{size}"
    assert r.content == data[:100]
    r = client.get(f"/media/{audio_id}", headers={"Range": f"bytes={size - 10}-"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = client.get(f"/media/{audio_id}", headers={"Range": "bytes=-16"})
    assert r.status_code == 206 and r.content == data[-16:]
    r = client.get(f"/media/{audio_id}", headers={"Range": "bytes=100-199,300-349"})
    assert r.status_code == 206 and r.headers["content-type"].startswith("multipart/byteranges")
    r = client.get(f"/media/{audio_id}", headers={"Range": f"bytes={size}-{size + 100}"})
    assert assert_error(r, 416)["code"] == "range_not_satisfiable"
    assert r.headers["content-range"] == f"bytes */{size}"
    assert_error(client.get(f"/media/{audio_id}", headers={"Range": "lines=1-2"}), 400)
    assert_error(client.get(f"/media/{audio_id}", headers={"Range": "bytes=abc"}), 400)


TRAVERSALS = [
    "/media/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/media/..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/media/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/media/..%252F..%252Fetc%252Fpasswd",
    "/media/%252e%252e%252fetc%252fpasswd",
    "/media/..%5c..%5c..%5cetc%5cpasswd",
    "/media/..\\..\\..\\etc\\passwd",
    "/media/%2Fetc%2Fpasswd",
    "/media//etc/passwd",
    "/media/../../../../etc/passwd",
    "/media/1%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/media/1/../../../../etc/passwd",
    "/media/%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afetc%c0%afpasswd",
    "/media/..%00/etc/passwd",
    "/media/1%00.jpg",
    "/thumbs/..%2F..%2F..%2Fetc%2Fpasswd",
    "/thumbs/%2e%2e%2f%2e%2e%2fcatalog.sqlite",
    "/static/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "/static/..%2Fapp.py",
    "/static/%2e%2e/%2e%2e/retrieval/config.py",
    "/static/../../../../etc/passwd",
]


@pytest.mark.parametrize("raw_path", TRAVERSALS)
def test_path_traversal_never_reaches_the_file_system(live, raw_path: str) -> None:
    status, body, headers = raw_get(live.url, raw_path)
    assert 400 <= status < 500, (status, body[:200])
    assert b"root:" not in body and b"SQLite format" not in body and b"import " not in body
    if headers.get("content-type", "").startswith("application/json"):
        assert set(json.loads(body)) == {"error"}


def test_thumbnails_are_made_once_and_cached(client: httpx.Client, live) -> None:
    image_id = live.first("image")
    r = client.get(f"/thumbs/{image_id}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    cached = list((live.data_dir / "thumbs").glob(f"{image_id}-*.jpg"))
    assert len(cached) == 1
    made = cached[0].stat().st_mtime_ns
    again = client.get(f"/thumbs/{image_id}")
    assert again.content == r.content and cached[0].stat().st_mtime_ns == made
    for kind in ("audio", "text"):
        if kind in live.items.values():
            icon = client.get(f"/thumbs/{live.first(kind)}")
            assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"


def test_indexed_html_is_never_served_as_html(client: httpx.Client, live) -> None:
    pages = [i for i, p in live.paths.items() if p.suffix.lower() in (".html", ".htm")]
    if not pages:
        pytest.skip("the corpus has no HTML document")
    for item_id in pages:
        r = client.get(f"/media/{item_id}")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/plain")
        assert "sandbox" in r.headers["content-security-policy"]
