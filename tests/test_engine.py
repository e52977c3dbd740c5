"""The engine's plumbing on a hand-built catalog with tiny fake models (no weights, fast).

See ``tests/engine_fakes.py`` for the models and corpus. This pins the engine's own logic:
which spaces a query reaches, filters, paging, codes, errors, threads, index reloads.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from PIL import Image

from retrieval.catalog.database import Catalog
from retrieval.catalog.lookups import item_paths
from retrieval.config import Settings
from retrieval.engine import Engine
from retrieval.errors import ItemNotFound, MediaError, ModelUnavailable
from retrieval.results import Query
from retrieval.search.fusion import fuse
from retrieval.search.keywords import keyword_terms, needed
from retrieval.search.page import dress_page
from retrieval.store import rebuild_vector_index
from tests.engine_fakes import DOCS, build, fake_encoders

# Every search test runs on both vector stores: FAISS files and Milvus (Lite) built from the
# same catalog must answer alike (docs/scaling.md).
STORES = ["faiss", "milvus"]


@pytest.fixture(scope="module", params=STORES)
def corpus(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, dict[str, int]]:
    data = tmp_path_factory.mktemp("engine-data")
    enc = fake_encoders()
    ids = build(data, enc)
    engine = Engine(Settings(XMODAL_DATA=data, vector_store=request.param),
                    encoders=enc)  # type: ignore[arg-type]
    yield engine, ids
    engine.close()


def paths(resp) -> list[str]:  # noqa: ANN001
    return [r.path for r in resp.results]


def test_text_query_reaches_every_space_and_keeps_best_part(corpus) -> None:  # noqa: ANN001
    engine, ids = corpus
    resp = engine.search(Query(text="boat river", limit=5))
    by_path = {r.path: r for r in resp.results}
    talk = by_path["/c/talks/harbour.wav"]
    assert talk.match.kind == "segment" and talk.match.start == 2.0 and talk.match.end == 4.5
    assert set(talk.scores) == {"text", "clip", "keyword"}
    # vector spaces rank every item, so counts cover the whole (small) collection
    assert resp.counts == {"audio": 1, "image": 2, "text": len(DOCS) - 3}
    assert resp.query.text == "boat river" and resp.query.transcript is None


def test_code_found_exactly_by_keyword(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    resp = engine.search(Query(text="INV-4471"))
    assert resp.results[0].path == "/c/docs/inv-4471.txt"
    assert resp.results[0].scores["keyword"].rank == 1
    kw = [r.path for r in resp.results if "keyword" in r.scores]
    assert kw == ["/c/docs/inv-4471.txt"]  # not INV-4417 or INV-7441


@pytest.mark.parametrize(
    "text", ['"', "AND", "a OR", "NEAR(x y)", "col:val", "-x", "*", "^", "(((", "INV-4471*"]
)
def test_hostile_text_never_breaks_keyword_search(corpus, text: str) -> None:  # noqa: ANN001
    engine, _ = corpus
    engine.search(Query(text=text))


def test_filters(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    resp = engine.search(Query(text="river boat", types=["image"]))
    assert paths(resp) == ["/c/pics/red.png", "/c/pics/blue.png"]  # red has the words
    assert resp.counts == {"image": 2}
    resp = engine.search(Query(text="river boat invoice", path_glob="/c/docs/"))
    assert paths(resp) and all(p.startswith("/c/docs/") for p in paths(resp))
    resp = engine.search(Query(text="river boat invoice", path_glob="*.wav"))
    assert paths(resp) == ["/c/talks/harbour.wav"]
    resp = engine.search(Query(text="invoice river", modified_after=350, modified_before=550))
    assert set(paths(resp)) == {"/c/talks/harbour.wav", "/c/pics/red.png"}


def test_paging_is_stable_and_complete(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    full = paths(engine.search(Query(text="note common words river", limit=40)))
    pages = [
        paths(engine.search(Query(text="note common words river", limit=7, offset=o)))
        for o in range(0, 42, 7)
    ]
    assert [p for page in pages for p in page] == full
    assert len(set(full)) == len(full)


def test_both_fusion_modes_and_weights(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    score = engine.search(Query(text="INV-4471", fusion="score"))
    assert score.results[0].path == "/c/docs/inv-4471.txt"
    only_text = engine.search(Query(text="boat river", weights={"clip": 0, "keyword": 0}))
    assert all(set(r.scores) == {"text"} for r in only_text.results)
    with pytest.raises(ValueError):
        engine.search(Query(text="x", weights={"bogus": 1}))


def test_image_query_and_text_plus_image(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (240, 30, 20)).save(buf, "PNG")
    resp = engine.search(Query(image=buf.getvalue(), limit=3))
    assert resp.results[0].path == "/c/pics/red.png"
    assert set(resp.results[0].scores) == {"clip"}
    assert resp.query.image is True
    both = engine.search(Query(text="river", image=buf.getvalue()))
    assert "/c/pics/red.png" in paths(both)
    with pytest.raises(MediaError):
        engine.search(Query(image=b"not an image"))


def test_audio_query_is_transcribed_and_searched_as_text(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    resp = engine.search(Query(audio=b"INV-4471"))
    assert resp.query.transcript == "INV-4471"
    assert resp.results[0].path == "/c/docs/inv-4471.txt"
    calls = engine.encoders.speech.calls
    again = engine.search(Query(audio=b"INV-4471", offset=1))  # the next page: cached transcript
    assert again.query.transcript == "INV-4471" and engine.encoders.speech.calls == calls
    with pytest.raises(MediaError):
        engine.search(Query(audio=b""))
    with pytest.raises(MediaError):
        engine.search(Query(audio=b"\xff\xfe\xfa"))


def test_empty_query_and_unknown_ids(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    for q in (Query(), Query(text="   ")):
        with pytest.raises(ValueError):
            engine.search(q)
    for call in (engine.similar, engine.item, engine.media_path):
        with pytest.raises(ItemNotFound):
            call(987654)


def test_similar_uses_stored_vectors_and_skips_itself(corpus) -> None:  # noqa: ANN001
    engine, ids = corpus
    resp = engine.similar(ids["/c/docs/inv-4471.txt"], limit=3)
    assert "/c/docs/inv-4471.txt" not in paths(resp)
    assert set(paths(resp)[:2]) == {"/c/docs/inv-4417.txt", "/c/docs/inv-7441.txt"}
    img = engine.similar(ids["/c/pics/red.png"], limit=40)
    assert "/c/pics/red.png" not in paths(img)


def test_item_detail_and_stats(corpus) -> None:  # noqa: ANN001
    engine, ids = corpus
    detail = engine.item(ids["/c/talks/harbour.wav"])
    assert detail.type == "audio" and detail.paths == ["/c/talks/harbour.wav"]
    assert [p.start for p in detail.parts] == [0.0, 2.0]
    stats = engine.stats()
    assert stats.items["image"] == 2
    assert stats.spaces["text"].dim == 64
    assert engine.item_id_for_path("/c/pics/red.png") == ids["/c/pics/red.png"]


def test_concurrent_searches_agree(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    want = paths(engine.search(Query(text="river boat", limit=10)))
    got: list[list[str]] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                got.append(paths(engine.search(Query(text="river boat", limit=10))))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 40 and all(g == want for g in got)


@pytest.mark.parametrize("store", STORES)
def test_replaced_index_file_is_reloaded(tmp_path: Path, store: str) -> None:
    enc = fake_encoders()
    build(tmp_path, enc)
    settings = Settings(XMODAL_DATA=tmp_path, vector_store=store)
    engine = Engine(settings, encoders=enc)  # type: ignore[arg-type]
    try:
        assert "/c/docs/boats.txt" in paths(engine.search(Query(text="river boat")))
        # an indexing run removes boats.txt's vectors and saves the text index anew
        cat = Catalog(tmp_path / "catalog.sqlite")
        idx = rebuild_vector_index(settings, cat, "text")
        boats = engine.item_id_for_path("/c/docs/boats.txt")
        idx.remove([p.id for p in cat.parts_of(boats)])
        idx.save()
        cat.close()
        resp = engine.search(Query(text="sails dawn", weights={"clip": 0, "keyword": 0}))
        assert "/c/docs/boats.txt" not in paths(resp)
    finally:
        engine.close()


def test_missing_clip_model_leaves_other_spaces(tmp_path: Path) -> None:
    build(tmp_path, fake_encoders())
    engine = Engine(Settings(XMODAL_DATA=tmp_path), encoders=fake_encoders(clip=False))  # type: ignore[arg-type]
    try:
        resp = engine.search(Query(text="river boat"))
        assert resp.results and all("clip" not in r.scores for r in resp.results)
        png = io.BytesIO()
        Image.new("RGB", (4, 4)).save(png, "PNG")
        with pytest.raises(ModelUnavailable):
            engine.search(Query(image=png.getvalue()))
        engine.encoders.speech = None
        with pytest.raises(ModelUnavailable):
            engine.search(Query(audio=b"hello"))
    finally:
        engine.close()


def test_keyword_terms_drop_stopwords_keep_codes() -> None:
    assert keyword_terms("What is the total of INV-4471? Total!") == ["total", "inv-4471"]
    assert keyword_terms("to be or not to be") == ["to", "be", "or", "not"]  # nothing else left
    assert keyword_terms('"AND" (NEAR Café') == ["near", "cafe"]
    assert [needed(n) for n in (1, 2, 3, 4, 5, 6)] == [1, 2, 2, 2, 3, 3]


def test_keyword_space_needs_most_query_words(corpus) -> None:  # noqa: ANN001
    engine, _ = corpus
    # "river" alone matches three items; with two unrelated words it is too little of the query
    resp = engine.search(Query(text="river", weights={"text": 0, "clip": 0}))
    assert set(paths(resp)) == {"/c/docs/boats.txt", "/c/talks/harbour.wav", "/c/pics/red.png"}
    resp = engine.search(Query(text="river grapefruit telescope", weights={"text": 0, "clip": 0}))
    assert paths(resp) == []
    resp = engine.search(Query(text="boat river telescope", weights={"text": 0, "clip": 0}))
    assert set(paths(resp)) == {"/c/docs/boats.txt", "/c/talks/harbour.wav"}


def test_empty_data_dir_answers_with_no_results(tmp_path: Path) -> None:
    engine = Engine(Settings(XMODAL_DATA=tmp_path / "fresh"), encoders=fake_encoders())  # type: ignore[arg-type]
    try:
        resp = engine.search(Query(text="anything at all"))
        assert resp.results == [] and resp.counts == {}
        assert engine.stats().items == {}
    finally:
        engine.close()


def test_a_page_dressed_with_paths_looked_up_early_is_the_same_page(corpus) -> None:  # noqa: ANN001
    """The engine looks up the paths of what MiniLM and the keywords found while CLIP's text
    tower still runs; the page must not differ from one whose paths were all looked up after."""
    engine, _ = corpus
    query = Query(text="boat river", limit=5)
    found = engine.candidates(query)
    early = item_paths(engine.catalog, [h.item_id for h in found.lists["text"]], None)
    assert early, "some paths were looked up before fusion"
    fused = fuse(found.lists, method="auto", weights=found.weights)
    page = dress_page(engine.catalog, fused, 0, 5, found.echo, None, 0.0, paths=early,
                      calibrated=True)
    whole = engine.search(query)
    assert [(r.id, r.path, r.type) for r in page.results] == [
        (r.id, r.path, r.type) for r in whole.results]
    assert page.counts == whole.counts
