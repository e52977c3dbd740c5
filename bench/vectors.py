"""Benchmark vector sets: real MiniLM embeddings, extended with documented synthetic ones.

Why synthetic at all: embedding 1M real chunks takes about an hour on two CPU cores, so the
real set (``bench.corpus``, some tens of thousands of chunks of documentation text) is
extended to 100k and 1M by drawing new vectors *around* real ones:

    child = normalise(parent + alpha * z),   z ~ N(0, C_real)

``parent`` is a random real vector, ``C_real`` the covariance of the real set (so the noise
lives in the same low-rank, anisotropic subspace as the real data, which is what IVF and PQ
exploit), and ``alpha`` is calibrated so the median cosine from a child to its parent equals the
median cosine from a real vector to its real nearest neighbour. The first ``n_real`` rows are
always the real vectors; queries are always real (held-out short texts).

The CLIP space (512-d) has no real weights on this machine, so its vectors are the same MiniLM
vectors mapped into 512-d by a random orthonormal map plus independent noise in every
dimension (a tenth of the energy), then normalised: they keep MiniLM's neighbourhood
structure and test what the extra dimensions cost, not CLIP's own distribution.
"""

from __future__ import annotations

import numpy as np

from bench import corpus


def normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32, C-contiguous)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-12
    return x


def _nn_cosine(real: np.ndarray, sample: int, rng: np.random.Generator) -> float:
    """Median cosine from a real vector to its nearest *other* real vector."""
    idx = rng.choice(len(real), size=min(sample, len(real)), replace=False)
    sims = real[idx] @ real.T
    sims[np.arange(len(idx)), idx] = -1.0
    return float(np.median(sims.max(axis=1)))


def _children(parents: np.ndarray, noise_map: np.ndarray, alpha: float,
              rng: np.random.Generator) -> np.ndarray:
    z = rng.standard_normal((len(parents), noise_map.shape[0]), dtype=np.float32) @ noise_map
    return normalise(parents + alpha * z)


def extend(real: np.ndarray, n: int, seed: int = 0) -> tuple[np.ndarray, dict[str, float]]:
    """``n`` vectors: the real ones first, then synthetic children (see module docstring)."""
    if n <= len(real):
        return np.ascontiguousarray(real[:n]), {"real": float(n), "synthetic": 0.0}
    rng = np.random.default_rng(seed)
    centred = real - real.mean(axis=0)
    # noise_map: z @ noise_map has the real covariance (eigen-decomposition, float32)
    evals, evecs = np.linalg.eigh(np.cov(centred, rowvar=False).astype(np.float64))
    noise_map = (evecs * np.sqrt(np.clip(evals, 0, None))).T.astype(np.float32)
    target = _nn_cosine(real, 2000, rng)
    probe = real[rng.integers(0, len(real), 2000)]
    lo, hi = 0.0, 4.0
    for _ in range(25):  # bisect alpha so median cos(child, parent) == target
        alpha = (lo + hi) / 2
        cos = np.median(np.sum(_children(probe, noise_map, alpha, rng) * probe, axis=1))
        lo, hi = (alpha, hi) if cos > target else (lo, alpha)
    out = np.empty((n, real.shape[1]), dtype=np.float32)
    out[: len(real)] = real
    for start in range(len(real), n, 100_000):
        stop = min(n, start + 100_000)
        parents = real[rng.integers(0, len(real), stop - start)]
        out[start:stop] = _children(parents, noise_map, alpha, rng)
    info = {"real": float(len(real)), "synthetic": float(n - len(real)),
            "alpha": alpha, "median_nn_cos_real": target}
    return out, info


def to_clip_space(x: np.ndarray, dim: int = 512, seed: int = 1, noise_seed: int = 2) -> np.ndarray:
    """MiniLM vectors mapped to ``dim`` dimensions (orthonormal map + 10% noise energy)."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((dim, x.shape[1])))
    proj = q.T.astype(np.float32)  # (384, 512), orthonormal rows
    out = np.empty((len(x), dim), dtype=np.float32)
    noise_rng = np.random.default_rng(noise_seed)
    for start in range(0, len(x), 100_000):
        part = x[start : start + 100_000] @ proj
        part += noise_rng.standard_normal(part.shape, dtype=np.float32) * np.sqrt(0.1 / dim)
        out[start : start + 100_000] = part
    return normalise(out)


def load_space(space: str, n: int, n_queries: int,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """(base (n, d), queries (n_queries, d), provenance) for ``space`` in {text, clip}."""
    real, queries, _texts = corpus.load()
    base, info = extend(real, n, seed)
    queries = np.ascontiguousarray(queries[:n_queries])
    if space == "clip":
        base = to_clip_space(base, seed=seed + 1, noise_seed=seed + 2)
        queries = to_clip_space(queries, seed=seed + 1, noise_seed=seed + 3)
    return base, queries, info
