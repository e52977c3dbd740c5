"""Video moments over HTTP and on the page: the matched frame, and a player that starts there.

A real uvicorn server over the generated videos (tests/fixtures_video.py); the page runs in
Debian's headless Chromium (tests/fixtures_browser.py).
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image

from tests.fixtures_browser import open_page
from tests.fixtures_video import NARRATION_AT, SLIDE_STARTS, VideoCorpus
from tests.test_web_page import shot

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture()
def http(video_live) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=video_live.url, timeout=120) as c:
        yield c


@pytest.fixture()
def vpage(browser, video_live) -> Iterator[object]:
    with open_page(browser, video_live.url) as pg:
        yield pg


def test_a_video_result_carries_the_moment_and_its_frame(http: httpx.Client,
                                                          video_corpus: VideoCorpus) -> None:
    body = http.get("/api/search", params={"q": "marmalade rocket", "type": "video"}).json()
    top = body["results"][0]
    assert top["type"] == "video" and top["id"] == video_corpus.id("talk.webm")
    start = SLIDE_STARTS["Marmalade Rocket"]
    assert top["match"]["start"] == pytest.approx(start, abs=0.6)
    assert re.fullmatch(rf"/thumbs/{top['id']}\?t=[0-9.]+", top["thumb_url"])
    thumb = http.get(top["thumb_url"])
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    frame = Image.open(io.BytesIO(thumb.content)).convert("RGB")
    assert frame.size == (480, 270)
    r, g, b = frame.getpixel((4, 4))
    assert b > 80 and r < 40  # the navy slide, not the black lead-in at 0 s
    media = http.get(top["media_url"], headers={"Range": "bytes=0-99"})
    assert media.status_code == 206 and media.headers["content-type"] == "video/webm"


def test_frame_thumbnails_snap_to_keyframes(http: httpx.Client, video_corpus: VideoCorpus,
                                            video_live) -> None:
    talk = video_corpus.id("talk.webm")
    first = http.get(f"/thumbs/{talk}?t=3.6").content
    assert http.get(f"/thumbs/{talk}?t=5.9").content == first  # the same keyframe
    assert http.get(f"/thumbs/{talk}?t=6.1").content != first
    cache = video_corpus.settings.data_dir / "thumbs"
    assert len(list(cache.glob(f"{talk}-*.jpg"))) == 2
    assert http.get(f"/thumbs/{talk}?t=-1").status_code == 400
    similar = http.get(f"/api/items/{talk}/similar", params={"at": 7.0}).json()
    assert similar["results"][0]["id"] == video_corpus.id("orchard.mp4")


def test_the_player_starts_at_the_spoken_phrase(vpage, video_corpus: VideoCorpus) -> None:
    talk = video_corpus.id("talk.webm")
    vpage.goto("/?" + urlencode({"q": "copper cables repaired"}))
    card = vpage.locator(f'#grid .card[data-id="{talk}"]')
    expect(card).to_be_visible()
    expect(card.locator(".kind")).to_have_text("Video")
    expect(card.locator(".when")).to_contain_text("said 0:0")
    player = card.locator("video")
    start = float(player.get_attribute("data-start"))
    assert start == pytest.approx(NARRATION_AT, abs=1.0)
    vpage.wait_for_function("v => v.readyState >= 1", arg=player.element_handle(), timeout=30_000)
    assert player.evaluate("v => v.currentTime") == pytest.approx(start, abs=0.3)
    assert "/thumbs/" in player.get_attribute("poster")
    player.evaluate("v => { v.muted = true; return v.play(); }")
    vpage.wait_for_function("([v, s]) => v.currentTime > s + 0.3", arg=[player.element_handle(),
                                                                        start], timeout=30_000)
    shot(vpage, "page-video-moment")


def test_more_like_this_from_a_video_moment(vpage, video_corpus: VideoCorpus) -> None:
    vpage.goto("/?" + urlencode({"q": "zebra harvest", "type": "video"}))
    talk = video_corpus.id("talk.webm")
    card = vpage.locator(f'#grid .card[data-id="{talk}"]')
    expect(card).to_be_visible()
    card.locator("button.like").click()
    expect(vpage).to_have_url(re.compile(rf"similar={talk}&at=6\.\d+"))
    expect(vpage.locator("#attachments")).to_contain_text("at 0:06")
    first = vpage.locator("#grid .card").first
    expect(first).to_have_attribute("data-id", str(video_corpus.id("orchard.mp4")))


def test_an_uploaded_video_is_indexed_and_found(video_corpus: VideoCorpus, encoders: object,
                                                tmp_path) -> None:
    """POST /api/index takes a video; its slide is then found at its time."""
    from tests.fixtures_server import TOKEN, _serve
    from tests.media_video import Slide, slide_video

    clip = slide_video(tmp_path / "upload.mp4", [Slide("Velvet Compass", 2.0, "maroon"),
                                                 Slide("Amber Lantern", 2.0, "navy")])
    settings = video_corpus.settings.model_copy(
        update={"data_dir": tmp_path / "data", "api_token": TOKEN})
    server = _serve(settings, encoders)
    try:
        with httpx.Client(base_url=server.url, timeout=120) as c:
            r = c.post("/api/index", files={"files": ("upload.mp4", clip.read_bytes(),
                                                      "video/mp4")},
                       headers={"Authorization": f"Bearer {TOKEN}"})
            assert r.status_code == 200 and r.json()["added"] == 1, r.text
            top = c.get("/api/search", params={"q": "amber lantern"}).json()["results"][0]
            assert top["type"] == "video" and top["match"]["start"] == pytest.approx(2.0, abs=0.6)
    finally:
        server.stop()
        server.extra["engine"].close()
