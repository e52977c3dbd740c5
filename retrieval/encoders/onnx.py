"""Query-side text encoders on ONNX Runtime: MiniLM and CLIP's text tower, exported at first use.

A typed query is one short text through two small transformers; on a laptop CPU torch's
per-operator overhead is a large share of that, and ONNX Runtime's fused graph does the same
arithmetic with less of it. The ONNX file is exported from the very torch model already
loaded (so it is whatever weights the user configured, never a download), cached under
``XMODAL_ONNX_CACHE`` keyed by a hash of those weights, and checked against torch on a probe
text each time it is opened: a model that disagrees by more than ``TOLERANCE``, an export
that fails or a missing ONNX Runtime logs one warning and the query keeps using torch.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.atomic import replacing
from retrieval.config import Settings
from retrieval.encoders.base import l2_normalise
from retrieval.encoders.clip import ClipEncoder, text_length, text_lengths, trims_padding
from retrieval.encoders.onnx_int8 import MIN_COSINE, int8_path, quantised, worst_cosine
from retrieval.encoders.text import TextEncoder

log = logging.getLogger(__name__)

FORMAT = 1  # bump when what is exported changes, so old cache files are not reused
TOLERANCE = 1e-4  # largest |onnx - torch| allowed on the probe, per unit-vector component
# What one more ONNX Runtime call costs, in padded tokens (a row of one token each): ~10-25
# measured on CPU for CLIP's text tower and MiniLM (``length_groups``).
CALL_OVERHEAD_TOKENS = 16
# torch.onnx.export keeps global state: the two query encoders' threads export (and quantise)
# one at a time
_EXPORT_LOCK = threading.Lock()
PROBE = ["a probe sentence to trace the export with", "x"]
# checked on another batch size and length than traced, so a shape baked into the graph shows
CHECK = ["ONNX Runtime must agree with torch", "on texts of other lengths, in a batch of", "3"]


def weights_hash(module: Any, skip_prefix: str | None = None) -> str:
    """sha256 over a module's tensors (names, dtypes, shapes, bytes): the cache key."""
    import torch

    h = hashlib.sha256(f"xmodal-onnx-{FORMAT}".encode())
    for name, tensor in module.state_dict().items():
        if skip_prefix and name.startswith(skip_prefix):
            continue
        t = tensor.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:24]


def mean_pooled(transformer: Any, input_ids: Any, attention_mask: Any,
                token_type_ids: Any) -> Any:
    """MiniLM's forward and sentence-transformers' mean pooling (before normalisation)."""
    out = transformer(input_ids=input_ids, attention_mask=attention_mask,
                      token_type_ids=token_type_ids)[0]
    mask = attention_mask.unsqueeze(-1).to(out.dtype)
    return (out * mask).sum(1) / mask.sum(1).clamp(min=1e-9)


def mean_pooled_only(st: Any) -> bool:
    """Whether a SentenceTransformer is what ``mean_pooled`` computes (then normalised)."""
    kinds = [type(m).__name__ for m in st]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        return False
    cfg = st[1].get_config_dict()
    if "pooling_mode" in cfg:  # sentence-transformers 6
        return cfg["pooling_mode"] in ("mean", ["mean"])
    modes = {k for k, v in cfg.items() if k.startswith("pooling_mode_") and v}
    return modes == {"pooling_mode_mean_tokens"}


def clip_text_tower(model: Any, tokens: Any) -> Any:
    """CLIP's text tower over cut tokens, its attention written out for the exporter.

    ``encode_text_cut`` through ``nn.MultiheadAttention`` traces with the probe's length
    baked into a reshape; the same arithmetic in plain ops keeps the length dynamic. Blocks
    other than open_clip's plain ``ResidualAttentionBlock`` are refused (torch is kept).
    """
    import torch
    from open_clip.transformer import ResidualAttentionBlock, text_global_pool

    length = tokens.shape[1]
    mask = model.attn_mask[:length, :length]
    x = model.token_embedding(tokens) + model.positional_embedding[:length]
    for block in model.transformer.resblocks:
        if type(block) is not ResidualAttentionBlock or hasattr(block, "ln_1_kv"):
            raise ValueError(f"text block {type(block).__name__} is not exported")
        x = x + block.ls_1(_attention(block.attn, block.ln_1(x), mask))
        x = x + block.ls_2(block.mlp(block.ln_2(x)))
    x = text_global_pool(model.ln_final(x), tokens, model.text_pool_type,
                         eos_token_id=getattr(model, "text_eos_id", None))
    proj = model.text_projection
    if proj is not None:
        x = proj(x) if isinstance(proj, torch.nn.Linear) else x @ proj
    return x


def _attention(attn: Any, x: Any, mask: Any) -> Any:
    """``nn.MultiheadAttention`` (batch first, self-attention, additive mask) in plain ops."""
    import torch.nn.functional as F  # noqa: N812

    heads = attn.num_heads
    q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.unflatten(-1, (heads, -1)).transpose(1, 2) for t in (q, k, v))
    scores = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5) + mask
    out = (scores.softmax(dim=-1) @ v).transpose(1, 2).flatten(2)
    return F.linear(out, attn.out_proj.weight, attn.out_proj.bias)


