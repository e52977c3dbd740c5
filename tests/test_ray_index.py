"""Distributed indexing: a local Ray cluster with two encoder actors builds the same catalog.

The test starts its own Ray cluster (2 CPUs, so two worker processes host the two encoder
actors) and shuts it down afterwards. Ray advertises the machine's routable address even when
asked for 127.0.0.1 and its servers listen on all interfaces; the cluster is token-protected
(Ray's default) and lives only as long as the test.

Real MiniLM and the seeded tiny CLIP run on the workers, built from the settings the way a
real cluster builds them; OCR and speech are off to keep the test within a minute or two on
two shared cores.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from retrieval.config import Settings
from retrieval.results import Query
from tests.media import pattern_image

ray = pytest.importorskip("ray")

pytestmark = pytest.mark.timeout(600)

BREAD = "# Bread\n\nMix flour, water, salt and yeast, knead, proof overnight, then bake."
DOCS = {
    "volcano.txt": "Volcanoes erupt when magma rises through the crust; lava cools into basalt.",
    "bread.md": BREAD,
    "chess.txt": "The Sicilian Defence begins 1.e4 c5 and fights for the centre from the flank.",
    "whales.html": "<html><body><p>Humpback whales sing long songs.</p></body></html>",
    "taxes.txt": "The quarterly tax return is due on the fifteenth; keep every receipt.",
    "copy-of-bread.md": BREAD,  # identical content: one item, two paths
}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """A throwaway local cluster: 2 CPUs, no dashboard, shut down after the module."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.1", object_store_memory=256 * 2**20)
    try:
        yield
    finally:
        ray.shutdown()


def _corpus(root: Path) -> Path:
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text)
    for n in range(4):
        pattern_image(n).save(root / f"picture{n}.png")
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return root


def _settings(base: Settings, data: Path) -> Settings:
    return base.model_copy(update={"data_dir": data, "ocr_enabled": False})


def _tables(data: Path) -> dict[str, list[tuple[object, ...]]]:
    con = sqlite3.connect(data / "catalog.sqlite")
    try:
        return {
            "items": con.execute("SELECT id, content_hash, type, size, width, height FROM items "
                                 "ORDER BY id").fetchall(),
            "parts": con.execute('SELECT id, item_id, kind, ord, start, "end", text FROM parts '
                                 "ORDER BY id").fetchall(),
            "files": con.execute("SELECT path, item_id, status, error FROM files "
                                 "ORDER BY path").fetchall(),
            "vectors": con.execute("SELECT space, part_id, vec FROM vectors "
                                   "ORDER BY space, part_id").fetchall(),
        }
    finally:
        con.close()


Top = list[list[tuple[int, str]]]


def _top10(settings: Settings, encoders: object, queries: list[Query]) -> Top:
    from retrieval.engine import Engine

    engine = Engine(settings, encoders)  # type: ignore[arg-type]
    try:
        return [[(r.id, r.path) for r in engine.search(q).results] for q in queries]
    finally:
        engine.close()


def test_ray_index_equals_single_process(tmp_path: Path, ray_cluster: None,
                                         offline_settings: Settings, text_encoder: object,
                                         tiny_clip: object) -> None:
    from click.testing import CliRunner

    from indexer.cmd_index import index
    from indexer.pipeline import run_index
    from retrieval.encoders import Encoders
    from retrieval.ingest.ingestor import Ingestor, index_files
    from retrieval.ingest.ray import index_files_on_ray
    from retrieval.ingest.scan import scan

    root = _corpus(tmp_path / "corpus")
    local = _settings(offline_settings, tmp_path / "local")
    distributed = _settings(offline_settings, tmp_path / "ray")
    encoders = Encoders(local, text=text_encoder, clip=tiny_clip)  # type: ignore[arg-type]

    with Ingestor(local, encoders) as ing:
        one = index_files(ing, list(scan([root])))
    many = run_index(distributed, [root], progress=False, ray_address="auto",
                     encoders=Encoders(distributed, text=text_encoder,  # type: ignore[arg-type]
                                       clip=tiny_clip))

    assert (one.added, one.failed) == (many.added, many.failed) == (10, 1)
    assert [f.path for f in one.failures] == [f.path for f in many.failures]
    a, b = _tables(tmp_path / "local"), _tables(tmp_path / "ray")
    for table in ("items", "parts", "files"):
        assert a[table] == b[table], table
    assert [row[:2] for row in a["vectors"]] == [row[:2] for row in b["vectors"]]
    for ra, rb in zip(a["vectors"], b["vectors"], strict=True):  # a batch may move a float16 ulp
        va, vb = (np.frombuffer(r[2], dtype=np.float16).astype(np.float32) for r in (ra, rb))
        np.testing.assert_allclose(va, vb, atol=2e-3)

    queries = [Query(text="magma and lava", limit=10), Query(text="baking bread", limit=10),
               Query(text="whale songs", limit=10)]
    assert _top10(local, encoders, queries) == _top10(distributed, encoders, queries)

    # Second runs: a copy of known content attaches on the actor (no decoding) and the rest is
    # unchanged; both directories still agree.
    (root / "copy-of-chess.txt").write_text(DOCS["chess.txt"])
    with Ingestor(local, encoders) as ing:
        one = index_files(ing, list(scan([root])))
    with Ingestor(distributed, encoders) as ing:
        many = index_files_on_ray(ing, list(scan([root])), address="auto", actors=2)
        assert ing.decoded == 0
    assert (one.added, one.unchanged) == (many.added, many.unchanged) == (1, 10)
    # and the command line reaches the same code: nothing new, no cluster work
    out = CliRunner().invoke(index, ["--ray", "auto", "--json", "-q", str(root)], obj=distributed)
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout.splitlines()[0])["unchanged"] == 11
    a, b = _tables(tmp_path / "local"), _tables(tmp_path / "ray")
    assert a["files"] == b["files"] and a["items"] == b["items"]


def test_known_hash_prefixes() -> None:
    from retrieval.ingest.ray import _contains, _prefix

    known = np.sort(np.array([_prefix("00" * 20), _prefix("ff" * 20)], dtype=np.uint64))
    assert _contains(known, "ff" * 20) and _contains(known, "00" * 20)
    assert not _contains(known, "ab" * 20) and not _contains(known[:0], "ab" * 20)
