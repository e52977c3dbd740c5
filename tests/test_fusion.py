"""The fusion arithmetic, pinned to values computed by hand."""

from __future__ import annotations

import pytest

from retrieval.search.fusion import Hit, collapse, fuse


def H(item: int, part: int, score: float) -> Hit:  # noqa: N802 - short on purpose
    return Hit(item_id=item, part_id=part, score=score)


def test_rrf_two_spaces_by_hand() -> None:
    # text: A(1) B(2) C(3); keyword: C(1) A(2)
    lists = {
        "text": [H(1, 10, 0.9), H(2, 20, 0.8), H(3, 30, 0.7)],
        "keyword": [H(3, 31, 12.0), H(1, 11, 3.0)],
    }
    out = fuse(lists)
    scores = {f.item_id: f.score for f in out}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 62)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert scores[2] == pytest.approx(1 / 62)
    # 1/61+1/62 = 0.032522 > 1/61+1/63 = 0.032266 > 1/62
    assert [f.item_id for f in out] == [1, 3, 2]
    assert out[0].spaces["text"].rank == 1 and out[0].spaces["keyword"].rank == 2
    assert "keyword" not in out[2].spaces  # a missing space adds nothing and is not reported


def test_rrf_custom_k() -> None:
    out = fuse({"text": [H(1, 1, 0.5), H(2, 2, 0.4)]}, k=0)
    assert [f.score for f in out] == pytest.approx([1.0, 0.5])


def test_parts_collapse_to_item_keeping_best_part() -> None:
    # item 1 has three segments; its best (part 12) decides its rank and is the one shown
    hits = [H(1, 11, 0.2), H(2, 20, 0.5), H(1, 12, 0.9), H(1, 13, 0.4)]
    col = collapse(hits)
    assert col[1].rank == 1 and col[1].part_id == 12 and col[1].score == 0.9
    assert col[2].rank == 2  # rank counts items, not parts
    out = fuse({"text": hits})
    assert [f.item_id for f in out] == [1, 2]
    assert out[0].part_id == 12
    assert out[1].score == pytest.approx(1 / 62)


def test_ties_broken_by_item_id() -> None:
    # equal raw scores: lower item id ranks first within the space, whatever the input order
    col = collapse([H(7, 70, 0.5), H(3, 30, 0.5), H(5, 50, 0.5)])
    assert [col[i].rank for i in (3, 5, 7)] == [1, 2, 3]
    # equal fused scores across spaces: item 4 (ranks 1,2) vs item 9 (ranks 2,1) -> tie -> id
    lists = {"text": [H(4, 1, 0.9), H(9, 2, 0.8)], "clip": [H(9, 3, 0.3), H(4, 4, 0.2)]}
    out = fuse(lists)
    assert out[0].score == pytest.approx(out[1].score)
    assert [f.item_id for f in out] == [4, 9]
    assert [f.item_id for f in fuse(dict(reversed(list(lists.items()))))] == [4, 9]


def test_tie_survives_float_summing_order() -> None:
    # item 1 ranks (1,2,3) and item 2 ranks (2,3,1) in spaces a,b,c: equal in exact maths,
    # summed in different orders; the tie must still go to the lower id
    lists = {
        "a": [H(1, 1, 3), H(2, 2, 2)],
        "b": [H(9, 9, 3), H(1, 1, 2), H(2, 2, 1)],
        "c": [H(2, 2, 3), H(8, 8, 2), H(1, 1, 1)],
    }
    out = fuse(lists)
    s = {f.item_id: f.score for f in out}
    assert s[1] == pytest.approx(1 / 61 + 1 / 62 + 1 / 63)
    assert s[2] == pytest.approx(s[1])
    assert [f.item_id for f in out][:2] == [1, 2]
    assert s[9] == pytest.approx(1 / 61) and s[8] == pytest.approx(1 / 62)


def test_weights_rrf() -> None:
    lists = {"text": [H(1, 1, 0.9), H(2, 2, 0.8)], "keyword": [H(2, 3, 5.0), H(1, 4, 1.0)]}
    out = fuse(lists, weights={"keyword": 2.0})  # text defaults to 1.0
    s = {f.item_id: f.score for f in out}
    assert s[1] == pytest.approx(1 / 61 + 2 / 62)
    assert s[2] == pytest.approx(1 / 62 + 2 / 61)
    assert [f.item_id for f in out] == [2, 1]
    # item 2's shown part comes from the space that gave it most (keyword, part 3)
    assert out[0].part_id == 3


def test_zero_weight_drops_space_and_its_candidates() -> None:
    lists = {"text": [H(1, 1, 0.9)], "clip": [H(2, 2, 0.9), H(1, 3, 0.1)]}
    out = fuse(lists, weights={"clip": 0})
    assert [f.item_id for f in out] == [1]
    assert set(out[0].spaces) == {"text"}


def test_missing_and_empty_spaces() -> None:
    assert fuse({}) == []
    assert fuse({"text": [], "clip": []}) == []
    out = fuse({"text": [], "keyword": [H(5, 50, 2.0)]})
    assert len(out) == 1 and out[0].score == pytest.approx(1 / 61)
    assert set(out[0].space_scores()) == {"keyword"}