def padded_text_tower(model: Any, tokens: Any) -> Any:
    """open_clip's own ``encode_text`` over all 77 tokens, for towers whose padding matters."""
    return model.encode_text(tokens)


def exportable(forward: Callable[..., Any], owner: Any) -> Any:
    """A torch module whose forward is ``forward(owner, *inputs)``: what the exporter traces."""
    import torch

    class Exported(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.owner = owner

        def forward(self, *inputs: Any) -> Any:
            return forward(self.owner, *inputs)

    return Exported().eval()


class OnnxQueryModel:
    """``encode(texts) -> (n, dim)`` unit vectors on ONNX Runtime, torch if that cannot be had.

    Built lazily on the first call (on the query encoder's own thread); every failure, at
    export or at run time, logs one warning and switches this model to torch for good.
    """

    def __init__(self, space: str, encoder: TextEncoder | ClipEncoder, settings: Settings
                 ) -> None:
        self.space = space  # text | clip
        self.encoder = encoder
        self.settings = settings
        self.runtime = "onnx (not built yet)"
        self._session: Any = None
        self._failed = False
        self._torch = torch_encode(space, encoder)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = list(texts)
        if not self._failed and self._session is None:
            try:
                self.runtime = "onnx"  # or "onnx int8", set by _open
                self._session = self._open()
            except Exception as exc:  # noqa: BLE001 - any failure means "use torch"
                self._fall_back(f"cannot export or open it ({type(exc).__name__}: {exc})")
        if self._failed or not texts:
            return self._torch(texts)
        try:
            return self._run(texts)
        except Exception as exc:  # noqa: BLE001 - ORT errors mid-run: torch still works
            self._fall_back(f"ONNX Runtime failed ({type(exc).__name__}: {exc})")
            return self._torch(texts)

    def _fall_back(self, why: str) -> None:
        log.warning("%s query encoder: %s; using torch", self.space, why)
        self._failed, self._session, self.runtime = True, None, "torch (ONNX failed)"

    # -- inputs per model -----------------------------------------------------------------
    def _feeds(self, texts: list[str]) -> dict[str, np.ndarray]:
        enc = self.encoder
        if isinstance(enc, TextEncoder):
            model = enc.model
            batch = model.tokenizer(texts, padding=True, truncation="longest_first",
                                    max_length=model.max_seq_length, return_tensors="np")
            ids = batch["input_ids"].astype(np.int64)
            types = batch.get("token_type_ids")
            return {"input_ids": ids,
                    "attention_mask": batch["attention_mask"].astype(np.int64),
                    "token_type_ids": (np.zeros_like(ids) if types is None
                                       else types.astype(np.int64))}
        tokens = enc.tokenize(texts)
        if trims_padding(enc.model):
            tokens = tokens[:, :text_length(enc.model, tokens)]
        return {"tokens": tokens.numpy().astype(np.int64)}

    def _run(self, texts: list[str]) -> np.ndarray:
        """One call per group of similar lengths (``length_groups``), rows back in order."""
        feeds = self._feeds(texts)
        lengths = self._lengths(feeds)
        if lengths is None or len(texts) == 1:
            return l2_normalise(self._session.run(None, feeds)[0])
        out: np.ndarray | None = None
        for rows in length_groups(lengths):
            cut = int(lengths[rows].max())
            part = self._session.run(None, {k: v[rows, :cut] for k, v in feeds.items()})[0]
            if out is None:
                out = np.empty((len(texts), part.shape[1]), dtype=part.dtype)
            out[rows] = part
        assert out is not None
        return l2_normalise(out)

    def _lengths(self, feeds: dict[str, np.ndarray]) -> np.ndarray | None:
        """Each row's tokens that matter (None: every row needs all its columns)."""
        model = self.encoder.model
        if "attention_mask" in feeds:  # the tokenizer pads on the right (else: no cutting)
            right = getattr(model.tokenizer, "padding_side", "right") == "right"
            return feeds["attention_mask"].sum(axis=1) if right else None
        if not trims_padding(model):
            return None
        import torch

        return text_lengths(model, torch.from_numpy(feeds["tokens"])).numpy()

    # -- export and cache -----------------------------------------------------------------
    def _module(self) -> tuple[Any, str, dict[str, dict[int, str]]]:
        """(module to export, its cache key, dynamic axes)."""
        enc = self.encoder
        if isinstance(enc, TextEncoder):
            st = enc.model
            if not mean_pooled_only(st):
                raise ValueError("only Transformer + mean Pooling (+ Normalize) models export")
            transformer = st[0].auto_model
            axes = {n: {0: "batch", 1: "length"}
                    for n in ("input_ids", "attention_mask", "token_type_ids")}
            module = exportable(mean_pooled, transformer)
            return module, "text-" + weights_hash(transformer), axes
        model = enc.model
        trims = trims_padding(model)
        axes = {"tokens": {0: "batch", 1: "length"} if trims else {0: "batch"}}
        module = exportable(clip_text_tower if trims else padded_text_tower, model)
        return module, "clip-" + weights_hash(model, skip_prefix="visual."), axes

    def _open(self) -> Any:
        """The checked session: fp32 (equal to torch), or int8 where the settings ask."""
        if self.encoder.precision != "fp32":
            raise ValueError(f"weights are {self.encoder.precision}; ONNX export needs fp32")
        module, key, axes = self._module()
        path = Path(self.settings.onnx_cache).expanduser() / f"{key}.onnx"
        int8 = self.space in self.settings.query_int8_spaces()
        if int8 and int8_path(path).is_file():  # made from an fp32 file that passed its check
            try:
                return self._int8_session(int8_path(path))
            except Exception as exc:  # noqa: BLE001 - rebuilt below from the fp32 export
                log.warning("%s query encoder: cached int8 file refused (%s)", self.space, exc)
        if not path.is_file():
            self._export(module, path, axes)
        session = self._checked(path, lambda got, want: float(np.abs(got - want).max()),
                                lambda gap: gap > TOLERANCE, "differs from torch by")
        if not int8:
            return session
        try:
            with _EXPORT_LOCK:  # one quantisation at a time (and its log filter)
                small = quantised(path)
            return self._int8_session(small)
        except Exception as exc:  # noqa: BLE001 - the fp32 session is as good, only slower
            log.warning("%s query encoder: int8 failed (%s: %s); using fp32 ONNX",
                        self.space, type(exc).__name__, exc)
            return session

    def _export(self, module: Any, path: Path, axes: dict[str, dict[int, str]]) -> None:
        import torch

        log.info("exporting the %s query encoder to %s", self.space, path)
        feeds = self._feeds(PROBE)
        args = tuple(torch.from_numpy(v) for v in feeds.values())
        with _EXPORT_LOCK, replacing(path, durable=False) as tmp, torch.no_grad(), \
                warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer notes on shape-dependent branches
            torch.onnx.export(module, args, str(tmp), dynamo=False,
                              input_names=list(feeds), output_names=["embedding"],
                              dynamic_axes={**axes, "embedding": {0: "batch"}},
                              opset_version=17)

    def _int8_session(self, path: Path) -> Any:
        session = self._checked(path, worst_cosine, lambda cos: cos < MIN_COSINE,
                                "has a cosine to torch of")
        self.runtime = "onnx int8"
        return session

    def _checked(self, path: Path, compare: Callable[[np.ndarray, np.ndarray], float],
                 bad: Callable[[float], bool], says: str) -> Any:
        """A session on ``path`` whose vectors on ``CHECK`` agree with torch's; a file that
        does not is deleted (a fixed version of the code exports it again) and raises."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # each query encoder has a core (see workers.py)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), options,
                                           providers=["CPUExecutionProvider"])
            value = compare(l2_normalise(session.run(None, self._feeds(CHECK))[0]),
                            self._torch(CHECK))
            if bad(value):
                raise ValueError(f"{path.name} {says} {value:.1e}")
        except Exception:
            path.unlink(missing_ok=True)
            raise
        return session


def length_groups(lengths: np.ndarray, overhead: int = CALL_OVERHEAD_TOKENS
                  ) -> list[np.ndarray]:
    """A batch's rows split into calls of similar length, to cut the padding's work.

    Queries waiting together are encoded in one batch (``retrieval/search/workers.py``), padded
    to the longest. On a CPU a call costs about ``overhead`` + rows x longest tokens (the
    matrix products are compute-bound), so a 30-token query padded 15 short ones to double
    their work. The split minimising that cost, over rows sorted by length, is found exactly
    (the batch is at most a few dozen rows).
    """
    order = np.argsort(lengths, kind="stable")
    ranked = lengths[order]
    n = len(ranked)
    best = [0.0] + [math.inf] * n
    start = [0] * (n + 1)
    for end in range(1, n + 1):
        for first in range(end):
            cost = best[first] + overhead + (end - first) * int(ranked[end - 1])
            if cost < best[end]:
                best[end], start[end] = cost, first
    groups: list[np.ndarray] = []
    end = n
    while end > 0:
        groups.append(order[start[end]:end])
        end = start[end]
    return groups[::-1]


def query_encode(space: str, encoder: Any, settings: Settings
                 ) -> Callable[[list[str]], np.ndarray]:
    """The function that encodes queries for ``space`` under ``XMODAL_QUERY_RUNTIME``.

    ``auto`` takes ONNX Runtime where it is the faster path (CPU, fp32 weights); on a GPU or
    with bf16/fp16 weights torch is kept. ``onnx`` asks for it anywhere; ``torch`` never.
    """
    runtime = settings.query_runtime
    if runtime == "torch" or not isinstance(encoder, (TextEncoder, ClipEncoder)):
        return torch_encode(space, encoder)  # another kind of encoder has no export here
    if runtime == "auto" and (encoder.device != "cpu" or encoder.precision != "fp32"):
        return torch_encode(space, encoder)
    return OnnxQueryModel(space, encoder, settings)


def torch_encode(space: str, encoder: Any) -> Callable[[list[str]], np.ndarray]:
    """The encoder's own (torch) query encoding for ``space``."""
    return encoder.encode if space == "text" else encoder.encode_texts
