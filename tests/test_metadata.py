"""Metadata a user filters by: EXIF date, camera and place of photos, tags of recordings.

A small library of generated photos with the EXIF a camera writes (Pillow), tagged
recordings (ffmpeg) and a document is indexed with the real models; every check is what a
person would look at: what a filter keeps, in which order, and what a result says.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from retrieval.config import Settings
from retrieval.media.metadata import read_meta
from retrieval.results import Query
from tests.media import exif_photo, pattern_image, speak, tagged_audio

NEW_YORK = (40.7128, -74.0060)
PARIS = (48.8566, 2.3522)
N_PENTAX = 8


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, encoders: Any,
            offline_settings: Settings) -> dict[str, Any]:
    from indexer.pipeline import run_index

    root = tmp_path_factory.mktemp("library")
    photos = root / "photos"
    paths = {
        "ny": exif_photo(photos / "ny.jpg", pattern_image(1), taken="2024:05:01 14:30:00",
                         make="Canon", model="Canon EOS R5", gps=NEW_YORK, orientation=1),
        "paris": exif_photo(photos / "paris.jpg", pattern_image(2), taken="2023:08:15 09:00:00",
                            make="NIKON CORPORATION", model="NIKON D750", gps=PARIS),
        "plain": photos / "plain.png",
    }
    pattern_image(3).save(paths["plain"])
    for i in range(N_PENTAX):
        exif_photo(photos / "pentax" / f"pentax_{i}.jpg", pattern_image(40 + i),
                   taken=f"2022:0{1 + i}:10 10:00:00", make="PENTAX", model="K-1")
    wav = speak("the harbour song for the lighthouse", root / "tmp" / "song.wav")
    paths["song"] = tagged_audio(wav, root / "audio" / "song.mp3", title="Harbour Song",
                                 artist="The Keepers", album="Foghorn")
    shutil.rmtree(root / "tmp")
    paths["note"] = root / "docs" / "note.txt"
    paths["note"].parent.mkdir()
    paths["note"].write_text("A note about the lighthouse keepers and their harbour.\n")
    settings = offline_settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("library-data") / "data"})
    result = run_index(settings, [root], encoders=encoders, progress=False)
    assert result.failed == 0, result.failures
    from retrieval.engine import Engine

    engine = Engine(settings, encoders=encoders)
    ids = {name: engine.item_id_for_path(p) for name, p in paths.items()}
    yield {"root": root, "settings": settings, "engine": engine, "ids": ids, "paths": paths}
    engine.close()


def names(library: dict[str, Any], response: Any) -> list[str]:
    by_id = {v: k for k, v in library["ids"].items()}
    return [by_id.get(r.id, Path(r.path).stem) for r in response.results]


def test_exif_is_read_from_the_header(library) -> None:
    meta = read_meta(library["paths"]["ny"], "image", 10**8)
    assert meta.camera == "Canon EOS R5"  # the make is not repeated
    assert meta.place is not None and meta.place.startswith("New York")
    assert abs(meta.lat - NEW_YORK[0]) < 1e-3 and abs(meta.lon - NEW_YORK[1]) < 1e-3
    assert read_meta(library["paths"]["paris"], "image", 10**8).place.startswith("Paris")


def test_results_and_items_carry_the_metadata(library) -> None:
    engine, ids = library["engine"], library["ids"]
    ny = engine.item(ids["ny"]).meta
    assert (ny.taken_at, ny.camera, ny.orientation) == ("2024-05-01T14:30:00", "Canon EOS R5", 1)
    assert "New York" in ny.place
    song = engine.item(ids["song"]).meta
    assert (song.title, song.artist, song.album) == ("Harbour Song", "The Keepers", "Foghorn")
    assert song.duration and song.duration > 1
    hit = engine.search(Query(text="harbour song", types=["audio"])).results[0]
    assert hit.id == ids["song"] and hit.meta.artist == "The Keepers"


def test_filters_alone_list_items_newest_first(library) -> None:
    engine = library["engine"]
    listed = names(library, engine.search(Query(text="type:image", limit=3)))
    assert listed == ["plain", "ny", "paris"]  # plain.png is dated by its mtime: today
    assert names(library, engine.search(Query(text='place:"new york"'))) == ["ny"]
    assert names(library, engine.search(Query(text="camera:nikon"))) == ["paris"]
    assert names(library, engine.search(Query(place="paris"))) == ["paris"]
    before = names(library, engine.search(Query(text="before:2024 after:2023")))
    assert before == ["paris"]
    audio = names(library, engine.search(Query(text="type:audio duration:>1")))
    assert audio == ["song"]
    assert engine.search(Query(text="type:audio duration:<1")).results == []


def test_a_filtered_search_still_fills_its_page(library) -> None:
    engine = library["engine"]
    response = engine.search(Query(text="lighthouse harbour", camera="pentax", limit=N_PENTAX))
    assert len(response.results) == N_PENTAX
    assert all(r.meta.camera == "PENTAX K-1" for r in response.results)
    words = engine.search(Query(text="lighthouse type:text"))
    assert names(library, words) == ["note"] and words.query.text == "lighthouse"


def test_cli_and_api_filters(library) -> None:
    from indexer.cli import main
    from tests.live_server import start_server
    from web.app import create_app

    settings = library["settings"]
    run = CliRunner().invoke(main, ["--data", str(settings.data_dir), "search", "--camera",
                                    "canon", "--json"], env=_model_env(settings))
    assert run.exit_code == 0, run.output
    import json

    results = json.loads(run.output)["results"]
    assert [r["id"] for r in results] == [library["ids"]["ny"]]
    assert results[0]["meta"]["camera"] == "Canon EOS R5"
    server = start_server(create_app(settings, library["engine"]))
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            got = client.get("/api/search", params={"place": "new york"}).json()
            assert [r["id"] for r in got["results"]] == [library["ids"]["ny"]]
            assert "New York" in got["results"][0]["meta"]["place"]
            got = client.get("/api/search", params={"type": "image", "date_to": "2023"}).json()
            assert [r["id"] for r in got["results"]][:1] == [library["ids"]["paris"]]
            posted = client.post("/api/search", data={"q": "type:image", "camera": "canon"},
                                 files={"nothing": ("", b"")}).json()
            assert [r["id"] for r in posted["results"]] == [library["ids"]["ny"]]
            bad = client.get("/api/search", params={"date_from": "soon"})
            assert bad.status_code == 400 and "date_from" in bad.json()["error"]["message"]
    finally:
        server.stop()


def _model_env(settings: Settings) -> dict[str, str]:
    env = {f"XMODAL_{k.upper()}": str(v) for k, v in (
        ("clip_model", settings.clip_model), ("clip_config", settings.clip_config),
        ("clip_checkpoint", settings.clip_checkpoint), ("device", "cpu")) if v is not None}
    return env


def test_older_catalogs_get_metadata_without_decoding(library, encoders, tmp_path) -> None:
    from indexer.pipeline import run_index
    from tests.fixtures_server import copy_data_dir

    data = tmp_path / "old"
    copy_data_dir(Path(library["settings"].data_dir), data)
    con = sqlite3.connect(data / "catalog.sqlite")  # as a catalog from before metadata
    con.executescript("DROP TABLE item_meta; UPDATE meta SET value='2' "
                      "WHERE key='schema_version';")
    con.close()
    settings = library["settings"].model_copy(update={"data_dir": data})
    result = run_index(settings, [library["root"]], encoders=encoders, progress=False)
    assert result.decoded == 0 and result.unchanged > 0
    from retrieval.engine import Engine

    with_meta = Engine(settings, encoders=encoders)
    try:
        assert names(library, with_meta.search(Query(text="camera:canon"))) == ["ny"]
        meta = with_meta.item(library["ids"]["song"]).meta
        assert meta.artist == "The Keepers"
    finally:
        with_meta.close()


def test_damaged_exif_loses_only_the_metadata(tmp_path) -> None:
    from PIL import Image

    img = Image.new("RGB", (64, 48), (10, 120, 30))
    exif = Image.Exif()
    exif[271] = b"\xff\xfe\x00bad"
    exif.get_ifd(0x8769)[36867] = "not a date"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (400.0, 0.0, 0.0), "E", (1.0,)
    path = tmp_path / "odd.jpg"
    img.save(path, exif=exif)
    meta = read_meta(path, "image", 10**8)
    assert meta.taken_at is None and meta.lat is None and meta.place is None
    assert meta.dhash is not None
    (tmp_path / "junk.mp3").write_bytes(os.urandom(2000))
    assert read_meta(tmp_path / "junk.mp3", "audio", 10**8).title is None


def test_the_place_index_loads_only_for_gps_and_once(tmp_path) -> None:
    """GeoNames' k-d tree costs a second and memory: never for photos without a position."""
    import subprocess
    import sys

    plain = exif_photo(tmp_path / "plain.jpg", pattern_image(5), make="Canon", model="EOS")
    placed = exif_photo(tmp_path / "placed.jpg", pattern_image(6), gps=PARIS)
    script = (
        "import sys; from pathlib import Path; from retrieval.media import metadata as m\n"
        "m.read_meta(Path(sys.argv[1]), 'image', 10**8)\n"
        "print(m._geocoder is None, 'reverse_geocoder' in sys.modules)\n"
        "a = m.read_meta(Path(sys.argv[2]), 'image', 10**8); first = m._geocoder\n"
        "b = m.read_meta(Path(sys.argv[2]), 'image', 10**8)\n"
        "print(first is m._geocoder, a.place == b.place, a.place)\n")
    out = subprocess.run([sys.executable, "-c", script, str(plain), str(placed)],
                         capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[1]).stdout.splitlines()
    assert out[0] == "True False"
    assert out[1].startswith("True True Paris")
