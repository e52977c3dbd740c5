"""Negation: how often does "X -Y" rank the items about X without Y above those with Y?

A small generated library of one-sentence documents, indexed with the real MiniLM (CLIP has
no real weights offline, so the text and keyword spaces are measured). Each topic has
documents about X together with Y (paraphrased: "crowded with tourists", not always the word
"people") and documents about X alone; the other topics are distractors. For each query
"X -Y" and each pair (an X-alone document, an X-with-Y document) the pair counts as ordered
when X-alone ranks higher (a document missing from the ranking ranks last). Printed: the
share of ordered pairs and the mean ranks of the X-with-Y and the X-alone documents (the
latter should stay near the top: 2.5 is perfect), for the plain query "X" and for "X -Y" at
several subtraction weights (``retrieval.search.negation``).

    python -m bench.negation
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.machine import describe

TOPICS = {  # (query, negative): (documents with the negative, documents without)
    ("beach", "people"): (
        ["A crowded beach full of people and tourists on towels.",
         "Swimmers and families packed the sandy beach all afternoon.",
         "People playing volleyball on the beach at noon.",
         "The beach was busy with sunbathers and kids building sandcastles."],
        ["An empty beach at sunrise with gentle waves.",
         "Deserted sandy beach with palm trees and calm turquoise water.",
         "Waves wash over a quiet beach under a grey sky.",
         "A lonely stretch of beach with driftwood and seashells."]),
    ("pasta recipe", "cheese"): (
        ["Pasta baked with mozzarella and plenty of parmesan on top.",
         "A creamy macaroni with cheddar cheese sauce recipe.",
         "Spaghetti carbonara recipe with pecorino and egg yolks.",
         "Lasagne layered with ricotta and melted cheese."],
        ["Pasta recipe with tomatoes, garlic and fresh basil.",
         "Spaghetti with olive oil, chilli and garlic, a quick recipe.",
         "Penne in a spicy arrabbiata tomato sauce.",
         "Linguine with clams, lemon and parsley."]),
    ("city street", "cars"): (
        ["A busy city street jammed with cars and taxis.",
         "Traffic crawls along the downtown avenue during rush hour.",
         "Parked cars line both sides of the narrow city street.",
         "Buses and vehicles honk on a crowded urban road."],
        ["A pedestrian city street with cafes and flower boxes.",
         "Cobbled lane in the old town where only walkers pass.",
         "A quiet city street at night lit by lanterns.",
         "Market stalls fill a car-free street in the centre."]),
    ("dog", "ball"): (
        ["The dog chased a tennis ball across the park.",
         "A puppy fetching a red ball from the lake.",
         "My dog drops the ball at my feet to play fetch.",
         "Labrador catching a ball in mid air."],
        ["The dog sleeps by the fireplace all evening.",
         "A puppy curled up on a blanket.",
         "Old dog walking slowly along the river path.",
         "The dog barks at the postman every morning."]),
    ("mountain hike", "snow"): (
        ["Hiking up a snowy mountain pass in winter boots.",
         "The mountain trail was covered in deep snow and ice.",
         "Snowshoe hike to the summit through fresh powder.",
         "A winter hike with snow falling on the ridge."],
        ["A summer mountain hike through green meadows and wildflowers.",
         "Hiking the rocky ridge in warm sunshine.",
         "Mountain trail through pine forest to a clear lake.",
         "A dusty hike up the mountain in August heat."]),
}


def build(root: Path) -> dict[Path, tuple[tuple[str, str], bool]]:
    """Write one text file per document; path -> (its topic, whether it has the negative)."""
    out: dict[Path, tuple[tuple[str, str], bool]] = {}
    n = 0
    for topic, (with_neg, without) in TOPICS.items():
        for has, docs in ((True, with_neg), (False, without)):
            for text in docs:
                path = root / f"doc_{n:03d}.txt"
                path.write_text(text + "\n")
                out[path] = (topic, has)
                n += 1
    return out


def measure(engine: object, docs: dict[Path, tuple[tuple[str, str], bool]], query: str,
            topic: tuple[str, str]) -> tuple[int, int, float, float]:
    """(ordered pairs, pairs, mean rank of the documents with the negative, of those without)."""
    from retrieval.results import Query

    ranking = [r.path for r in engine.search(Query(text=query, limit=200)).results]
    last = len(ranking) + 1
    rank = {p: (ranking.index(str(p)) + 1 if str(p) in ranking else last) for p in docs}
    good = [rank[p] for p, (t, has) in docs.items() if t == topic and not has]
    bad = [rank[p] for p, (t, has) in docs.items() if t == topic and has]
    ordered = sum(g < b for g in good for b in bad)
    return ordered, len(good) * len(bad), sum(bad) / len(bad), sum(good) / len(good)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default="0.3,0.5,0.7,1.0",
                        help="subtraction weights to try, comma separated")
    args = parser.parse_args()
    from indexer.pipeline import run_index
    from retrieval.config import Settings
    from retrieval.encoders import Encoders
    from retrieval.engine import Engine
    from retrieval.search import negation

    with tempfile.TemporaryDirectory(prefix="xmodal-negation-") as tmp:
        root = Path(tmp) / "docs"
        root.mkdir()
        docs = build(root)
        settings = Settings(XMODAL_DATA=Path(tmp) / "data", device="cpu", ocr_enabled=False,
                            clip_model="none-offline")
        encoders = Encoders(settings)
        run_index(settings, [root], encoders=encoders, progress=False)
        engine = Engine(settings, encoders=encoders)
        print(describe())
        print(f"{len(docs)} documents, {len(TOPICS)} queries 'X -Y'; text + keyword spaces")
        print(f"{'query':<22} {'ordered pairs':>14} {'mean rank X+Y':>14} {'mean rank X':>12}")
        rows = [("X (no negation)", None)] + [
            (f"X -Y, w={w}", float(w)) for w in args.weights.split(",")]
        for label, weight in rows:
            ordered = pairs = 0
            ranks: list[float] = []
            kept: list[float] = []
            for (x, y) in TOPICS:
                if weight is not None:
                    negation.NEGATION_WEIGHT = weight
                q = x if weight is None else f"{x} -{y}"
                o, p, r, k = measure(engine, docs, q, (x, y))
                ordered, pairs = ordered + o, pairs + p
                ranks.append(r)
                kept.append(k)
            print(f"{label:<22} {ordered / pairs:>14.2f} {sum(ranks) / len(ranks):>14.1f} "
                  f"{sum(kept) / len(kept):>12.1f}")
        engine.close()


if __name__ == "__main__":
    main()
