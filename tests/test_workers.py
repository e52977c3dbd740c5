"""The engine's query encoder threads: queries waiting together are encoded as one batch."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from retrieval.encoders import TextEncoder
from retrieval.search.workers import EncodeQueue, Recent


def test_waiting_queries_share_one_encode_and_each_gets_its_own_vector(
    text_encoder: TextEncoder,
) -> None:
    batches: list[list[str]] = []

    def encode(texts: list[str]) -> np.ndarray:
        batches.append(texts)
        return text_encoder.encode(texts)

    model_lock = threading.Lock()
    encoder = EncodeQueue("text", encode, model_lock)
    texts = [f"a question about harbour number {i}" for i in range(20)] + ["a repeat"] * 4
    with model_lock:  # the model is busy (e.g. an image query): questions pile up
        jobs = [encoder.submit(t) for t in texts]
    vectors = np.stack([job.result(timeout=60) for job in jobs])
    encoder.close()
    assert len(batches) < 5  # 24 questions, a few encoder calls
    assert all(len(b) == len(set(b)) for b in batches)  # a text repeated in a batch: once
    assert sum(len(b) for b in batches) < len(texts)
    alone = text_encoder.encode(texts)
    assert ((vectors * alone).sum(axis=1) > 0.99).all()  # each got its own text's vector


def test_an_encoder_error_reaches_every_caller_and_the_queue_goes_on() -> None:
    def encode(texts: list[str]) -> np.ndarray:
        if "bad" in texts:
            raise ValueError("cannot encode")
        return np.ones((len(texts), 3), dtype=np.float32)

    encoder = EncodeQueue("test", encode, threading.Lock())
    with pytest.raises(ValueError, match="cannot encode"):
        encoder.submit("bad").result(timeout=10)
    assert encoder.submit("good").result(timeout=10).shape == (3,)
    encoder.close()


def test_recent_keeps_the_most_recently_used() -> None:
    recent = Recent(2)
    recent.put("a", 1)
    recent.put("b", 2)
    assert recent.get("a") == 1  # "a" is now the most recent
    recent.put("c", 3)
    assert recent.get("b") is None and recent.get("a") == 1 and recent.get("c") == 3
