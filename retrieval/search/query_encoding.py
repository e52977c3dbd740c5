"""A query's words, picture or recording turned into vectors, for the engine to search with.

Kept apart from the engine because it owns threads and caches the ranking does not care about:
each query text encoder runs on a thread of its own (``retrieval.search.workers.EncodeQueue``), so
MiniLM and CLIP's text tower encode side by side and batch the queries waiting under load;
recent vectors and transcripts are remembered (``Recent``), since paging and the page's
as-you-type search send the same text or recording again; and each model is called under its
own lock, because encoders are not promised to be re-entrant.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from retrieval.catalog.lookups import normalise
from retrieval.config import Settings
from retrieval.errors import MediaError, ModelUnavailable, XmodalError
from retrieval.search.workers import EncodeQueue, Recent

if TYPE_CHECKING:
    from retrieval.encoders import Encoders
    from retrieval.encoders.speech import SpeechTranscriber

log = logging.getLogger(__name__)

TRANSCRIPT_CACHE = 64  # recent voice queries whose transcripts are kept
QUERY_VECTOR_CACHE = 512  # recent (space, text) query embeddings kept


class QueryEncoder:
    """Query vectors for the ``text`` and ``clip`` spaces, and transcripts of spoken queries."""

    def __init__(
        self,
        settings: Settings,
        encoders: Callable[[], Encoders],
        vocabulary: Callable[[], str | None] | None = None,
    ) -> None:
        self.settings = settings
        self._encoders = encoders  # the engine's lazily loaded models
        self._vocabulary = vocabulary  # Whisper's prompt for spoken queries, if any
        self._lock = threading.Lock()
        self._model_locks = {name: threading.Lock() for name in ("text", "clip", "speech")}
        self._transcripts = Recent(TRANSCRIPT_CACHE)  # audio sha256 -> transcript
        self._vectors = Recent(QUERY_VECTOR_CACHE)  # (space, text) -> unit vector
        self._queues: dict[str, EncodeQueue] = {}  # space -> its query encoder's thread
        self._query_model: SpeechTranscriber | None = None  # whisper_query_model, once loaded
        self._query_model_tried = False  # loading it failed: the indexing model answers
        self._query_model_lock = threading.Lock()  # held while it loads (seconds)

    def text_vector(self, space: str, words: str) -> Future[np.ndarray]:
        """The unit vector of ``words`` in ``space`` (``text`` or ``clip``), soon.

        The caller checks that the space's model is there; the future starts at once, so the
        two spaces' encoders run side by side while the caller does other work.
        """
        key = (space, words)
        known = self._vectors.get(key)
        if known is not None:
            done: Future[np.ndarray] = Future()
            done.set_result(known)
            return done
        job = self._queue(space).submit(words)

        def remember(finished: Future[np.ndarray]) -> None:
            if finished.exception() is None:
                self._vectors.put(key, normalise(finished.result()))

        job.add_done_callback(remember)
        return job

    def image_vector(self, data: bytes) -> np.ndarray | None:
        """The CLIP image vector of an uploaded picture (None when CLIP is unavailable)."""
        from retrieval.media.decode import load_image

        image = load_image(data, self.settings.max_image_pixels)  # MediaError if undecodable
        clip = self._encoders().clip
        if clip is None:
            return None
        with self._model_locks["clip"]:
            return normalise(clip.encode_images([image])[0])

    def transcribe(self, audio: bytes) -> str:
        """Whisper's transcript of an uploaded recording (written to a temp file first)."""
        if not audio:
            raise MediaError("the audio upload is empty")
        speech = self._query_speech()
        if speech is None:
            raise ModelUnavailable(
                self.settings.whisper_model,
                [],
                "Spoken queries need Whisper weights; see "
                "`xmodal models` for where they were looked for and how to supply them.",
            )
        key = hashlib.sha256(audio).hexdigest()
        known = self._transcripts.get(key)  # paging a voice query re-sends the same recording
        if known is not None:
            return str(known)
        fd, tmp = tempfile.mkstemp(prefix="xmodal-query-", suffix=".audio")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(audio)
            prompt = self._vocabulary() if self._vocabulary is not None else None
            with self._model_locks["speech"]:
                try:
                    transcript = speech.transcribe(Path(tmp), prompt=prompt)
                except XmodalError:
                    raise
                except Exception as exc:  # a decoder's own error: the upload is bad
                    raise MediaError(f"cannot decode the audio query: {exc}") from exc
        finally:
            os.unlink(tmp)
        text = transcript.text.strip()
        self._transcripts.put(key, text)
        return text

    def _query_speech(self) -> SpeechTranscriber | None:
        """Whisper for queries: ``whisper_query_model`` when set (loaded once; the very model
        that detects languages when it is the same name), else the indexing model. A query
        model that cannot load falls back to the indexing model, with a warning."""
        name = self.settings.whisper_query_model
        indexing = self._encoders().speech
        if not name:
            return indexing
        with self._query_model_lock:
            if self._query_model is None and not self._query_model_tried:
                from retrieval.encoders.speech import SpeechTranscriber

                self._query_model_tried = True
                if indexing is not None and name == self.settings.whisper_multilingual_model:
                    self._query_model = indexing.multilingual()  # already loaded, or None
                else:
                    model = SpeechTranscriber(self.settings, model=name)
                    try:
                        model.load()
                        self._query_model = model
                    except ModelUnavailable as exc:
                        log.warning("spoken queries use the indexing Whisper: %s", exc)
        return self._query_model or indexing

    def close(self) -> None:
        """Stop the encoder threads."""
        with self._lock:
            queues, self._queues = list(self._queues.values()), {}
        for q in queues:
            q.close()

    def _queue(self, space: str) -> EncodeQueue:
        """The thread that encodes queries for ``space`` (text: MiniLM; clip: CLIP's text tower).

        The model runs on ONNX Runtime or torch as ``XMODAL_QUERY_RUNTIME`` says
        (``retrieval/encoders/onnx.py``).
        """
        from retrieval.encoders.onnx import query_encode

        with self._lock:
            if space not in self._queues:
                enc = self._encoders()
                model = enc.text if space == "text" else enc.clip
                assert model is not None
                encode = query_encode(space, model, self.settings)  # ONNX Runtime or torch
                self._queues[space] = EncodeQueue(space, encode, self._model_locks[space])
            return self._queues[space]


def clip_query(
    text_vec: np.ndarray | None, image_vec: np.ndarray | None, w_image: float
) -> np.ndarray | None:
    """One CLIP query: the picture's, the words', or their weighted, renormalised sum."""
    if image_vec is None or text_vec is None:
        return image_vec if text_vec is None else normalise(text_vec)
    return normalise(w_image * image_vec + normalise(text_vec))
