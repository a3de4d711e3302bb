"""Layer normalisation over the last axis, as used by the cells.

``LN(x) = (x - mean(x)) / sqrt(var(x) + eps)``, statistics over the last axis of ``x: (N, F)``,
followed by an optional gain and shift: ``y = LN(x) * weight + bias``. The primitive lives in the
array namespace (:meth:`rnnlab.ops.NumpyOps.layer_norm` holds the hand-derived backward; torch uses
ATen's fused kernels, which also reduce the gain and shift gradients over the rows in the same
pass), so these two functions only fix ``eps`` and the calling convention.
"""

from __future__ import annotations

EPS = 1e-5


def layer_norm(xp, x, weight=None, bias=None, eps: float = EPS):
    """``x: (N, F) -> (y: (N, F), stats)``; pass ``stats`` to :func:`layer_norm_backward`."""
    return xp.layer_norm(x, eps, weight, bias)


def layer_norm_backward(xp, dy, stats, need=(True, False, False)):
    """``(dx, dweight, dbias)`` given ``dy``, the gradient with respect to ``y``; the weight and
    bias gradients are summed over the rows, and None unless ``need`` asks for them."""
    return xp.layer_norm_backward(dy, stats, need)
