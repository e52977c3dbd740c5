"""Pushing down what a query says it does not want ("beach -people").

In a vector space the query moves away from the unwanted concept: ``q - w * neg``,
renormalised, so items close to "people" lose similarity while those matching "beach" alone
keep theirs. ``w`` is below 1 because the two directions are not orthogonal: subtracting all
of "people" would also remove some of "beach" (``bench/negation.py`` measures the effect).
The keyword space drops parts containing a negative word outright (FTS5 ``NOT``).
"""

from __future__ import annotations

import numpy as np

from retrieval.catalog.lookups import normalise

NEGATION_WEIGHT = 0.7  # bench/negation.py: best rank for what is wanted, 0.84 of pairs ordered


def push_away(query: np.ndarray, unwanted: np.ndarray | None,
              weight: float | None = None) -> np.ndarray:
    """The unit query vector moved away from ``unwanted`` (unchanged when there is none).

    ``weight`` defaults to ``NEGATION_WEIGHT`` as it is when called (the bench varies it).
    """
    if unwanted is None:
        return normalise(query)
    w = NEGATION_WEIGHT if weight is None else weight
    moved = normalise(query) - w * normalise(unwanted)
    return normalise(moved) if float(np.linalg.norm(moved)) > 1e-6 else normalise(query)
