"""The issue's quality bar, measured the way ``xmodal eval`` measures it, with real models.

The test builds a small mixed corpus (spoken clips in near-topic pairs, short documents, signs
rendered as images, look-alike invoices), indexes it with the real MiniLM, Whisper tiny.en and
OCR weights, writes a qrels file and runs it through ``run_qrels`` (the code behind
``xmodal eval``) once fused and once per single space. CLIP weights cannot be had offline, so
the corpus is indexed without the CLIP space (random weights would only measure noise).

Per-kind numbers are printed (``pytest -s``) for the release note.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from retrieval.config import Settings
from retrieval.evaluation import EvalReport, load_qrels, run_qrels
from tests.media import have_espeak, speak, text_image

pytestmark = pytest.mark.skipif(not have_espeak(), reason="espeak-ng is not installed")

# Spoken clips in near-topic pairs; each query paraphrases its clip without its content words.
CLIPS = [
    ("garden-water", "Remember to water the tomato plants every morning before the sun gets "
     "too hot.", "irrigate vegetables early in the day"),
    ("garden-prune", "The rose bushes need pruning in late winter so they bloom well in summer.",
     "trim flowering shrubs during the cold season for better blossoms"),
    ("travel-flight", "Our flight to Lisbon departs at seven, so we should leave for the airport "
     "by five.", "when to set off to catch the plane to Portugal"),
    ("travel-train", "The train to Madrid was delayed for two hours because of a signal failure.",
     "railway journey to Spain held up by a technical fault"),
    ("money-revenue", "Quarterly revenue grew by twelve percent thanks to strong sales in Asia.",
     "income rose this quarter because of demand from Japan and China"),
    ("money-costs", "We need to cut marketing costs next year because the budget is tight.",
     "reduce advertising spending since funds are limited"),
    ("pets-dog", "My dog loves chasing the ball in the park after dinner.",
     "puppy playing fetch outdoors in the evening"),
    ("pets-cat", "The cat sleeps on the windowsill all afternoon in the sunshine.",
     "kitten napping beside the glass when it is bright"),
    ("health-run", "I go jogging three miles along the river before work.",
     "running for exercise by the stream early"),
    ("health-sleep", "Doctors say adults should get at least seven hours of sleep each night.",
     "medical advice on how much rest grown-ups need"),
]  # fmt: skip

# Short documents, asked about by a spoken question.
DOCS = [
    ("sourdough", "Sourdough bread uses a starter of wild yeast and lactic bacteria. The dough "
     "rises slowly, often for twelve hours, which gives the crust its tang.",
     "How long does sourdough need to rise?"),
    ("banana-bread", "Banana bread is a quick bread: baking soda, not yeast, makes the batter "
     "rise in the oven.", "What makes banana bread rise without yeast?"),
    ("espresso", "An espresso machine forces hot water through finely ground coffee at about "
     "nine bars of pressure. A good shot takes twenty five seconds.",
     "What pressure does an espresso machine use?"),
    ("green-tea", "Green tea should be brewed with water below boiling, around eighty degrees, "
     "for two minutes, or it turns bitter.", "What temperature is best for green tea?"),
    ("bicycle", "To fix a flat bicycle tire, remove the wheel, find the puncture with soapy "
     "water and patch the inner tube.", "How do I fix a flat tire on my bicycle?"),
    ("solar", "Solar panels turn sunlight into electricity with photovoltaic cells; their "
     "output drops on cloudy days.", "How do solar panels make power?"),
    ("volcano", "A volcano erupts when magma and gas rise through cracks in the crust of the "
     "earth.", "What makes a volcano erupt?"),
    ("bees", "Honeybees tell their hive where flowers are with a waggle dance that points "
     "toward the food.", "How do honeybees tell the hive where flowers are?"),
    ("chess", "In chess, castling moves the king two squares toward a rook, and the rook "
     "jumps to the other side of the king.", "How does castling work in a game of chess?"),
    ("passwords", "A strong password is long, different for every site and kept in a password "
     "manager.", "How should I choose a safe password?"),
]  # fmt: skip

# Signs rendered as images, found by the words OCR reads on them.
SIGNS = [
    ("market", ["FARMERS MARKET", "EVERY SATURDAY 8-1", "TOWN SQUARE"], "farmers market"),
    ("renovation", ["CLOSED FOR", "RENOVATION", "REOPENING IN MARCH"], "closed for renovation"),
    ("paint", ["WET PAINT", "DO NOT TOUCH"], "wet paint"),
    ("parking", ["PARKING", "PERMIT HOLDERS ONLY"], "parking permit holders"),
    ("sale", ["SUMMER SALE", "50% OFF", "ALL SHOES"], "summer sale shoes"),
    ("exit", ["EMERGENCY EXIT", "KEEP CLEAR"], "emergency exit"),
    ("wifi", ["FREE WIFI", "PASSWORD: OCEAN42"], "wifi password"),
    ("library", ["LIBRARY HOURS", "MON-FRI 9-6"], "library hours"),
    ("beach", ["NO DOGS", "ALLOWED ON THE BEACH"], "no dogs on the beach"),
    ("lost-cat", ["LOST CAT", "GREY TABBY", "PLEASE CALL"], "lost grey tabby cat"),
]

# Invoices that differ only in the code (and amount): embeddings blur them, keywords must not.
INVOICE_CODES = ["INV-4471", "INV-4417", "INV-7441", "INV-4470", "INV-4711", "INV-1447"]
INVOICE = (
    "Invoice {code}\nCustomer: Harbor Supplies Ltd\nItems: printer paper, 40 boxes\n"
    "Amount due: {amount} EUR within 30 days\n"
)

SINGLE_SPACES = ("text", "keyword")  # clip: no real weights offline (see module docstring)


def build_corpus(root: Path) -> tuple[list[Path], list[dict[str, Any]]]:
    """Write the media and return (files to index, qrels lines)."""
    files: list[Path] = []
    qrels: list[dict[str, Any]] = []
    for name, said, query in CLIPS:
        clip = speak(said, root / "talks" / f"{name}.wav", wpm=140)
        files.append(clip)
        qrels.append({"text": query, "relevant": [str(clip)], "kind": "paraphrase->speech"})
    for name, text, question in DOCS:
        doc = root / "docs" / f"{name}.txt"
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(text + "\n", encoding="utf-8")
        files.append(doc)
        asked = speak(question, root / "questions" / f"{name}.wav", wpm=140)
        qrels.append({"audio": str(asked), "relevant": [str(doc)], "kind": "spoken->doc"})
    for name, lines, query in SIGNS:
        sign = text_image(lines, root / "signs" / f"{name}.png", size=40)
        assert isinstance(sign, Path)
        files.append(sign)
        qrels.append({"text": query, "relevant": [str(sign)], "kind": "text->ocr-image"})
    for n, code in enumerate(INVOICE_CODES):
        inv = root / "invoices" / f"invoice_{n:02d}.txt"
        inv.parent.mkdir(parents=True, exist_ok=True)
        inv.write_text(INVOICE.format(code=code, amount=1200 + 25 * n), encoding="utf-8")
        files.append(inv)
        qrels.append({"text": code, "relevant": [str(inv)], "kind": "code"})
    return files, qrels


@pytest.fixture(scope="module")
def quality(
    tmp_path_factory: pytest.TempPathFactory, text_encoder: Any, speech_faster: Any, ocr_reader: Any
) -> dict[str, Any]:
    """Index the corpus and evaluate it fused and per space; the real models load once."""
    from retrieval.encoders import Encoders
    from retrieval.engine import Engine
    from retrieval.ingest.run import index_roots

    tmp = tmp_path_factory.mktemp("quality")
    files, lines = build_corpus(tmp / "corpus")
    qrels = tmp / "qrels.jsonl"
    qrels.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    # Default CLIP settings: offline its weights are missing, so the clip space stays off,
    # exactly as for a user of this machine (and for the `xmodal eval` run below).
    settings = Settings(XMODAL_DATA=tmp / "data", device="cpu")
    encoders = Encoders(settings, text=text_encoder, speech=speech_faster, ocr=ocr_reader)
    report = index_roots(settings, files, encoders=encoders)
    assert report.failed == 0, report.failures
    assert encoders.clip is None, "real CLIP weights found: add 'clip' to SINGLE_SPACES"
    engine = Engine(settings, encoders=encoders)
    parsed = load_qrels(qrels)
    runs: dict[str, EvalReport] = {"fused": run_qrels(engine, parsed)}  # auto, the default
    runs["fused (rrf)"] = run_qrels(engine, parsed, fusion="rrf")
    runs["fused (score)"] = run_qrels(engine, parsed, fusion="score")
    for space in SINGLE_SPACES:
        weights = {s: float(s == space) for s in ("text", "clip", "keyword")}
        runs[space] = run_qrels(engine, parsed, weights=weights)
    engine.close()
    _print(runs)
    # The same catalog searched through the Milvus (Lite) store must rank the same.
    milvus = Engine(settings.model_copy(update={"vector_store": "milvus"}), encoders=encoders)
    runs_milvus = run_qrels(milvus, parsed)
    milvus.close()
    return {"runs": runs, "settings": settings, "qrels": qrels, "milvus": runs_milvus}


def _print(runs: dict[str, EvalReport]) -> None:
    print("\nsearch quality (MRR@10 / R@5) per kind; latency p50/p95 of the fused run")
    kinds = sorted(next(iter(runs.values())).kinds)
    print(f"{'run':<14}" + "".join(f"{k:>24}" for k in [*kinds, "overall"]))
    for name, rep in runs.items():
        cells = [rep.kinds[k] for k in kinds] + [rep.overall]
        print(f"{name:<14}" + "".join(f"{m.mrr10:>15.3f} / {m.recall[5]:.2f}" for m in cells))
    fused = runs["fused"]
    lat = {**fused.kind_latency, "overall": (fused.latency_p50, fused.latency_p95)}
    print(
        "latency ms p50/p95: "
        + ", ".join(f"{k} {a * 1e3:.0f}/{b * 1e3:.0f}" for k, (a, b) in lat.items())
    )
    for q in fused.per_query:
        if q["rr"] < 1.0:
            print(f"  rr={q['rr']:.2f} {q['kind']}: {q['text'] or q['transcript']!r} -> {q['top']}")


def test_paraphrase_finds_spoken_clip(quality: dict[str, Any]) -> None:
    assert quality["runs"]["fused (rrf)"].kinds["paraphrase->speech"].recall[5] >= 0.9
    assert quality["runs"]["fused"].kinds["paraphrase->speech"].recall[5] >= 0.9


def test_spoken_question_finds_document(quality: dict[str, Any]) -> None:
    assert quality["runs"]["fused (rrf)"].kinds["spoken->doc"].recall[5] >= 0.9
    assert quality["runs"]["fused"].kinds["spoken->doc"].recall[5] >= 0.9


def test_text_finds_image_through_ocr(quality: dict[str, Any]) -> None:
    assert quality["runs"]["fused (rrf)"].kinds["text->ocr-image"].recall[5] >= 0.9
    assert quality["runs"]["fused"].kinds["text->ocr-image"].recall[5] >= 0.9


def test_code_query_finds_exact_invoice_first(quality: dict[str, Any]) -> None:
    assert quality["runs"]["fused (rrf)"].kinds["code"].mrr10 == 1.0
    assert quality["runs"]["fused (score)"].kinds["code"].mrr10 == 1.0
    assert quality["runs"]["fused"].kinds["code"].mrr10 == 1.0


def test_fusion_not_worse_than_best_single_space(quality: dict[str, Any]) -> None:
    runs = quality["runs"]
    best = max(runs[s].overall.mrr10 for s in SINGLE_SPACES)
    assert runs["fused (rrf)"].overall.mrr10 >= best
    assert runs["fused"].overall.mrr10 >= best
    for kind, m in runs["fused"].kinds.items():  # the default fusion: on every kind too
        assert m.mrr10 >= max(runs[s].kinds[kind].mrr10 for s in SINGLE_SPACES), kind


def test_eval_command_reports_the_same_numbers(quality: dict[str, Any]) -> None:
    from indexer.cmd_search import eval_command

    res = CliRunner().invoke(
        eval_command, [str(quality["qrels"]), "--json"], obj=quality["settings"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    want = quality["runs"]["fused"]  # the command's default fusion is run_qrels' default
    assert out["overall"]["mrr@10"] == pytest.approx(want.overall.mrr10)
    assert out["kinds"]["code"]["mrr@10"] == 1.0
    assert out["unknown_relevant"] == []


def test_milvus_store_ranks_like_faiss(quality: dict[str, Any]) -> None:
    faiss_run, milvus_run = quality["runs"]["fused"], quality["milvus"]
    assert [q["top"] for q in milvus_run.per_query] == [q["top"] for q in faiss_run.per_query]
    assert milvus_run.overall.mrr10 == pytest.approx(faiss_run.overall.mrr10)
