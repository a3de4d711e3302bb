"""Central-difference gradient checking (float64), as in cs231n's ``gradient_check.py``.

``numerical_gradient(f, x)`` perturbs every entry of ``x`` in place by ``+-eps`` and returns
``(f(x + eps) - f(x - eps)) / (2 eps)`` for each; ``rel_error`` is the max relative error used to
judge an analytic gradient against it.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def numerical_gradient(f: Callable[[], float], x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Gradient of the scalar ``f()`` with respect to the array ``x`` (modified in place, restored).

    Args:
        f: a function of no arguments that reads ``x`` and returns a float.
        x: a float64 array; every entry is perturbed in turn.
        eps: the finite-difference step.

    Returns:
        An array shaped like ``x``.
    """
    if x.dtype != np.float64:
        raise TypeError(f"gradient checks need float64 arrays, got {x.dtype}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    if not np.shares_memory(flat, x):  # pragma: no cover - reshape of a non-contiguous array
        raise ValueError("x must be contiguous")
    for k in range(flat.size):
        old = flat[k]
        flat[k] = old + eps
        plus = f()
        flat[k] = old - eps
        minus = f()
        flat[k] = old
        gflat[k] = (plus - minus) / (2 * eps)
    return grad


def rel_error(a: np.ndarray, b: np.ndarray, floor: float = 1e-12) -> float:
    """``max |a - b| / max(max |a|, max |b|)``: the largest difference, relative to the scale of
    the gradient.

    Why not the entrywise ``|a - b| / (|a| + |b|)``: a central difference carries an absolute
    rounding noise of about ``1e-16 * |f| / eps ~ 1e-10``, so an entry whose true gradient is
    ``1e-6`` would show a relative error of ``1e-4`` however right the analytic gradient is. Relative
    to the tensor's scale, a correct float64 backward scores ``~1e-9`` and a wrong one ``> 1e-3``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    scale = max(float(np.abs(a).max()), float(np.abs(b).max()), floor)
    return float(np.abs(a - b).max() / scale)
