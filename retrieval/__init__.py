"""xmodal's library: index photos, recordings and documents, then search them all at once.

    from retrieval import Engine, Query, Settings

    with Engine(Settings(XMODAL_DATA="xmodal-data")) as engine:
        engine.index(["~/Pictures", "~/Documents"])
        for result in engine.search(Query(text="sunset over the harbour")).results:
            print(result.score, result.path)

The names are loaded on first use, so ``import retrieval.config`` stays free of torch and FAISS.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Engine", "Query", "Settings", "__version__"]

_EXPORTS = {"Engine": "retrieval.engine", "Query": "retrieval.results",
            "Settings": "retrieval.config"}

if TYPE_CHECKING:
    from retrieval.config import Settings
    from retrieval.engine import Engine
    from retrieval.results import Query


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'retrieval' has no attribute {name!r}")
