"""Losses with their gradients, in NumPy (the reference engine).

Every loss is the mean over the real (unmasked) items, and returns ``(loss, dlogits)`` with
``dlogits`` the gradient of that mean, as cs231n's ``temporal_softmax_loss``.
"""

from __future__ import annotations

import numpy as np


def softmax_cross_entropy(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None):
    """Softmax cross-entropy, averaged over items.

    Args:
        logits: ``(..., V)`` unnormalised scores.
        targets: ``(...)`` integer class of each item.
        mask: ``(...)`` 1 for real items, 0 for padding (None: all real).

    Returns:
        ``(loss, dlogits)``: the mean negative log-likelihood in nats and its gradient ``(..., V)``.
    """
    V = logits.shape[-1]
    items = logits.shape[:-1]
    targets = np.asarray(targets)
    _check_items("targets", targets, items)
    if targets.dtype.kind not in "iu":
        raise ValueError(f"targets must be integer class ids, got dtype {targets.dtype}")
    if targets.size and (targets.min() < 0 or targets.max() >= V):
        raise ValueError(
            f"targets must be class ids in 0..{V - 1}, got values from {targets.min()} to "
            f"{targets.max()}"
        )
    _check_items("mask", mask, items)
    flat = logits.reshape(-1, V)
    t = targets.reshape(-1)
    m = (
        np.ones(t.shape, dtype=logits.dtype)
        if mask is None
        else mask.reshape(-1).astype(logits.dtype)
    )
    n = m.sum()
    if n == 0:
        raise ValueError("softmax_cross_entropy: every item is masked out")
    shifted = flat - flat.max(axis=1, keepdims=True)  # subtract the max: exp never overflows
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_z
    rows = np.arange(t.size)
    loss = -(log_p[rows, t] * m).sum() / n
    d = np.exp(log_p)
    d[rows, t] -= 1.0
    d *= (m / n)[:, None]
    return float(loss), d.reshape(logits.shape)


def sigmoid_bce(logits: np.ndarray, targets: np.ndarray, mask: np.ndarray | None = None):
    """Bernoulli negative log-likelihood of binary targets, summed over the last axis (the
    features of one item, e.g. the 88 keys of a piano-roll frame) and averaged over items.

    Args:
        logits: ``(..., F)``; targets: ``(..., F)`` in {0, 1}; mask: ``(...)`` or None.

    Returns:
        ``(loss, dlogits)``.
    """
    F = logits.shape[-1]
    _check_items("targets", np.asarray(targets), logits.shape)
    _check_items("mask", mask, logits.shape[:-1])
    x = logits.reshape(-1, F)
    y = np.asarray(targets, dtype=logits.dtype).reshape(-1, F)
    m = (
        np.ones(x.shape[0], dtype=logits.dtype)
        if mask is None
        else mask.reshape(-1).astype(x.dtype)
    )
    n = m.sum()
    if n == 0:
        raise ValueError("sigmoid_bce: every item is masked out")
    # log(1 + exp(-|x|)) + max(x, 0) - x*y is the overflow-free form of the Bernoulli NLL.
    nll = np.logaddexp(0.0, -np.abs(x)) + np.maximum(x, 0) - x * y
    loss = (nll.sum(axis=1) * m).sum() / n
    p = 0.5 * (1.0 + np.tanh(0.5 * x))
    d = (p - y) * (m / n)[:, None]
    return float(loss), d.reshape(logits.shape)


def _check_items(name: str, a, shape: tuple) -> None:
    """``a`` (None allowed) must have exactly ``shape``: a reshape or a broadcast of another
    shape of the same size would pair items with the wrong targets, silently."""
    if a is not None and tuple(np.shape(a)) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(np.shape(a))}")
