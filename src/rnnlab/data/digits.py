"""scikit-learn's bundled 8x8 handwritten digits (1,797 images, 10 classes), no download.

A small sequence-classification set: read an image row by row, as T = 8 steps of D = 8 pixels.
Needs scikit-learn (``pip install 'rnnlab[digits]'``).
"""

from __future__ import annotations

import functools

import numpy as np

from rnnlab.data.errors import DataError

#: fraction of the images in each split; the split is a fixed random permutation
SPLIT_FRACTIONS = {"train": 0.6, "valid": 0.2, "test": 0.2}


def load_digits(split: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One split of the digits, pixel values scaled to [0, 1].

    The images are shuffled by ``np.random.default_rng(seed).permutation`` and cut 60% / 20% /
    20% (1,078 / 359 / 360 images with the bundled set), so the split is the same on every
    machine and the three parts are disjoint.

    Args:
        split: ``"train"``, ``"valid"`` or ``"test"``.
        seed: permutation seed; keep the default to compare results.

    Returns:
        ``images: (N, 8, 8)`` float32 in [0, 1] (raw values 0..16 divided by 16) and
        ``labels: (N,)`` int64 in 0..9.

    Raises:
        DataError: bad split, or scikit-learn not installed.
    """
    if split not in SPLIT_FRACTIONS:
        raise DataError(f"digits has no split {split!r}; its splits: train, valid, test")
    images, labels = _all_digits()
    N = len(labels)
    order = np.random.default_rng(seed).permutation(N)
    n_train = int(N * SPLIT_FRACTIONS["train"])
    n_valid = int(N * SPLIT_FRACTIONS["valid"])
    bounds = {
        "train": (0, n_train),
        "valid": (n_train, n_train + n_valid),
        "test": (n_train + n_valid, N),
    }
    lo, hi = bounds[split]
    idx = order[lo:hi]
    return images[idx], labels[idx]


@functools.lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise DataError("the digits need scikit-learn: pip install 'rnnlab[digits]'") from None
    bunch = sk_load_digits()
    images = (bunch.images / 16.0).astype(np.float32)  # (N, 8, 8), raw values 0..16
    labels = bunch.target.astype(np.int64)
    images.setflags(write=False)  # cached: callers get read-only views, never a shared mutation
    labels.setflags(write=False)
    return images, labels
