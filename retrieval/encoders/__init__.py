"""The four encoders and a lazy container that turns a missing model into a disabled modality."""

from __future__ import annotations

import logging
import threading
from typing import Any

from pydantic import BaseModel

from retrieval.config import Settings
from retrieval.encoders.clip import ClipEncoder
from retrieval.encoders.ocr import OcrReader, group_paragraphs, paragraph_texts, reading_order
from retrieval.encoders.speech import SpeechTranscriber
from retrieval.encoders.text import TextEncoder
from retrieval.errors import ModelUnavailable

__all__ = [
    "ClipEncoder",
    "Encoders",
    "ModelStatus",
    "OcrReader",
    "SpeechTranscriber",
    "TextEncoder",
    "group_paragraphs",
    "paragraph_texts",
    "reading_order",
]

log = logging.getLogger(__name__)
ROLES = ("text", "clip", "speech", "ocr")


class ModelStatus(BaseModel):
    """One encoder as ``xmodal models`` and the API report it."""

    kind: str  # text | clip | speech | ocr
    name: str
    weights: str | None = None
    device: str
    precision: str
    available: bool
    reason: str | None = None


class Encoders:
    """Holds the four encoders; each property is the loaded encoder or None when unavailable.

    A missing model is logged once as a warning and its modality is skipped, so a machine
    without CLIP weights can still index text, speech and OCR.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        text: TextEncoder | None = None,
        clip: ClipEncoder | None = None,
        speech: SpeechTranscriber | None = None,
        ocr: OcrReader | None = None,
    ) -> None:
        self.settings = settings or Settings()
        self._given: dict[str, Any] = {"text": text, "clip": clip, "speech": speech, "ocr": ocr}
        self._instances: dict[str, Any] = {}
        self._errors: dict[str, ModelUnavailable] = {}
        self._ready: dict[str, bool] = {}
        self._lock = threading.Lock()

    def _instance(self, role: str) -> Any:
        with self._lock:
            if role not in self._instances:
                given = self._given[role]
                if given is None:
                    factory = {"text": TextEncoder, "clip": ClipEncoder,
                               "speech": SpeechTranscriber, "ocr": OcrReader}[role]
                    given = factory(self.settings)
                self._instances[role] = given
            return self._instances[role]

    def _get(self, role: str) -> Any:
        if role in self._ready:
            return self._instances[role] if self._ready[role] else None
        enc = self._instance(role)
        try:
            enc.load()
        except ModelUnavailable as exc:
            with self._lock:
                if role not in self._ready:
                    log.warning("%s search disabled: %s", role, exc)
                self._errors[role] = exc
                self._ready[role] = False
            return None
        self._ready[role] = True
        return enc

    @property
    def text(self) -> TextEncoder | None:
        return self._get("text")

    @property
    def clip(self) -> ClipEncoder | None:
        return self._get("clip")

    @property
    def speech(self) -> SpeechTranscriber | None:
        return self._get("speech")

    @property
    def ocr(self) -> OcrReader | None:
        return self._get("ocr")

    def error(self, role: str) -> ModelUnavailable | None:
        """Why ``role`` is unavailable, once it has been tried."""
        return self._errors.get(role)

    def status(self, load: bool = True) -> list[ModelStatus]:
        """All four encoders; ``load=True`` loads each so 'available' is proven, not guessed."""
        out: list[ModelStatus] = []
        for role in ROLES:
            enc = self._instance(role)
            if load:
                self._get(role)
            err = self._errors.get(role)
            ok = self._ready.get(role)
            device = getattr(enc, "compute_device", None) or enc.device
            name, weights = enc.name, enc.weights
            if role == "speech" and load and ok:
                name, weights = _with_multilingual(enc)
            out.append(ModelStatus(
                kind=role,
                name=name,
                weights=weights,
                device=device,
                precision=enc.precision,
                available=bool(ok),
                reason=str(err) if err else (None if ok else "not loaded yet"),
            ))
        return out


def _with_multilingual(speech: SpeechTranscriber) -> tuple[str, str | None]:
    """The speech row names the model that takes non-English recordings too (loading it)."""
    other = speech.multilingual()
    if other is speech:
        return speech.name, speech.weights
    if other is None:
        return f"{speech.name}, English only", speech.weights
    return (f"{speech.name} + {other.name} for other languages",
            f"{speech.weights}; {other.weights}")
