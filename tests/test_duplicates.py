"""Near-duplicate photos: copies of one picture are shown once, look-alike screenshots are not.

Generated photos: one picture saved three ways (original JPEG, half-size PNG, a low-quality
JPEG), a different picture, and text-on-white images. Two of those ("GATE B12" and "BLUE
HARBOR") have dHashes closer than the duplicate threshold, as screenshots do; only their OCR
text keeps them apart. The same text rendered at two sizes is one picture.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from retrieval.media.metadata import read_meta
from retrieval.results import Query
from retrieval.search.duplicates import MAX_DISTANCE, components, distance, near_pairs
from tests.media import pattern_image, text_image


def test_multi_index_hashing_finds_every_close_pair() -> None:
    rng = random.Random(7)
    hashes = {i: rng.getrandbits(64) - (1 << 63) for i in range(400)}
    for i in range(400, 460):  # planted neighbours 0-6 bits away
        base = hashes[i - 400]
        for bit in rng.sample(range(64), rng.randint(0, MAX_DISTANCE)):
            base ^= 1 << bit
        hashes[i] = base - (1 << 64) if base >= 1 << 63 else base
    brute = {(a, b) for a in hashes for b in hashes
             if a < b and distance(hashes[a], hashes[b]) <= MAX_DISTANCE}
    assert near_pairs(hashes) == brute and len(brute) >= 60
    assert components([(1, 2), (2, 3), (7, 8)]) == [[1, 2, 3], [7, 8]]


@pytest.fixture(scope="module")
def album(tmp_path_factory: pytest.TempPathFactory, encoders: Any,
          offline_settings: Any) -> dict[str, Any]:
    from PIL import Image

    from indexer.pipeline import run_index
    from retrieval.engine import Engine

    root = tmp_path_factory.mktemp("album")
    picture = pattern_image(7, (320, 240))
    paths = {"photo": root / "photo.jpg", "small": root / "copies" / "photo_small.png",
             "q40": root / "copies" / "photo_q40.jpg", "other": root / "other.jpg"}
    paths["small"].parent.mkdir()
    picture.save(paths["photo"], quality=95)
    picture.resize((160, 120), Image.Resampling.LANCZOS).save(paths["small"])
    picture.save(paths["q40"], quality=40)
    pattern_image(8, (320, 240)).save(paths["other"])
    for name, text, size in (("gate", "GATE B12", 40), ("harbor", "BLUE HARBOR", 40),
                             ("invoice", "INVOICE ZX-4471", 40),
                             ("invoice_big", "INVOICE ZX-4471", 60)):
        paths[name] = text_image([text], root / "screens" / f"{name}.png", size=size)
    settings = offline_settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("album-data") / "data"})
    run_index(settings, [root], encoders=encoders, progress=False)
    engine = Engine(settings, encoders=encoders)
    ids = {name: engine.item_id_for_path(p) for name, p in paths.items()}
    yield {"engine": engine, "ids": ids, "paths": paths, "settings": settings}
    engine.close()


def hash_of(path: Path) -> int:
    return read_meta(path, "image", 10**8).dhash


def test_copies_group_and_lookalike_screenshots_do_not(album) -> None:
    ids, paths = album["ids"], album["paths"]
    # the trap: these two screenshots hash as close as copies of one photo do
    assert distance(hash_of(paths["gate"]), hash_of(paths["harbor"])) <= MAX_DISTANCE
    groups = album["engine"].duplicate_groups()
    as_sets = sorted(sorted(d.id for d in g.items) for g in groups)
    assert as_sets == sorted([sorted([ids["photo"], ids["small"], ids["q40"]]),
                              sorted([ids["invoice"], ids["invoice_big"]])])
    photo_group = next(g for g in groups if ids["photo"] in {d.id for d in g.items})
    assert photo_group.items[0].id == ids["photo"]  # largest and best copy first


def test_results_show_a_group_once_with_its_count(album) -> None:
    engine, ids = album["engine"], album["ids"]
    listed = engine.search(Query(text="type:image", limit=50)).results
    shown = [r.id for r in listed]
    copies = {ids["photo"], ids["small"], ids["q40"]}
    assert len(copies & set(shown)) == 1
    head = next(r for r in listed if r.id in copies)
    assert sorted([head.id, *head.similar]) == sorted(copies)
    assert {ids["gate"], ids["harbor"], ids["other"]} <= set(shown)
    every = [r.id for r in engine.search(Query(text="type:image", limit=50,
                                               group_similar=False)).results]
    assert copies <= set(every) and len(every) == len(shown) + 3


def test_duplicates_view_in_api_and_cli(album) -> None:
    from indexer.cli import main
    from tests.live_server import start_server
    from web.app import create_app

    settings = album["settings"]
    server = start_server(create_app(settings, album["engine"]))
    try:
        got = httpx.get(f"{server.url}/api/duplicates", timeout=60).json()
    finally:
        server.stop()
    assert len(got["groups"]) == 2 and got["photos"] == 5
    first = got["groups"][0]["items"][0]
    assert first["thumb_url"] == f"/thumbs/{first['id']}"
    run = CliRunner().invoke(main, ["--data", str(settings.data_dir), "duplicates", "--json"])
    assert run.exit_code == 0, run.output
    assert [[d["id"] for d in g["items"]] for g in json.loads(run.output)["groups"]] == [
        [d["id"] for d in g["items"]] for g in got["groups"]]
