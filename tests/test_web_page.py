"""The search page in a real browser (Debian's Chromium, headless) against the live server.

Each test drives the page the way a person would (typing, picking files, clicking) and checks
what is on screen. Screenshots land in tests/output/ so a person can look at the result.
"""

from __future__ import annotations

import re
import wave
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.fixtures_browser import CHROMIUM, CHROMIUM_ARGS, open_page
from tests.media import speak

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

OUTPUT = Path(__file__).parent / "output"
SLOW = 90_000  # ms: a voice query transcribes on two shared CPU cores


@pytest.fixture()
def page(browser, live) -> Iterator[object]:
    with open_page(browser, live.url) as pg:
        yield pg


def shot(pg, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    pg.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)


def search_word(live) -> str:
    _, passage = live.passage("text")
    return max(re.findall(r"[A-Za-z]{4,}", passage), key=len).lower()


def test_the_empty_page_explains_itself(page) -> None:
    page.goto("/")
    expect(page.locator("#message")).to_contain_text("Search everything")
    expect(page.locator("#q")).to_be_visible()


def test_typing_shows_mixed_results_and_the_url_follows(page, live) -> None:
    word = search_word(live)
    page.goto("/")
    page.locator("#q").press_sequentially(word, delay=40)
    cards = page.locator("#grid .card")
    expect(cards.first).to_be_visible()
    kinds = set(cards.evaluate_all("els => els.map(e => e.dataset.type)"))
    assert len(kinds) >= 2, kinds
    expect(page).to_have_url(re.compile(rf"\?q={word}$"))
    chips = page.locator("#chips .chip")
    expect(chips.first).to_contain_text("All")
    expect(page.locator("#grid mark").first).to_be_visible()  # matched words are highlighted
    page.locator(".card .why summary").first.click()
    expect(page.locator(".card .why li").first).to_contain_text("#")
    shot(page, "page-results")

    # a filter chip narrows the grid to one kind and keeps the counts of the others
    page.locator('#chips .chip[data-type="text"]').click()
    expect(page).to_have_url(re.compile(r"type=text"))
    expect(page.locator('#grid .card:not([data-type="text"])')).to_have_count(0)
    expect(page.locator("#grid .card").first).to_be_visible()


def test_back_button_returns_to_the_previous_query(page, live) -> None:
    word = search_word(live)
    page.goto(f"/?q={word}")
    expect(page.locator("#grid .card").first).to_be_visible()
    page.locator("#q").fill("recording")
    page.locator("#q").press("Enter")
    expect(page).to_have_url(re.compile(r"\?q=recording$"))
    page.go_back()
    expect(page).to_have_url(re.compile(rf"\?q={word}$"))
    expect(page.locator("#q")).to_have_value(word)
    expect(page.locator("#grid .card").first).to_be_visible()


def test_keyboard_only(page, live) -> None:
    page.goto("/")
    page.locator("body").press("/")
    expect(page.locator("#q")).to_be_focused()
    page.keyboard.type(search_word(live))
    page.keyboard.press("Enter")
    expect(page.locator("#grid .card").first).to_be_visible()
    # Typing also starts the as-you-type search: let every answer land (and re-render the
    # grid) before walking it, or Enter can reach a button that was just replaced.
    page.wait_for_load_state("networkidle")
    for _ in range(40):  # Tab until a result's "More like this" button has focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('like')"):
            break
    else:
        pytest.fail("no result action is reachable by keyboard")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"similar=\d+"))
    expect(page.locator("#attachments")).to_contain_text("Like")


def test_uploading_an_image_finds_it(page, live) -> None:
    image_id = live.first("image")
    page.goto("/")
    page.locator("#image-file").set_input_files(str(live.paths[image_id]))
    expect(page.locator("#attachments img")).to_be_visible()
    first = page.locator("#grid .card").first
    expect(first).to_have_attribute("data-id", str(image_id), timeout=SLOW)
    expect(first.locator(".thumb img")).to_be_visible()
    # The thumbnail is made on first request, which takes a while on a loaded machine: wait for
    # it to have loaded (a broken image never gets a natural width), don't sample it once.
    first.locator(".thumb img").evaluate(
        "img => img.complete && img.naturalWidth > 0 ? true : new Promise((ok, no) => {"
        " img.addEventListener('load', () => ok(true)); img.addEventListener('error', no); })")
    assert first.locator(".thumb img").evaluate("img => img.naturalWidth > 0")
    shot(page, "page-image-query")


def test_a_spoken_question_shows_its_transcript_and_results(page, live, tmp_path) -> None:
    audio_id, segment = live.segment()
    wav = speak(segment["text"], tmp_path / "spoken-question.wav")
    page.goto("/")
    # Hold the search request so the transient "Transcribing" state cannot be missed, however
    # fast the server answers.
    held: list = []
    page.route("**/api/search", lambda route: held.append(route))
    page.locator("#audio-file").set_input_files(str(wav))
    expect(page.locator("#busy")).to_contain_text("Transcribing")
    for _ in range(100):  # the route handler runs while Playwright is waited on
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1 and held[0].request.method == "POST"
    held[0].continue_()
    page.unroute("**/api/search")
    heard = page.locator("#heard")
    expect(heard).to_be_visible(timeout=SLOW)
    spoken = set(re.findall(r"[a-z]{4,}", segment["text"].lower()))
    assert spoken & set(re.findall(r"[a-z]{4,}", heard.inner_text().lower()))
    expect(page.locator(f'#grid .card[data-id="{audio_id}"]')).to_be_visible()
    expect(page.locator("#grid mark").first).to_be_visible()
    shot(page, "page-voice-query")


