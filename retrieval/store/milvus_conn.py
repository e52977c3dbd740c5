"""Connections to Milvus and its index settings, kept apart from the store's semantics.

One client per location and process: Milvus Lite serves a file to one process only, and a
server connection is cheap to share (pymilvus clients are thread-safe).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrieval.errors import XmodalError
from retrieval.store import MilvusTarget

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

_CLIENTS: dict[tuple[str, str, str], MilvusClient] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(target: MilvusTarget) -> MilvusClient:
    """The shared client for ``target``, connecting on first use; XmodalError when it cannot."""
    key = (target.uri, target.token, target.db_name)
    with _CLIENTS_LOCK:
        client = _CLIENTS.get(key)
        if client is not None:
            return client
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise XmodalError(
                "vector_store is Milvus but pymilvus is not installed: "
                "pip install 'xmodal[milvus]'"
            ) from exc
        kwargs: dict[str, Any] = {"uri": target.uri}
        if target.token:
            kwargs["token"] = target.token
        if target.db_name:
            kwargs["db_name"] = target.db_name
        if target.lite:
            Path(target.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            client = MilvusClient(**kwargs)
        except Exception as exc:  # pymilvus raises several types for "cannot connect"
            hint = (" Milvus Lite serves a file to one process at a time: stop the other "
                    "xmodal process or use a Milvus server." if target.lite else "")
            raise XmodalError(f"cannot open {target.describe()}: {exc}.{hint}") from exc
        _CLIENTS[key] = client
        return client


def close_clients() -> None:
    """Close every cached client: tests, or a process that is done with a Lite file."""
    with _CLIENTS_LOCK:
        clients = list(_CLIENTS.values())
        _CLIENTS.clear()
    for client in clients:
        try:
            client.close()
        except Exception:  # closing is best effort; the process may be exiting
            log.debug("closing a Milvus client failed", exc_info=True)


def index_params(client: MilvusClient, index: str) -> Any:
    params = client.prepare_index_params()
    extra: dict[str, Any] = {
        "HNSW": {"M": 32, "efConstruction": 200},
        "IVF_FLAT": {"nlist": 1024},
        "IVF_SQ8": {"nlist": 1024},
        "IVF_PQ": {"nlist": 1024, "m": 16, "nbits": 8},
    }.get(index, {})
    params.add_index(field_name="vec", index_type=index, metric_type="IP", params=extra)
    return params


def search_params(index: str, k: int) -> dict[str, Any]:
    if index == "HNSW":
        return {"metric_type": "IP", "params": {"ef": max(64, k)}}
    if index.startswith("IVF"):
        return {"metric_type": "IP", "params": {"nprobe": 32}}
    return {"metric_type": "IP"}
