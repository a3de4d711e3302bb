"""Layer normalisation over the last axis, as used by the cells.

``LN(x) = (x - mean(x)) / sqrt(var(x) + eps)``, statistics over the last axis of ``x: (N, F)``.
Gains and biases are applied by the caller. The primitive itself lives in the array namespace
(:meth:`rnnlab.ops.NumpyOps.layer_norm` holds the hand-derived backward; torch uses ATen's fused
kernels), so these two functions only fix ``eps`` and the calling convention.
"""

from __future__ import annotations

EPS = 1e-5


def layer_norm(xp, x, eps: float = EPS):
    """``x: (N, F) -> (xhat: (N, F), stats)``; pass ``stats`` to :func:`layer_norm_backward`."""
    return xp.layer_norm(x, eps)


def layer_norm_backward(xp, dxhat, stats):
    """Gradient with respect to ``x`` given the gradient with respect to ``xhat``."""
    return xp.layer_norm_backward(dxhat, stats)
