"""Write a search-quality evaluation the code was never tuned on: corpus, media and qrels.

    nice -n 10 python -m bench.quality.generate --out /tmp/xq
    . /tmp/xq/env.sh && xmodal index /tmp/xq/corpus
    xmodal eval /tmp/xq/qrels.jsonl --split heldout

Everything comes from real text on this machine (``bench.quality.sources``): Debian package
descriptions and Python standard library docstrings. Query kinds:

| kind | query | relevant item |
|---|---|---|
| paraphrase | a package's synopsis | its long description (text file) |
| question | "how do I ..." from a function's docstring summary | the docstring's body |
| code | a package name or a dotted function name | the document holding it |
| mixed | a function's bare name plus its question | the docstring's body |
| spoken | a question spoken by espeak-ng (several voices and speeds) | as above |
| ocr | a synopsis | an image of the long description, read by PP-OCR |
| memo | a synopsis | a spoken recording of the long description, read by Whisper |
| none | a synopsis or question whose package / module is not in the corpus | nothing |

Documents nobody asks about stay in as distractors, and library families share most of their
descriptions, so near-duplicates compete. Each query's split (``dev`` or ``heldout``) is fixed
by a hash of its id, before anything is tuned: tune on ``dev`` only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import textwrap
from pathlib import Path
from typing import Any

from bench.quality.sources import Record, as_question, debian_packages, stdlib_functions

COUNTS = {"paraphrase": 100, "question": 80, "code": 60, "mixed": 40, "spoken": 60,
          "ocr": 40, "memo": 20, "none": 40}
OCR_DISTRACTORS = 10
VOICES = [("en-us", 150), ("en-gb", 175), ("en-gb-x-rp", 130), ("en-029", 160), ("en-us", 195),
          ("en-gb-scotland", 145)]
MEMO_WORDS = 40
SCAN_WORDS = 45


def split_of(query_id: str) -> str:
    """``dev`` or ``heldout``, from the query id alone, so the split never depends on results."""
    return "dev" if hashlib.sha256(query_id.encode()).digest()[0] % 2 == 0 else "heldout"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, required=True, help="folder outside the repository")
    ap.add_argument("--seed", type=int, default=16)
    args = ap.parse_args(argv)
    out: Path = args.out.resolve()
    corpus = out / "corpus"
    queries = out / "queries"
    for d in (corpus, queries):
        d.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    deb, py = debian_packages(), stdlib_functions()
    if not deb or not py:
        raise SystemExit("needs /var/lib/dpkg/status and the Python standard library sources")
    lines = build(deb, py, rng, corpus, queries)
    qrels = out / "qrels.jsonl"
    qrels.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    write_tiny_clip(out)
    kinds: dict[str, int] = {}
    for x in lines:
        kinds[x["kind"]] = kinds.get(x["kind"], 0) + 1
    files = sum(1 for p in corpus.rglob("*") if p.is_file())
    print(f"{files} corpus files, {len(lines)} queries {kinds} -> {qrels}")
    print(f"next: . {out / 'env.sh'} && xmodal index {corpus} && xmodal eval {qrels}")


def build(deb: list[Record], py: list[Record], rng: random.Random, corpus: Path,
          queries: Path) -> list[dict[str, Any]]:
    """Lay out the corpus and return the qrels lines."""
    from tests.media import speak

    rng.shuffle(deb)
    rng.shuffle(py)
    # "none" queries: whole families / modules kept out of the corpus, so no sibling answers.
    none_deb_groups = _take_groups(deb, 25)
    none_py_groups = _take_groups(py, 15)
    none = ([r for r in deb if r.group in none_deb_groups][:25]
            + [r for r in py if r.group in none_py_groups][:15])
    deb = [r for r in deb if r.group not in none_deb_groups]
    py = [r for r in py if r.group not in none_py_groups]

    lines: list[dict[str, Any]] = []

    def add(kind: str, key: str, relevant: list[str], **query: Any) -> None:
        qid = f"{kind}:{key}"
        lines.append({"id": qid, "kind": kind, "split": split_of(qid), **query,
                      "relevant": relevant})

    scans, memos = deb[:COUNTS["ocr"] + OCR_DISTRACTORS], deb[60:60 + COUNTS["memo"]]
    texts = deb[60 + COUNTS["memo"]:]
    for i, r in enumerate(scans):
        rel = f"corpus/scans/{r.name}.png"
        render_scan(r.body, corpus.parent / rel, i)
        if i < COUNTS["ocr"]:
            add("ocr", r.name, [rel], text=r.summary)
    for i, r in enumerate(memos):
        rel = f"corpus/memos/{r.name}.wav"
        voice, wpm = VOICES[i % len(VOICES)]
        speak(" ".join(r.body.split()[:MEMO_WORDS]), corpus.parent / rel, wpm=wpm, voice=voice)
        add("memo", r.name, [rel], text=r.summary)
    deb_rel = {r.name: f"corpus/deb/{r.name}.txt" for r in texts}
    py_rel = {r.name: f"corpus/py/{r.name}.txt" for r in py}
    for r in texts:
        _write(corpus.parent / deb_rel[r.name], f"{r.name}\n\n{r.body}\n")
    for r in py:
        _write(corpus.parent / py_rel[r.name], f"{r.name}\n\n{r.body}\n")

    for r in texts[:COUNTS["paraphrase"]]:
        add("paraphrase", r.name, [deb_rel[r.name]], text=r.summary)
    for r in py[:COUNTS["question"]]:
        add("question", r.name, [py_rel[r.name]], text=as_question(r.summary))
    half = COUNTS["code"] // 2
    for r in rng.sample(texts, half):
        add("code", r.name, [deb_rel[r.name]], text=r.name)
    for r in rng.sample(py, half):
        add("code", r.name, [py_rel[r.name]], text=r.name)
    for r in rng.sample(py, COUNTS["mixed"]):
        bare = r.name.rsplit(".", 1)[-1]
        add("mixed", r.name, [py_rel[r.name]], text=f"{bare}: {as_question(r.summary)}")
    spoken = ([(r, f"Which package provides {r.summary}?", deb_rel[r.name])
               for r in rng.sample(texts, COUNTS["spoken"] // 2)]
              + [(r, as_question(r.summary), py_rel[r.name])
                 for r in rng.sample(py, COUNTS["spoken"] - COUNTS["spoken"] // 2)])
    for i, (r, said, rel) in enumerate(spoken):
        voice, wpm = VOICES[i % len(VOICES)]
        audio = f"queries/{r.source}-{r.name}.wav"
        speak(said, queries.parent / audio, wpm=wpm, voice=voice)
        add("spoken", r.name, [rel], audio=audio, said=said, voice=f"{voice}@{wpm}")
    for r in none:
        said = r.summary if r.source == "deb" else as_question(r.summary)
        add("none", f"{r.source}:{r.name}", [], text=said)
    return lines


def _take_groups(records: list[Record], n: int) -> set[str]:
    groups: list[str] = []
    for r in records:
        if r.group not in groups:
            groups.append(r.group)
        if len(groups) == n:
            break
    return set(groups)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def render_scan(body: str, path: Path, n: int) -> None:
    """A page-like image of a description's opening words, in varied fonts, sizes and shades."""
    from PIL import Image

    from tests.media import font_paths, text_image

    words = " ".join(body.split()[:SCAN_WORDS])
    fonts = font_paths()
    shade = 255 - (n % 4) * 12
    img = text_image(textwrap.wrap(words, 38), font_path=fonts[n % len(fonts)],
                     size=24 + (n % 3) * 4, bg=(shade, shade, shade - 6))
    assert isinstance(img, Image.Image)
    if n % 3 == 2:  # a scan is rarely straight
        img = img.rotate(1.5, expand=True, fillcolor=(shade, shade, shade))
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)


def write_tiny_clip(out: Path) -> None:
    """The tests' random-weight CLIP (no CLIP weights exist offline) and an env file using it.

    Its scores do not separate anything, which is the point: fusion must not let it drag the
    real spaces down.
    """
    from tests.fixtures_models import TINY_CLIP_NAME, write_tiny_clip

    folder = out / "clip"
    folder.mkdir(exist_ok=True)
    config, checkpoint = write_tiny_clip(folder)
    (out / "env.sh").write_text(
        f"export XMODAL_DATA={out / 'data'}\nexport XMODAL_DEVICE=cpu\n"
        f"export XMODAL_CLIP_MODEL={TINY_CLIP_NAME}\nexport XMODAL_CLIP_CONFIG={config}\n"
        f"export XMODAL_CLIP_CHECKPOINT={checkpoint}\nexport HF_HUB_OFFLINE=1\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
