"""MiniLM on real weights: paraphrases find each other, long text is chunked to fit."""

from __future__ import annotations

import numpy as np
import pytest

from retrieval.config import Settings
from retrieval.encoders import TextEncoder
from retrieval.errors import ModelUnavailable

PAIRS = [
    ("The cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("How do I reset my password?", "I forgot my login password and need to change it."),
    ("The train to Boston was delayed by an hour.",
     "Our Boston-bound train ran sixty minutes late."),
    ("She bought fresh vegetables at the market.", "At the market she purchased fresh produce."),
    ("Heavy rain is expected tomorrow.", "Tomorrow's forecast calls for a downpour."),
    ("The company reported record profits this quarter.",
     "This quarter the firm posted its highest earnings ever."),
    ("Add two cups of flour to the bowl.", "Put 2 cups of flour into the mixing bowl."),
    ("The patient needs surgery on his knee.", "He requires an operation on his knee."),
    ("The concert was cancelled because of the storm.",
     "Due to the storm, the show was called off."),
    ("Children are playing football in the park.", "Kids kick a soccer ball around the park."),
    ("My laptop battery drains very quickly.", "The battery in my notebook runs out fast."),
    ("The museum opens at nine in the morning.", "Doors of the museum open at 9 am."),
]
UNRELATED = [
    "Photosynthesis converts sunlight into chemical energy.",
    "The stock exchange closed lower on Friday.",
    "Volcanic ash grounded flights across Europe.",
    "He tuned the guitar before the recital.",
]


def test_vectors_are_unit_float32(text_encoder: TextEncoder) -> None:
    vecs = text_encoder.encode(["one sentence", "another one", ""])
    assert vecs.shape == (3, 384) and vecs.dtype == np.float32 and text_encoder.dim == 384
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert text_encoder.encode([]).shape == (0, 384)


def test_batch_equals_one_by_one(text_encoder: TextEncoder) -> None:
    texts = [a for a, _ in PAIRS[:5]]
    batch = text_encoder.encode(texts)
    single = np.concatenate([text_encoder.encode([t]) for t in texts])
    assert np.allclose(batch, single, atol=1e-5)


def test_paraphrase_beats_every_unrelated_sentence(text_encoder: TextEncoder) -> None:
    anchors = text_encoder.encode([a for a, _ in PAIRS])
    paraphrases = text_encoder.encode([b for _, b in PAIRS])
    others = text_encoder.encode(UNRELATED)
    for i, (a, b) in enumerate(PAIRS):
        own = float(anchors[i] @ paraphrases[i])
        rivals = [float(anchors[i] @ paraphrases[j]) for j in range(len(PAIRS)) if j != i]
        rivals += [float(anchors[i] @ o) for o in others]
        assert own > max(rivals), f"{a!r} -> {b!r}: {own:.3f} vs {max(rivals):.3f}"


def test_chunks_fit_the_model_and_map_back(text_encoder: TextEncoder) -> None:
    text = " ".join(f"Paragraph {i}: the harbour master logged {i * 3} vessels, "
                    "unbelievably calm seas and a northerly breeze." for i in range(60))
    chunks = text_encoder.chunk(text)
    tok = text_encoder.model.tokenizer
    assert len(chunks) > 3
    for c in chunks:
        assert text[c.start:c.end] == c.text
        assert len(tok(c.text, add_special_tokens=False)["input_ids"]) <= text_encoder.max_tokens
        assert (c.start == 0 or text[c.start - 1] == " ") and (c.end == len(text)
                                                             or text[c.end] in " ,.:")
    assert chunks[0].start == 0 and chunks[-1].end == len(text)
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        assert prev.start < nxt.start < prev.end  # overlapping windows, moving forward
    assert text_encoder.max_tokens <= text_encoder.model.max_seq_length - 2


def test_short_and_empty_text(text_encoder: TextEncoder) -> None:
    [only] = text_encoder.chunk("  A short note.  ")
    assert only.text == "A short note." and (only.start, only.end) == (2, 15)
    assert text_encoder.chunk("") == [] and text_encoder.chunk(" \n ") == []


def test_missing_model_says_how_to_fix(tmp_path) -> None:
    enc = TextEncoder(Settings(text_model=str(tmp_path / "no-such-model"), device="cpu"))
    with pytest.raises(ModelUnavailable) as err:
        enc.load()
    assert "XMODAL_TEXT_MODEL" in str(err.value) and "no-such-model" in str(err.value)


def test_reduced_precision_keeps_the_fp32_neighbours(
    text_encoder: TextEncoder, offline_settings: Settings
) -> None:
    """The default precision (bf16 on CPUs that compute it natively) ranks like fp32."""
    from retrieval.config import resolve_precision

    assert resolve_precision("auto", "cuda") == "fp16"
    assert resolve_precision("auto", "mps") == resolve_precision("fp32", "cpu") == "fp32"
    fp32 = TextEncoder(offline_settings.model_copy(update={"precision": "fp32"}))
    assert fp32.precision == "fp32"
    texts = [t for pair in PAIRS for t in pair] + UNRELATED
    exact, fast = fp32.encode(texts), text_encoder.encode(texts)
    assert (exact * fast).sum(axis=1).min() > 0.99
    queries = [a for a, _ in PAIRS]
    assert ((fp32.encode(queries) @ exact.T).argsort(axis=1)[:, -2]
            == (text_encoder.encode(queries) @ fast.T).argsort(axis=1)[:, -2]).all()
