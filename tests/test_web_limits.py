"""The page and the server's limits in a real browser: upload sizes and DNS rebinding.

A file over the upload limit is refused on the page before a byte is sent; if the page could
not learn the limit, the server's 413 is shown as text. A browser that resolves a foreign name
to 127.0.0.1 (what DNS rebinding achieves) gets the server's 400, not the search page.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.fixtures_browser import CHROMIUM, CHROMIUM_ARGS, open_page
from tests.fixtures_server import UPLOAD_LIMIT_MB

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


@pytest.fixture()
def page(browser, live) -> Iterator[object]:
    """A fresh page on the live server that has learnt the server's limits."""
    with open_page(browser, live.url) as pg:
        pg.goto("/")
        pg.wait_for_function("() => limits !== null")
        yield pg


def oversized_png(folder: Path) -> Path:
    """A file with PNG's signature, 1 MB over the live server's upload limit."""
    path = folder / "holiday.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * ((UPLOAD_LIMIT_MB + 1) * 1024 * 1024))
    return path


def test_a_picture_over_the_limit_is_refused_before_sending(page, tmp_path) -> None:
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    page.locator("#image-file").set_input_files(str(oversized_png(tmp_path)))
    message = page.locator("#message.error")
    expect(message).to_contain_text("too large")
    expect(message).to_contain_text(f"holiday.png is {UPLOAD_LIMIT_MB + 1}.0 MB")
    expect(message).to_contain_text(f"up to {UPLOAD_LIMIT_MB}.0 MB")
    assert posts == []


def test_the_servers_413_is_shown_as_text(page, tmp_path) -> None:
    """A page that could not read /api/limits sends the file; the 413 arrives as a message."""
    page.evaluate("() => { limits = null; }")
    with page.expect_response(lambda r: r.url.endswith("/api/search")) as answer:
        page.locator("#image-file").set_input_files(str(oversized_png(tmp_path)))
    assert answer.value.status == 413
    expect(page.locator("#message.error")).to_contain_text(
        f"larger than the {UPLOAD_LIMIT_MB} MB limit"
    )


def test_a_rebound_name_gets_400_not_the_page(playwright, live) -> None:
    """Chromium resolves rebind.test to 127.0.0.1, as a rebinding attacker's DNS would."""
    port = urlsplit(live.url).port
    b = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP rebind.test 127.0.0.1"],
    )
    try:
        pg = b.new_page()
        response = pg.goto(f"http://rebind.test:{port}/")
        assert response is not None and response.status == 400
        assert response.json()["error"]["code"] == "host_not_allowed"
        stolen = pg.evaluate(
            "async () => { const r = await fetch('/api/search?q=ferry');"
            " return [r.status, await r.text()]; }"
        )
        assert stolen[0] == 400 and "results" not in stolen[1]
        # The same browser, same server, by its loopback address: the page is served.
        assert pg.goto(f"http://127.0.0.1:{port}/").status == 200
    finally:
        b.close()