def test_score_fusion_min_max_by_hand() -> None:
    # text scores 0.9, 0.6, 0.3 -> 1, 0.5, 0; keyword 10, 2 -> 1, 0
    lists = {
        "text": [H(1, 1, 0.9), H(2, 2, 0.6), H(3, 3, 0.3)],
        "keyword": [H(3, 4, 10.0), H(2, 5, 2.0)],
    }
    out = fuse(lists, method="score")
    s = {f.item_id: f.score for f in out}
    assert s[1] == pytest.approx(1.0)
    assert s[2] == pytest.approx(0.5 + 0.0)
    assert s[3] == pytest.approx(0.0 + 1.0)
    assert [f.item_id for f in out] == [1, 3, 2]  # 1.0 tie between items 1 and 3 -> id
    weighted = fuse(lists, method="score", weights={"text": 0.5, "keyword": 2.0})
    s = {f.item_id: f.score for f in weighted}
    assert s == pytest.approx({1: 0.5, 2: 0.25, 3: 2.0})
    assert [f.item_id for f in weighted] == [3, 1, 2]


def test_score_fusion_flat_space_scales_to_one() -> None:
    out = fuse({"keyword": [H(1, 1, 4.0), H(2, 2, 4.0)]}, method="score")
    assert [f.score for f in out] == [1.0, 1.0]
    assert [f.item_id for f in out] == [1, 2]


def test_space_scores_report_raw_score_and_rank() -> None:
    out = fuse({"keyword": [H(1, 1, 7.5)], "text": [H(1, 2, 0.42)]})
    ss = out[0].space_scores()
    assert ss["keyword"].rank == 1 and ss["keyword"].score == 7.5
    assert ss["text"].score == 0.42


def test_bad_method_rejected() -> None:
    with pytest.raises(ValueError):
        fuse({"text": [H(1, 1, 1.0)]}, method="max")  # type: ignore[arg-type]


# --- separation fusion (auto), the search default -------------------------------------------

def _spread(n: int, seed: int, top: float | None = None) -> list[Hit]:
    """A space's ``n`` candidates when it does not separate: the best ``n`` of 5n noisy scores."""
    import random

    rng = random.Random(seed)
    scores = sorted((rng.gauss(0.5, 0.05) for _ in range(5 * n)), reverse=True)[:n]
    if top is not None:
        scores[0] = top
    items = list(range(1, n + 1))
    rng.shuffle(items)
    return [H(i, 1000 + i, s) for i, s in zip(items, scores, strict=True)]


def test_auto_leading_space_alone_keeps_its_order() -> None:
    text = _spread(200, 1)
    alone = [f.item_id for f in fuse({"text": text})]
    assert [f.item_id for f in fuse({"text": text}, method="auto")] == alone


def test_auto_space_that_does_not_separate_cannot_reorder_the_top() -> None:
    # text has a clear winner (item of score 0.9); a noisy CLIP list with its own first place
    text, clip = _spread(200, 2, top=0.9), _spread(200, 3)
    want = [f.item_id for f in fuse({"text": text})][:10]
    got = [f.item_id for f in fuse({"text": text, "clip": clip}, method="auto")][:10]
    assert got[0] == want[0]
    assert len(set(got) & set(want)) >= 8  # RRF: CLIP's noise would interleave half the page
    rrf = [f.item_id for f in fuse({"text": text, "clip": clip})][:10]
    assert len(set(rrf) & set(want)) < len(set(got) & set(want))


def test_auto_clip_outlier_counts_for_a_picture_only_clip_sees() -> None:
    text = _spread(200, 4)
    clip = _spread(200, 5, top=0.95)  # item far above the rest: CLIP is sure
    photo = clip[0].item_id + 1000  # an item the text space cannot see
    clip = [H(photo, 9, 0.95), *clip[1:]]
    ranked = [f.item_id for f in fuse({"text": text, "clip": clip}, method="auto")]
    assert ranked.index(photo) < 3


def test_auto_keyword_hit_holding_every_term_wins_a_code_query() -> None:
    text = _spread(200, 6)
    code_item = text[30].item_id  # MiniLM ranks the invoice 31st
    keyword = [Hit(code_item, 7, 11.0, coverage=1.0)]
    assert fuse({"text": text, "keyword": keyword}, method="auto")[0].item_id == code_item


def test_auto_partial_keyword_hit_does_not_overturn_a_clear_lead() -> None:
    text = _spread(200, 7, top=0.9)
    leader = text[0].item_id
    other = text[5].item_id
    keyword = [Hit(other, 8, 9.0, coverage=0.5)]  # shares half the words of a paraphrase
    assert fuse({"text": text, "keyword": keyword}, method="auto")[0].item_id == leader


def test_confidence_is_a_probability_that_falls_with_score_and_gap() -> None:
    from retrieval.search.separation import GOOD_MATCH, confidence, confidences

    assert 0.0 <= confidence(-100.0, 0.0) < confidence(5.0, 5.0) < confidence(12.0, 12.0) <= 1.0
    assert confidence(8.0, 12.0) < confidence(8.0, 8.0)  # far below the best: less likely
    best_only = confidences([12.0, 3.0, 2.5])
    assert best_only[0] >= GOOD_MATCH > best_only[1] >= best_only[2]
    assert confidences([]) == []
