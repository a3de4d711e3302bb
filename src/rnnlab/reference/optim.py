"""Gradient descent on parameter dicts (SGD with momentum, RMSProp, Adam) and gradient clipping.

``params`` and ``grads`` are dicts of NumPy arrays with the same keys; every update is in place.
"""

from __future__ import annotations

import numpy as np


def global_norm(grads: dict) -> float:
    """``||g||_2`` over every gradient together."""
    return float(np.sqrt(sum(float((g * g).sum()) for g in grads.values())))


def clip_grad_norm(grads: dict, max_norm: float) -> float:
    """If ``||g||_2 > max_norm`` scale every gradient by ``max_norm / ||g||_2`` (in place).

    Returns:
        The norm before clipping (what training logs should report).
    """
    norm = global_norm(grads)
    if norm > max_norm:
        scale = max_norm / (norm + 1e-12)
        for g in grads.values():
            g *= scale
    return norm


def clip_grad_value(grads: dict, clip_value: float) -> None:
    """Clamp every gradient entry to ``[-clip_value, clip_value]`` (in place)."""
    for g in grads.values():
        np.clip(g, -clip_value, clip_value, out=g)


class SGD:
    """``v <- mu v + g;  p <- p - lr v`` (plain SGD when ``momentum = 0``)."""

    def __init__(self, lr: float = 0.1, momentum: float = 0.0):
        _check_hyper(lr=lr, momentum=(momentum, 0.0, 1.0))
        self.lr, self.momentum = lr, momentum
        self.velocity: dict = {}

    def step(self, params: dict, grads: dict) -> None:
        _check_grads(params, grads)
        for k, g in grads.items():
            if self.momentum:
                v = self.velocity.setdefault(k, np.zeros_like(g))
                v *= self.momentum
                v += g
                g = v
            params[k] -= self.lr * g


class RMSProp:
    """``s <- rho s + (1 - rho) g^2;  p <- p - lr g / (sqrt(s) + eps)`` (Tieleman & Hinton 2012)."""

    def __init__(self, lr: float = 1e-3, rho: float = 0.9, eps: float = 1e-8):
        _check_hyper(lr=lr, rho=(rho, 0.0, 1.0), eps=eps)
        self.lr, self.rho, self.eps = lr, rho, eps
        self.square: dict = {}

    def step(self, params: dict, grads: dict) -> None:
        _check_grads(params, grads)
        for k, g in grads.items():
            s = self.square.setdefault(k, np.zeros_like(g))
            s *= self.rho
            s += (1 - self.rho) * g * g
            params[k] -= self.lr * g / (np.sqrt(s) + self.eps)


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction."""

    def __init__(self, lr: float = 1e-3, betas: tuple = (0.9, 0.999), eps: float = 1e-8):
        b1, b2 = betas
        _check_hyper(lr=lr, beta1=(b1, 0.0, 1.0), beta2=(b2, 0.0, 1.0), eps=eps)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.m: dict = {}
        self.v: dict = {}
        self.t = 0

    def step(self, params: dict, grads: dict) -> None:
        _check_grads(params, grads)
        self.t += 1
        b1, b2 = self.betas
        for k, g in grads.items():
            m = self.m.setdefault(k, np.zeros_like(g))
            v = self.v.setdefault(k, np.zeros_like(g))
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


def _check_hyper(**values) -> None:
    """``name=x`` must be a number > 0; ``name=(x, lo, hi)`` a number in ``[lo, hi)`` (the
    checks torch.optim makes)."""
    for name, v in values.items():
        x, lo, hi = v if isinstance(v, tuple) else (v, None, None)
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not np.isfinite(x):
            raise ValueError(f"{name} must be a finite number, got {x!r}")
        if lo is None and x <= 0:
            raise ValueError(f"{name} must be > 0, got {x}")
        if lo is not None and not lo <= x < hi:
            raise ValueError(f"{name} must be in [{lo}, {hi}), got {x}")


def _check_grads(params: dict, grads: dict) -> None:
    """Every gradient names a parameter and has its shape (a broadcast would pass silently)."""
    for k, g in grads.items():
        if k not in params:
            raise KeyError(f"gradient {k!r} has no parameter of that name")
        if np.shape(g) != np.shape(params[k]):
            raise ValueError(
                f"gradient {k!r} has shape {np.shape(g)}, its parameter {np.shape(params[k])}"
            )
