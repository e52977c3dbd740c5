"""The page's library features in a real browser: metadata filters, metadata on the cards,
near-duplicates shown once with a count, and the duplicates view.

A small library of generated photos with camera EXIF (one of them also saved as two smaller
copies) and a document is served by the real app; Chromium drives the page as a person would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.fixtures_browser import open_page
from tests.media import exif_photo, pattern_image
from tests.test_web_page import shot

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect


@pytest.fixture(scope="module")
def library_site(tmp_path_factory: pytest.TempPathFactory, encoders: Any,
                 offline_settings: Any) -> Iterator[dict[str, Any]]:
    from PIL import Image

    from indexer.pipeline import run_index
    from retrieval.engine import Engine
    from tests.live_server import start_server
    from web.app import create_app

    root = tmp_path_factory.mktemp("site")
    ny = exif_photo(root / "ny.jpg", pattern_image(11, (320, 240)), taken="2024:05:01 14:30:00",
                    make="Canon", model="Canon EOS R5", gps=(40.7128, -74.0060))
    exif_photo(root / "copies" / "ny_small.jpg", pattern_image(11, (320, 240)).resize(
        (160, 120), Image.Resampling.LANCZOS), taken="2024:05:01 14:30:00", make="Canon",
        model="Canon EOS R5", gps=(40.7128, -74.0060))
    exif_photo(root / "copies" / "ny_q30.jpg", pattern_image(11, (320, 240)),
               taken="2024:05:01 14:30:00", make="Canon", model="Canon EOS R5",
               gps=(40.7128, -74.0060), quality=30)
    paris = exif_photo(root / "paris.jpg", pattern_image(12, (320, 240)),
                       taken="2023:08:15 09:05:00", make="NIKON CORPORATION",
                       model="NIKON D750", gps=(48.8566, 2.3522))
    (root / "notes.txt").write_text("Harbour notes: the ferry leaves at nine.\n")
    settings = offline_settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("site-data") / "data"})
    run_index(settings, [root], encoders=encoders, progress=False)
    engine = Engine(settings, encoders=encoders)
    server = start_server(create_app(settings, engine))
    ids = {"ny": engine.item_id_for_path(ny), "paris": engine.item_id_for_path(paris)}
    try:
        yield {"url": server.url, "ids": ids}
    finally:
        server.stop()
        engine.close()


@pytest.fixture()
def site_page(browser, library_site) -> Iterator[Any]:
    with open_page(browser, library_site["url"]) as pg:
        yield pg


def test_filters_narrow_the_grid_and_cards_show_metadata(site_page, library_site) -> None:
    page, ids = site_page, library_site["ids"]
    page.goto("/")
    page.locator("#filters summary").click()
    page.locator("#f-camera").fill("nikon")
    page.locator("#filter-form .apply").click()
    expect(page).to_have_url(re.compile(r"camera=nikon"))
    cards = page.locator("#grid .card")
    expect(cards).to_have_count(1)
    card = cards.first
    expect(card).to_have_attribute("data-id", str(ids["paris"]))
    meta = card.locator(".meta")
    expect(meta).to_contain_text("NIKON D750")
    expect(meta).to_contain_text("Paris")
    expect(meta).to_contain_text("15 Aug 2023")
    expect(page.locator("#filter-count")).to_have_text("1")

    page.locator("#f-camera").fill("")
    page.locator("#f-place").fill("new york")
    page.locator("#f-date-from").fill("2024")
    page.locator("#filter-form .apply").click()
    expect(cards).to_have_count(1)  # three copies of one photo: shown once
    expect(cards.first.locator(".similar-count")).to_have_text("+2 similar")
    expect(cards.first.locator(".meta")).to_contain_text("Canon EOS R5")
    shot(page, "page-filters")

    page.reload()  # the filters live in the URL
    expect(page.locator("#f-place")).to_have_value("new york")
    expect(cards).to_have_count(1)

    cards.first.locator(".similar-count").click()
    group = page.locator(".dup-group.focus")
    expect(group).to_be_visible()
    expect(group.locator("figure")).to_have_count(3)
    expect(page).to_have_url(re.compile(r"view=duplicates"))


def test_query_text_filters_negation_and_the_duplicates_view(site_page, library_site) -> None:
    page, ids = site_page, library_site["ids"]
    page.goto("/")
    page.locator("#q").fill('place:"new york" camera:canon')
    page.locator("#q").press("Enter")
    cards = page.locator("#grid .card")
    expect(cards).to_have_count(1)
    expect(cards.first).to_have_attribute("data-id", str(ids["ny"]))
    expect(cards.first.locator(".meta")).to_contain_text("1 May 2024")

    page.locator("#q").fill("harbour -ferry")
    page.locator("#q").press("Enter")
    expect(page.locator("#negative")).to_contain_text("ferry")
    notes = page.locator("#grid .card[data-type='text']")
    expect(notes.locator("mark").first).to_have_text(re.compile("harbour", re.I))
    assert "ferry" not in [m.lower() for m in notes.locator("mark").all_inner_texts()]

    page.locator("#dup-link").click()
    groups = page.locator(".dup-group")
    expect(groups).to_have_count(1)
    figures = groups.first.locator("figure")
    expect(figures).to_have_count(3)
    expect(figures.first).to_contain_text("largest")
    expect(figures.first).to_contain_text("320×240")
    assert figures.first.locator("img").evaluate("i => i.complete && i.naturalWidth > 0")
    expect(page.locator("#status")).to_contain_text("1 group")
    shot(page, "page-duplicates")
    page.go_back()
    expect(page.locator("#q")).to_have_value("harbour -ferry")
    expect(notes).to_be_visible()
