"""The exceptions xmodal raises on purpose; anything else is a bug."""

from __future__ import annotations


class XmodalError(Exception):
    """Base class: a problem xmodal understood and can explain in one message."""


class MediaError(XmodalError):
    """A file or upload cannot be decoded: empty, truncated, wrong type, too large, silent."""


class ModelUnavailable(XmodalError):
    """Weights for a model cannot be found; says which model, where we looked, how to supply it."""

    def __init__(self, model: str, looked: list[str], how: str) -> None:
        self.model = model
        self.looked = looked
        self.how = how
        where = "; ".join(looked) if looked else "nowhere"
        super().__init__(f"model {model!r} is unavailable (looked in: {where}). {how}")


class IndexMismatch(XmodalError):
    """A vector space was built with another model or dimension; re-embedding is needed."""


class ItemNotFound(XmodalError):
    """No item has this id (or none of its files is still on disk)."""

    def __init__(self, item_id: int) -> None:
        self.item_id = item_id
        super().__init__(f"no item {item_id}")
