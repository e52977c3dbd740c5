"""int8 query encoders: ONNX Runtime's dynamic quantisation of an exported fp32 query model.

A one-query encode is a handful of small matrix products per layer; with int8 weights they
read a quarter of the bytes and run on the CPU's integer dot products (3-5x faster for MiniLM
here). The price is ranking quality, which differs per model: ``XMODAL_QUERY_INT8`` names
the spaces whose query encoder runs in int8, and only a space whose cost was measured on a
real evaluation belongs in the default (``docs/performance.md``, section 9).

Weights are quantised per output channel (per tensor lost too much: cosine 0.73 to torch
on MiniLM) to 7 bits (``reduce_range``): CPUs without VNNI multiply
unsigned by signed bytes into 16-bit sums that saturate on full 8-bit weights, so the same
file ranks the same on an AVX2 laptop and on an AVX-512 server.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from retrieval.atomic import replacing

log = logging.getLogger(__name__)

# An int8 model whose vectors fall this far from torch's on the check texts is refused (a
# sanity bound against a broken quantisation; ranking quality is measured, not assumed).
MIN_COSINE = 0.95


def int8_path(fp32: Path) -> Path:
    """Where the int8 copy of an exported fp32 model is cached, beside it."""
    return fp32.with_name(f"{fp32.stem}-int8.onnx")


def quantised(fp32: Path) -> Path:
    """The int8 copy of ``fp32`` (an already checked export), written once."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    path = int8_path(fp32)
    if not path.is_file():
        log.info("quantising %s to int8", fp32.name)
        root = logging.getLogger()
        root.addFilter(_no_preprocess_hint)  # a hint for static quantisation, not ours
        try:
            with replacing(path, durable=False) as tmp:
                quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8,
                                 op_types_to_quantize=["MatMul", "Gemm"], reduce_range=True,
                                 per_channel=True)
        finally:
            root.removeFilter(_no_preprocess_hint)
    return path


def _no_preprocess_hint(record: logging.LogRecord) -> bool:
    return "pre-processing before quantization" not in record.getMessage()


def worst_cosine(got: np.ndarray, want: np.ndarray) -> float:
    """The smallest cosine between matching rows of two sets of unit vectors."""
    return float(np.min(np.sum(got * want, axis=1)))
