"""Layer normalisation over the last axis, forward and hand-derived backward, over ``xp``.

``layer_norm(x) = (x - mean(x)) / sqrt(var(x) + eps)``, statistics over the last axis of ``x: (N, F)``.
Gains and biases are applied by the caller, so the same pair serves every use.
"""

from __future__ import annotations

EPS = 1e-5


def layer_norm(xp, x, eps: float = EPS):
    """``x: (N, F) -> (xhat: (N, F), rstd: (N, 1))`` with ``xhat = (x - mean) * rstd``."""
    xc = x - xp.mean_last(x)
    rstd = 1.0 / xp.sqrt(xp.mean_last(xc * xc) + eps)
    return xc * rstd, rstd


def layer_norm_backward(xp, dxhat, xhat, rstd):
    """Gradient with respect to ``x`` given the gradient with respect to ``xhat``.

    ``dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))``
    """
    return rstd * (dxhat - xp.mean_last(dxhat) - xhat * xp.mean_last(dxhat * xhat))
