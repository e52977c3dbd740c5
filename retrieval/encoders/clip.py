"""The CLIP space: open_clip image and text towers (default ViT-B-32 / laion2b_s34b_b79k, 512-d).

Weights resolve as: ``XMODAL_CLIP_CHECKPOINT`` (a local file) -> the Hugging Face cache for the
pretrained tag -> a hub download. Without weights the model is unavailable; it never falls back
to random weights, which would index garbage that looks like it works.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from retrieval.config import Settings
from retrieval.encoders.base import LazyModel, hub_offline, hub_reachable, l2_normalise
from retrieval.errors import ModelUnavailable
from retrieval.media.decode import to_rgb

log = logging.getLogger(__name__)

HOW = (
    "Download an open_clip checkpoint (e.g. open_clip_pytorch_model.bin of "
    "laion/CLIP-ViT-B-32-laion2B-s34B-b79K) and set XMODAL_CLIP_CHECKPOINT=/path/to/it "
    "(with XMODAL_CLIP_MODEL naming its architecture), or run once with network access so "
    "the pretrained tag in XMODAL_CLIP_PRETRAINED is cached."
)


def _cached_hub_file(hf_hub: str) -> str | None:
    """The locally cached file for an open_clip ``org/repo/[filename]`` entry, if any."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repo, filename = os.path.split(hf_hub.rstrip("/")) if not hf_hub.endswith("/") else (
        hf_hub.rstrip("/"), "")
    names = [filename] if filename else ["open_clip_model.safetensors",
                                         "open_clip_pytorch_model.bin"]
    for name in names:
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str) and Path(found).is_file():
            return found
    return None


class ClipEncoder(LazyModel):
    """Images and texts into one space, so a picture can find a recording and vice versa."""

    env_var = "XMODAL_CLIP_CHECKPOINT"

    def __init__(self, settings: Settings | None = None, *, device: str | None = None) -> None:
        super().__init__(settings, device)
        s = self.settings
        self.model_name = s.clip_model
        source = s.clip_checkpoint.name if s.clip_checkpoint else s.clip_pretrained
        self.name = f"{s.clip_model}/{source}"
        self._model: Any = None
        self._preprocess: Callable[[Image.Image], Any] | None = None
        self._tokenizer: Callable[..., Any] | None = None

    @classmethod
    def from_model(
        cls,
        model: Any,
        preprocess: Callable[[Image.Image], Any],
        tokenizer: Callable[..., Any],
        name: str,
        settings: Settings | None = None,
    ) -> ClipEncoder:
        """Wrap an already-built open_clip model (tests, notebooks); no weights are resolved."""
        enc = cls(settings, device=str(next(model.parameters()).device))
        enc._model, enc._preprocess, enc._tokenizer = model.eval(), preprocess, tokenizer
        enc.name = enc.weights = name
        weight_dtype = str(next(p for p in model.visual.parameters() if p.dim() > 1).dtype)
        enc.precision = {"torch.float16": "fp16", "torch.bfloat16": "bf16"}.get(
            weight_dtype, "fp32")
        enc._loaded = True
        return enc

    def _resolve(self) -> tuple[str, list[str]]:
        """The ``pretrained`` argument for open_clip and where we looked; raises if none."""
        import open_clip

        s = self.settings
        looked: list[str] = []
        if s.clip_config is not None:
            if not Path(s.clip_config).is_file():
                raise ModelUnavailable(self.name, [f"XMODAL_CLIP_CONFIG={s.clip_config}"],
                                       "XMODAL_CLIP_CONFIG must name an open_clip JSON config.")
            open_clip.add_model_config(Path(s.clip_config))
        if self.model_name not in open_clip.list_models():
            raise ModelUnavailable(
                self.name, ["open_clip model configs"],
                f"Unknown architecture {self.model_name!r}; set XMODAL_CLIP_MODEL to one of "
                "open_clip.list_models() or point XMODAL_CLIP_CONFIG at a JSON config.")
        if s.clip_checkpoint is not None:
            ckpt = Path(s.clip_checkpoint).expanduser()
            if ckpt.is_file():
                return str(ckpt), looked
            raise ModelUnavailable(self.name, [f"XMODAL_CLIP_CHECKPOINT={ckpt} (missing)"], HOW)
        tag = (s.clip_pretrained or "").strip()
        looked.append("XMODAL_CLIP_CHECKPOINT (unset)")
        if not tag or tag.lower() == "none":
            raise ModelUnavailable(self.name, looked, "No pretrained tag or checkpoint. " + HOW)
        cfg = open_clip.get_pretrained_cfg(self.model_name, tag)
        if not cfg:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(self.model_name)) or "none"
            raise ModelUnavailable(self.name, looked,
                                   f"No pretrained tag {tag!r} for {self.model_name} (known: "
                                   f"{tags}). " + HOW)
        hub = cfg.get("hf_hub", "")
        if hub:
            looked.append(f"Hugging Face cache for {hub.rstrip('/')}")
            cached = _cached_hub_file(hub)
            if cached:
                return cached, looked
        if hub_offline():
            raise ModelUnavailable(self.name, looked, "HF_HUB_OFFLINE is set. " + HOW)
        if hub and not hub_reachable():
            raise ModelUnavailable(self.name, looked, "The Hugging Face hub is unreachable. " + HOW)
        looked.append(f"download of {hub or cfg.get('url', tag)}")
        return tag, looked

    def _load(self) -> None:
        import open_clip

        pretrained, looked = self._resolve()
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                self.model_name, pretrained=pretrained, device=self.device,
                precision=self.precision,
            )
            tokenizer = open_clip.get_tokenizer(self.model_name)
        except Exception as exc:  # noqa: BLE001 - download/format errors all mean unavailable
            raise ModelUnavailable(self.name, looked or [pretrained],
                                   f"{type(exc).__name__}: {exc}. " + HOW) from exc
        self._model, self._preprocess, self._tokenizer = model.eval(), preprocess, tokenizer
        self.weights = pretrained

    @property
    def model(self) -> Any:
        self.load()
        return self._model

    @property
    def dim(self) -> int:
        m = self.model
        out = getattr(m.visual, "output_dim", None)
        if out is None:
            out = m.text_projection.shape[-1]
        return int(out)

    def _input_dtype(self) -> Any:
        """What images go in as: the towers' weight format (open_clip keeps embeddings fp32)."""
        import open_clip
        import torch

        return open_clip.get_input_dtype(self.precision) or torch.float32

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim) float32, L2-normalised; any Pillow mode is converted to RGB first."""
        import torch

        images = list(images)
        if not images:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        assert self._preprocess is not None
        out: list[np.ndarray] = []
        bs = self.settings.clip_batch_size
        with torch.inference_mode():
            for i in range(0, len(images), bs):
                batch = torch.stack([self._preprocess(to_rgb(im)) for im in images[i:i + bs]])
                feats = self.model.encode_image(batch.to(self.device, self._input_dtype()))
                out.append(feats.float().cpu().numpy())
        return l2_normalise(np.concatenate(out))

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32, L2-normalised; text past CLIP's 77 tokens is truncated."""
        import torch

        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        out: list[np.ndarray] = []
        bs = self.settings.clip_batch_size
        with torch.inference_mode():
            for i in range(0, len(texts), bs):
                tokens = self.tokenize(texts[i:i + bs]).to(self.device)
                out.append(encode_text_trimmed(self.model, tokens).float().cpu().numpy())
        return l2_normalise(np.concatenate(out))

    def tokenize(self, texts: Sequence[str]) -> Any:
        """open_clip's token ids for ``texts``: an (n, context length) int64 tensor, padded."""
        self.load()
        assert self._tokenizer is not None
        return self._tokenizer(list(texts))


