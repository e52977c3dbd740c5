"""CLIP plumbing on a tiny random-weight model; what the weights know needs a real checkpoint."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from retrieval.config import Settings
from retrieval.encoders import ClipEncoder
from retrieval.errors import ModelUnavailable
from tests.media import pattern_image


@pytest.fixture(scope="module")
def images() -> list[Image.Image]:
    return [pattern_image(seed) for seed in range(20)]


def test_shapes_and_unit_norm(tiny_clip: ClipEncoder, images: list[Image.Image]) -> None:
    img = tiny_clip.encode_images(images[:3])
    txt = tiny_clip.encode_texts(["a red bicycle", "a harbour at dusk"])
    assert img.shape == (3, tiny_clip.dim) and txt.shape == (2, tiny_clip.dim)
    assert img.dtype == np.float32 and txt.dtype == np.float32
    assert np.allclose(np.linalg.norm(img, axis=1), 1, atol=1e-5)
    assert np.allclose(np.linalg.norm(txt, axis=1), 1, atol=1e-5)
    assert tiny_clip.encode_images([]).shape == (0, tiny_clip.dim)
    assert tiny_clip.encode_texts([]).shape == (0, tiny_clip.dim)


def test_batch_equals_one_by_one(tiny_clip: ClipEncoder, images: list[Image.Image]) -> None:
    batch = tiny_clip.encode_images(images[:6])
    single = np.concatenate([tiny_clip.encode_images([im]) for im in images[:6]])
    assert np.allclose(batch, single, atol=1e-5)
    texts = ["one", "two words", "a longer caption about a dog on a beach"]
    assert np.allclose(tiny_clip.encode_texts(texts),
                       np.concatenate([tiny_clip.encode_texts([t]) for t in texts]), atol=1e-5)


@pytest.fixture(scope="module")
def fp32_clip(tiny_clip_files: tuple[str, Path, Path]) -> ClipEncoder:
    """The same checkpoint built by open_clip itself in fp32 and wrapped as it is."""
    import open_clip

    name, _, checkpoint = tiny_clip_files
    model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(checkpoint))
    return ClipEncoder.from_model(model, preprocess, open_clip.get_tokenizer(name), "tiny")


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_text_vectors_equal_open_clips_padded_encode(
    fp32_clip: ClipEncoder, tiny_clip: ClipEncoder
) -> None:
    """The encoder stops at the last end-of-text token; the vectors must not change."""
    import torch

    texts = ["INV-4471", "a harbour at dusk with two boats",
             "a very long caption " + "about many things " * 40]  # past 77 tokens: cut
    tokens = fp32_clip._tokenizer(texts)
    with torch.inference_mode():
        padded = fp32_clip.model.encode_text(tokens).float().numpy()
    padded /= np.linalg.norm(padded, axis=1, keepdims=True)
    assert np.allclose(fp32_clip.encode_texts(texts), padded, atol=1e-5)
    assert np.allclose(fp32_clip.encode_texts(texts[:1]), padded[:1], atol=1e-5)
    # the product's own precision (bf16 on CPUs that have it) stays on the fp32 directions
    assert cosines(tiny_clip.encode_texts(texts), padded).min() > 0.999


def test_resized_jpeg_copy_is_nearest_its_original(
    tiny_clip: ClipEncoder, images: list[Image.Image]
) -> None:
    originals = tiny_clip.encode_images(images)
    for i, img in enumerate(images):
        buf = io.BytesIO()
        img.resize((img.width * 3 // 4, img.height * 3 // 4)).save(buf, "JPEG", quality=75)
        copy = tiny_clip.encode_images([Image.open(buf)])[0]
        assert int(np.argmax(originals @ copy)) == i


def test_any_image_mode_is_accepted(tiny_clip: ClipEncoder) -> None:
    modes = [Image.new("P", (40, 30)), Image.new("RGBA", (40, 30), (9, 9, 9, 0)),
             Image.new("CMYK", (40, 30)), Image.new("I;16", (40, 30)), Image.new("L", (40, 30))]
    vecs = tiny_clip.encode_images(modes)
    assert vecs.shape == (5, tiny_clip.dim) and np.isfinite(vecs).all()


def test_from_model_matches_the_loaded_checkpoint(
    tiny_clip: ClipEncoder, fp32_clip: ClipEncoder, images: list[Image.Image]
) -> None:
    assert fp32_clip.name == "tiny" and fp32_clip.dim == tiny_clip.dim
    assert fp32_clip.precision == "fp32"
    assert tiny_clip.precision in ("fp32", "bf16")  # bf16 where the CPU computes it natively
    same = cosines(fp32_clip.encode_images(images[:4]), tiny_clip.encode_images(images[:4]))
    assert same.min() > 0.999


def test_no_weights_means_unavailable_never_random(tmp_path: Path) -> None:
    default = ClipEncoder(Settings(device="cpu"))  # ViT-B-32 / laion2b: not cached offline
    with pytest.raises(ModelUnavailable) as err:
        default.load()
    assert "XMODAL_CLIP_CHECKPOINT" in str(err.value) and "ViT-B-32" in str(err.value)
    missing = ClipEncoder(Settings(device="cpu", clip_checkpoint=tmp_path / "nope.pt"))
    with pytest.raises(ModelUnavailable, match="nope.pt"):
        missing.load()
    untagged = ClipEncoder(Settings(device="cpu", clip_pretrained=""))
    with pytest.raises(ModelUnavailable, match="No pretrained tag or checkpoint"):
        untagged.load()


def test_wrong_checkpoint_is_refused(
    tiny_clip_files: tuple[str, Path, Path], tmp_path: Path
) -> None:
    import torch

    name, config, _ = tiny_clip_files
    bad = tmp_path / "other.pt"
    torch.save({"not": torch.zeros(1)}, bad)
    enc = ClipEncoder(Settings(device="cpu", clip_model=name, clip_config=config,
                               clip_checkpoint=bad))
    with pytest.raises(ModelUnavailable):
        enc.load()


@pytest.mark.skipif(not os.environ.get("XMODAL_TEST_CLIP_CHECKPOINT"),
                    reason="no real CLIP weights: set XMODAL_TEST_CLIP_CHECKPOINT (and "
                           "XMODAL_TEST_CLIP_MODEL, default ViT-B-32) to run")
def test_real_clip_matches_colours_to_words() -> None:
    settings = Settings(device="cpu",
                        clip_model=os.environ.get("XMODAL_TEST_CLIP_MODEL", "ViT-B-32"),
                        clip_checkpoint=Path(os.environ["XMODAL_TEST_CLIP_CHECKPOINT"]))
    enc = ClipEncoder(settings)
    colours = {"red": (220, 20, 20), "green": (20, 180, 40), "blue": (30, 40, 220),
               "yellow": (240, 220, 30)}
    imgs = enc.encode_images([Image.new("RGB", (224, 224), c) for c in colours.values()])
    txts = enc.encode_texts([f"a plain {c} square" for c in colours])
    assert list(np.argmax(imgs @ txts.T, axis=1)) == list(range(len(colours)))