def test_a_speech_result_plays_from_its_segment(page, live) -> None:
    audio_id, segment = live.segment(later=True)
    page.goto("/?" + urlencode({"q": segment["text"]}))
    card = page.locator(f'#grid .card[data-id="{audio_id}"]')
    expect(card).to_be_visible()
    start = float(card.locator("audio").get_attribute("data-start"))
    assert abs(start - segment["start"]) < 0.01
    player = card.locator("audio")
    page.wait_for_function("a => a.readyState >= 1", arg=player.element_handle(), timeout=30_000)
    assert abs(player.evaluate("a => a.currentTime") - start) < 0.3
    expect(card.locator(".when")).to_be_visible()
    expect(card.locator(".snippet")).not_to_be_empty()


def test_a_phone_width_screen_has_no_horizontal_scroll(browser, live) -> None:
    context = browser.new_context(
        viewport={"width": 375, "height": 812}, base_url=live.url, is_mobile=True, has_touch=True
    )
    pg = context.new_page()
    try:
        pg.goto(f"/?q={search_word(live)}")
        expect(pg.locator("#grid .card").first).to_be_visible()
        pg.locator(".card .why summary").first.click()
        overflow = pg.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{overflow}px of horizontal scroll at 375px"
        wide = pg.evaluate("""[...document.querySelectorAll('body *')]
            .filter(e => e.checkVisibility() && e.getBoundingClientRect().right > innerWidth + 1)
            .map(e => e.tagName + '.' + e.className).slice(0, 5)""")
        assert not wide, wide
        shot(pg, "page-phone")
    finally:
        context.close()


def test_errors_are_shown_not_swallowed(page, live, tmp_path) -> None:
    page.goto(f"/?similar={live.missing_id}")
    expect(page.locator("#message.error")).to_contain_text("no such item")
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    page.locator("#image-file").set_input_files(str(broken))
    expect(page.locator("#message.error")).to_be_visible()
    expect(page.locator("#message.error button")).to_have_text("Try again")


def test_dropping_or_pasting_a_picture_searches_with_it(page, live) -> None:
    image_id = live.first("image")
    page.goto("/")
    for event in ("drop", "paste"):
        page.evaluate(
            """async ([id, kind]) => {
                const blob = await (await fetch(`/media/${id}`)).blob();
                const dt = new DataTransfer();
                dt.items.add(new File([blob], `dropped-${kind}.png`, { type: blob.type }));
                const opts = { bubbles: true, cancelable: true };
                const ev = kind === "drop"
                    ? new DragEvent("drop", { ...opts, dataTransfer: dt })
                    : new ClipboardEvent("paste", { ...opts, clipboardData: dt });
                document.dispatchEvent(ev);
            }""",
            [image_id, event],
        )
        expect(page.locator("#attachments")).to_contain_text(f"dropped-{event}.png")
        expect(page.locator("#grid .card").first).to_have_attribute(
            "data-id", str(image_id), timeout=SLOW
        )


def test_recording_a_question_with_the_microphone(playwright, live, tmp_path) -> None:
    """Chromium's fake microphone plays a spoken WAV into MediaRecorder, as a person would."""
    audio_id, segment = live.segment()
    wav = speak(segment["text"], tmp_path / "mic.wav")
    b = playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={wav}%noloop",
        ],
    )
    try:
        context = b.new_context(base_url=live.url, permissions=["microphone"])
        pg = context.new_page()
        pg.goto("/")
        pg.locator("#record").click()
        expect(pg.locator("#record")).to_have_attribute("aria-pressed", "true")
        with wave.open(str(wav)) as w:  # let the whole question play into the microphone
            pg.wait_for_timeout(1000 * w.getnframes() / w.getframerate() + 800)
        pg.locator("#record").click()
        expect(pg.locator("#heard")).to_be_visible(timeout=SLOW)
        heard = set(re.findall(r"[a-z]{4,}", pg.locator("#heard").inner_text().lower()))
        assert heard & set(re.findall(r"[a-z]{4,}", segment["text"].lower()))
        expect(pg.locator(f'#grid .card[data-id="{audio_id}"]')).to_be_visible()
    finally:
        b.close()


def test_a_query_nothing_answers_says_no_good_match(page, live) -> None:
    page.goto("/?q=" + "zebra quantum chromodynamics lattice")
    cards = page.locator("#grid .card")
    expect(cards.first).to_be_visible()  # the closest items are still there to look at...
    expect(page.locator("#no-good-match")).to_have_text("No good match")  # ...but said weak
    expect(page.locator("#grid .weak-divider")).to_have_count(1)
    assert cards.count() == page.locator("#grid .card.weak").count()
    shot(page, "page-no-good-match")
