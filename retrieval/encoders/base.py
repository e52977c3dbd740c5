"""What every encoder shares: lazy loading, device choice, offline detection, normalisation."""

from __future__ import annotations

import os
import threading

import numpy as np

from retrieval.config import Settings, resolve_device, resolve_precision


def hub_offline() -> bool:
    """True when the Hugging Face hub must not be contacted (HF_HUB_OFFLINE and friends)."""
    return any(
        os.environ.get(v, "").strip().lower() in ("1", "true", "yes", "on")
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def hub_reachable(url: str | None = None, timeout: float = 3.0) -> bool:
    """A quick DNS + TCP check, so an offline machine fails in seconds, not after retries."""
    import socket
    from urllib.parse import urlparse

    host = urlparse(url or os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname
    try:
        with socket.create_connection((host or "huggingface.co", 443), timeout=timeout):
            return True
    except OSError:
        return False


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, float32; zero rows stay zero instead of becoming NaN."""
    x = np.asarray(x, dtype=np.float32)
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.ascontiguousarray(x / np.maximum(norms, 1e-12), dtype=np.float32)


class LazyModel:
    """Base for encoders: settings and device now, weights on first use (``load()``)."""

    env_var = ""

    def __init__(self, settings: Settings | None = None, device: str | None = None) -> None:
        self.settings = settings or Settings()
        self.device = device or resolve_device(self.settings.device)
        # the float format torch encoders compute in (text, CLIP); see Settings.precision
        self.precision = resolve_precision(self.settings.precision, self.device)
        self._lock = threading.Lock()
        self._loaded = False
        self.weights: str | None = None  # what load() resolved: a path or a hub id

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """Load the weights once (thread-safe); raises ModelUnavailable when they cannot be had."""
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                self._load()
                self._loaded = True

    def _load(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError
