"""The JSON API over a real uvicorn server on 127.0.0.1 and a real indexed corpus.

Every request goes through a TCP socket and uvicorn's HTTP parser; the engine behind the app is
the real one over the corpus the fixtures built. Queries are taken from the corpus itself (a
word of an indexed passage, an indexed picture), so the assertions hold for whatever the corpus
contains.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from retrieval.results import ItemDetail, SearchResponse
from tests.api_helpers import a_word, assert_error
from tests.media import speak

# ---------------------------------------------------------------- health, stats, docs


def test_healthz(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_stats_count_the_corpus(client: httpx.Client, live) -> None:
    r = client.get("/api/stats")
    assert r.status_code == 200
    items = r.json()["items"]
    expected: dict[str, int] = {}
    for kind in live.items.values():
        expected[kind] = expected.get(kind, 0) + 1
    assert items == expected


def test_openapi_documents_every_endpoint(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    for path in (
        "/api/search",
        "/api/items/{item_id}",
        "/api/items/{item_id}/similar",
        "/api/stats",
        "/healthz",
        "/media/{item_id}",
        "/thumbs/{item_id}",
    ):
        assert path in paths
    assert "post" in paths["/api/search"]
    assert "/api/index" not in paths  # no token configured on this server: no write endpoint


def test_page_is_served_with_a_strict_csp(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    assert "script-src 'self'" in r.headers["content-security-policy"]
    for asset in ("/static/app.js", "/static/app.css"):
        assert client.get(asset).status_code == 200


# ---------------------------------------------------------------- search


def test_text_search_returns_the_cli_shape_plus_urls(client: httpx.Client, live) -> None:
    doc_id, passage = live.passage("text")
    r = client.get("/api/search", params={"q": a_word(passage)})
    assert r.status_code == 200, r.text
    body = r.json()
    SearchResponse.model_validate(body)  # the same objects as `xmodal search --json`
    assert body["query"]["text"] == a_word(passage)
    assert body["results"], body
    for res in body["results"]:
        assert res["media_url"] == f"/media/{res['id']}"
        assert res["thumb_url"] == f"/thumbs/{res['id']}"
        assert res["type"] == live.items[res["id"]]
    assert doc_id in [res["id"] for res in body["results"]]
    assert sum(body["counts"].values()) >= len(body["results"])


def test_a_spoken_passage_is_found_by_its_words_at_its_segment(client: httpx.Client, live) -> None:
    audio_id, segment = live.segment()
    r = client.get("/api/search", params={"q": segment["text"], "limit": 50})
    assert r.status_code == 200
    hits = [res for res in r.json()["results"] if res["id"] == audio_id]
    assert hits, r.json()
    match = hits[0]["match"]
    assert match["kind"] == "segment" and match["start"] is not None and match["end"] is not None
    assert hits[0]["scores"], "each result says how each space ranked it"


def test_type_filter_and_paging(client: httpx.Client, live) -> None:
    _, passage = live.passage("text")
    q = a_word(passage)
    for kind in sorted(set(live.items.values())):
        r = client.get("/api/search", params={"q": q, "type": kind})
        assert r.status_code == 200
        assert all(res["type"] == kind for res in r.json()["results"])
    both = client.get("/api/search", params={"q": q, "type": "image,text"}).json()
    assert {res["type"] for res in both["results"]} <= {"image", "text"}
    full = client.get("/api/search", params={"q": q, "limit": 6}).json()["results"]
    page2 = client.get("/api/search", params={"q": q, "limit": 3, "offset": 3}).json()["results"]
    assert [x["id"] for x in page2] == [x["id"] for x in full[3:6]]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "   "},
        {"q": "x", "type": "movie"},
        {"q": "x", "limit": 0},
        {"q": "x", "limit": 1000},
        {"q": "x", "limit": "ten"},
        {"q": "x", "offset": -1},
        {"q": "x" * 5000},
    ],
)
def test_bad_search_parameters_are_400(client: httpx.Client, params: dict) -> None:
    assert_error(client.get("/api/search", params=params), 400)


def test_an_oversized_query_string_is_refused_not_crashed(client: httpx.Client) -> None:
    r = client.get("/api/search", params={"q": "word " * 6000})
    assert 400 <= r.status_code < 500


def test_post_search_with_text(client: httpx.Client, live) -> None:
    doc_id, passage = live.passage("text")
    r = client.post("/api/search", data={"q": a_word(passage), "limit": "5"})
    assert r.status_code == 200, r.text
    assert len(r.json()["results"]) <= 5
    assert doc_id in [res["id"] for res in r.json()["results"]]


def test_post_search_with_an_indexed_image_finds_it(client: httpx.Client, live) -> None:
    image_id = live.first("image")
    data = live.paths[image_id].read_bytes()
    r = client.post("/api/search", files={"image": ("query.jpg", data, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["query"]["image"] is True
    assert body["results"][0]["id"] == image_id
    assert "clip" in body["results"][0]["scores"]


def test_post_search_with_a_spoken_question(client: httpx.Client, live, tmp_path: Path) -> None:
    audio_id, segment = live.segment()
    wav = speak(segment["text"], tmp_path / "question.wav")
    r = client.post("/api/search", files={"audio": ("question.wav", wav.read_bytes(), "audio/wav")})
    assert r.status_code == 200, r.text
    body = r.json()
    heard = (body["query"]["transcript"] or "").lower()
    spoken = set(re.findall(r"[a-z]{4,}", segment["text"].lower()))
    assert spoken & set(re.findall(r"[a-z]{4,}", heard)), (segment["text"], heard)
    assert audio_id in [res["id"] for res in body["results"]]


def test_a_recorded_webm_question_is_understood(client: httpx.Client, live, tmp_path: Path) -> None:
    """What the page's MediaRecorder sends from Chromium: Opus in WebM."""
    audio_id, segment = live.segment()
    wav = speak(segment["text"], tmp_path / "question.wav")
    webm = tmp_path / "question.webm"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(wav), "-c:a", "libopus", str(webm)],
        check=True,
        timeout=60,
    )
    r = client.post("/api/search", files={"audio": ("blob", webm.read_bytes(), "audio/webm")})
    assert r.status_code == 200, r.text
    assert r.json()["query"]["transcript"]
    assert audio_id in [res["id"] for res in r.json()["results"]]


