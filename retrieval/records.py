"""Plain data passed between encoders, the catalog and the search engine."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TextChunk:
    """A window of a longer text, with its character offsets in the original."""

    text: str
    start: int
    end: int


@dataclass(frozen=True)
class Segment:
    """A timed piece of a transcript, in seconds from the start of the recording."""

    start: float
    end: float
    text: str


@dataclass
class Transcript:
    """What Whisper heard: language code, timed segments and the audio's length."""

    language: str
    segments: list[Segment] = field(default_factory=list)
    duration: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments).strip()


@dataclass(frozen=True)
class OcrLine:
    """One line of text found in an image: its words, corner points and confidence (0-1)."""

    text: str
    box: tuple[tuple[float, float], ...]
    confidence: float