def trims_padding(model: Any) -> bool:
    """Whether the text tower's output ignores what follows the end-of-text token.

    True for open_clip's own CLIP with a causal mask and end-of-text pooling; padding does
    reach the pooled output of other towers (no causal mask, first/last pooling, custom
    towers), which must see all 77 tokens.
    """
    import open_clip

    pool = getattr(model, "text_pool_type", None)
    mask = getattr(model, "attn_mask", None)
    return isinstance(model, open_clip.CLIP) and mask is not None and pool in ("argmax", "eos")


def text_lengths(model: Any, tokens: Any) -> Any:
    """Each row's tokens up to and including its end-of-text token (trimmable towers)."""
    pool = model.text_pool_type
    eos = getattr(model, "text_eos_id", None)
    ends = tokens.argmax(dim=-1) if pool == "argmax" else (tokens == eos).int().argmax(dim=-1)
    return ends + 1


def text_length(model: Any, tokens: Any) -> int:
    """Tokens up to and including the batch's last end-of-text token (trimmable towers)."""
    return int(text_lengths(model, tokens).max())


def encode_text_cut(model: Any, cut: Any) -> Any:
    """The text tower over tokens already cut after their end-of-text token.

    Shapes come from ``cut`` itself, so an ONNX trace of this keeps the length dynamic.
    """
    import torch
    from open_clip.transformer import text_global_pool

    length = cut.shape[1]
    cast = model.transformer.get_cast_dtype()
    x = model.token_embedding(cut).to(cast) + model.positional_embedding[:length].to(cast)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
    x = text_global_pool(x, cut, model.text_pool_type,
                         eos_token_id=getattr(model, "text_eos_id", None))
    proj = model.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
    return x


def encode_text_trimmed(model: Any, tokens: Any) -> Any:
    """open_clip's ``encode_text``, run only up to the batch's last end-of-text token.

    open_clip pads every text to 77 tokens and runs the whole transformer over the padding.
    With a causal mask and end-of-text pooling the pooled position never attends to what
    follows it, so cutting the padding gives the same vector (to float rounding) for a
    fraction of the work: an 8-word query is ~12 tokens, not 77. Other towers run unchanged.
    """
    if not trims_padding(model):
        return model.encode_text(tokens)
    return encode_text_cut(model, tokens[:, :text_length(model, tokens)])