@pytest.mark.parametrize(
    ("field", "payload", "ctype", "status"),
    [
        ("image", b"just some words, not a picture", "image/png", 415),
        ("image", b"RIFF\x24\x00\x00\x00WAVEfmt ", "image/png", 415),
        ("audio", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "audio/wav", 415),
        ("audio", b"#!/bin/sh\necho hi\n", "audio/wav", 415),
        ("image", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png", (400, 422)),
        ("image", b"", "image/png", 400),
    ],
)
def test_bad_uploads_are_refused(client, field, payload, ctype, status) -> None:
    r = client.post("/api/search", files={field: ("upload.bin", payload, ctype)})
    assert_error(r, status)


def test_undecodable_audio_is_a_4xx(client: httpx.Client) -> None:
    wav = b"RIFF\xff\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x07" * 200
    assert_error(
        client.post("/api/search", files={"audio": ("q.wav", wav, "audio/wav")}), (400, 422)
    )


@pytest.mark.parametrize(
    "weights", ["[1, 2]", "{bad json", '{"vision": 1}', '{"text": -1}', '{"text": "a"}']
)
def test_bad_weights_are_400(client: httpx.Client, weights: str) -> None:
    assert_error(client.post("/api/search", data={"q": "boat", "weights": weights}), 400)


def test_weights_steer_the_spaces(client: httpx.Client, live) -> None:
    _, passage = live.passage("text")
    r = client.post("/api/search", data={"q": a_word(passage), "weights": '{"text": 0, "clip": 0}'})
    assert r.status_code == 200
    for res in r.json()["results"]:
        assert set(res["scores"]) <= {"keyword"}


def test_an_upload_over_the_limit_is_413(client: httpx.Client, live) -> None:
    big = b"\x89PNG\r\n\x1a\n" + b"\x00" * (live.max_upload_mb * 1024 * 1024 + 1)
    r = client.post("/api/search", files={"image": ("big.png", big, "image/png")})
    assert assert_error(r, 413)["code"] == "too_large"


def test_a_chunked_upload_is_cut_off_while_streaming(client: httpx.Client, live) -> None:
    sent = 0
    limit = live.max_upload_mb * 1024 * 1024

    def body():
        nonlocal sent
        yield (
            b'--xx\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n'
            b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
        )
        block = b"\x00" * 65536
        while sent < 4 * limit:  # an endless upload would also end here
            sent += len(block)
            yield block

    r = client.post(
        "/api/search", content=body(), headers={"content-type": "multipart/form-data; boundary=xx"}
    )
    assert_error(r, 413)
    assert sent < 4 * limit, "the server stopped reading before the whole body was sent"


# ---------------------------------------------------------------- items and similar


def test_item_details_for_each_kind(client: httpx.Client, live) -> None:
    for kind in sorted(set(live.items.values())):
        item_id = live.first(kind)
        r = client.get(f"/api/items/{item_id}")
        assert r.status_code == 200
        detail = ItemDetail.model_validate(r.json())
        assert detail.type == kind and str(live.paths[item_id]) in detail.paths
        assert r.json()["media_url"] == f"/media/{item_id}"


@pytest.mark.parametrize(
    "path",
    [
        "/api/items/{missing}",
        "/api/items/{missing}/similar",
        "/media/{missing}",
        "/thumbs/{missing}",
    ],
)
def test_unknown_ids_are_404(client: httpx.Client, live, path: str) -> None:
    assert (
        assert_error(client.get(path.format(missing=live.missing_id)), 404)["code"] == "not_found"
    )


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5", "99999999999999999999999", "0x10", "%00"])
def test_malformed_ids_are_4xx(client: httpx.Client, bad: str) -> None:
    for prefix in ("/api/items/", "/media/", "/thumbs/"):
        assert_error(client.get(prefix + bad), (400, 404))


def test_similar_items(client: httpx.Client, live) -> None:
    item_id = live.first("text")
    r = client.get(f"/api/items/{item_id}/similar", params={"limit": 5})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert 0 < len(results) <= 5
    assert item_id not in [res["id"] for res in results]
    assert all(res["media_url"] == f"/media/{res['id']}" for res in results)
    assert_error(client.get(f"/api/items/{item_id}/similar", params={"limit": 0}), 400)


# ---------------------------------------------------------------- the rest of the surface


def test_unknown_routes_and_methods_are_json_4xx(client: httpx.Client) -> None:
    assert_error(client.get("/api/nothing-here"), 404)
    assert_error(client.delete("/api/search"), 405)
    assert_error(
        client.post("/api/index", files={"files": ("a.txt", b"hi", "text/plain")}), (404, 405)
    )


def test_cors_is_off_unless_configured(client: httpx.Client) -> None:
    r = client.get("/api/stats", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = client.options(
        "/api/search",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in pre.headers


def test_voice_queries_beyond_the_limit_get_retry_after(writable, tmp_path: Path) -> None:
    """Transcription is expensive: past the limit (1 on this server) the answer is 503."""
    wav = speak("where is the harbour office", tmp_path / "q.wav").read_bytes()
    answers: list[httpx.Response] = []
    gate = threading.Barrier(4)

    def ask() -> None:
        with httpx.Client(base_url=writable.url, timeout=120) as c:
            gate.wait()
            answers.append(c.post("/api/search", files={"audio": ("q.wav", wav, "audio/wav")}))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(r.status_code for r in answers)
    assert 503 in statuses and all(s in (200, 422, 503) for s in statuses), statuses
    busy = [r for r in answers if r.status_code == 503]
    assert all(r.headers.get("retry-after") for r in busy)
    assert assert_error(busy[0], 503)["code"] == "busy"


def test_a_transcription_does_not_block_other_requests(live, tmp_path: Path) -> None:
    """Whisper runs in a worker thread: the event loop keeps answering meanwhile."""
    _, segment = live.segment()
    wav = speak(segment["text"] + ". " + segment["text"], tmp_path / "long.wav").read_bytes()
    done = threading.Event()

    def ask() -> None:
        with httpx.Client(base_url=live.url, timeout=300) as c:
            c.post("/api/search", files={"audio": ("q.wav", wav, "audio/wav")})
        done.set()

    worker = threading.Thread(target=ask)
    worker.start()
    slowest = 0.0
    with httpx.Client(base_url=live.url, timeout=30) as c:
        while not done.is_set():
            t0 = time.perf_counter()
            assert c.get("/healthz").status_code == 200
            slowest = max(slowest, time.perf_counter() - t0)
            time.sleep(0.05)
    worker.join()
    assert slowest < 1.5, f"/healthz took {slowest:.2f} s while a voice query ran"
