"""A small array namespace that NumPy and torch both satisfy.

The cells' equations (``rnnlab.cells``) and the BPTT loop (``rnnlab.reference.bptt``) are written
once against this namespace, so the same lines run in the NumPy reference engine (float64 proofs,
float32 speed) and inside the torch fused engine's ``autograd.Function``.

Only what the equations need is here, and every function has the same meaning in both backends.
Functions take an optional ``out=`` where the hot loop benefits from writing into a preallocated
buffer (both NumPy ufuncs and torch ops support it).

Importing this module never imports torch: ``TorchOps`` is built on first use.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = Any  # np.ndarray or torch.Tensor


class NumpyOps:
    """The NumPy backend (the reference engine)."""

    name = "numpy"

    @staticmethod
    def matmul(a, b, out=None):
        return np.matmul(a, b, out=out)

    @staticmethod
    def addmm(c, a, b, out=None):
        """``c + a @ b``."""
        r = np.matmul(a, b, out=out)
        r += c
        return r

    @staticmethod
    def sigmoid(x, out=None):
        # 0.5 * (1 + tanh(x / 2)) is exact, overflow-free and one transcendental op.
        r = np.multiply(x, 0.5, out=out)
        np.tanh(r, out=r)
        r += 1.0
        r *= 0.5
        return r

    tanh = staticmethod(np.tanh)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)
    multiply = staticmethod(np.multiply)
    add = staticmethod(np.add)
    subtract = staticmethod(np.subtract)
    maximum = staticmethod(np.maximum)
    where = staticmethod(np.where)

    @staticmethod
    def sigmoid_backward(grad, s, out=None):
        """``grad * s * (1 - s)``: the gradient through ``s = sigmoid(a)``, given ``s``."""
        return np.multiply(grad, s - s * s, out=out)

    @staticmethod
    def tanh_backward(grad, y, out=None):
        """``grad * (1 - y^2)``: the gradient through ``y = tanh(a)``, given ``y``."""
        return np.multiply(grad, 1.0 - y * y, out=out)

    @staticmethod
    def addcmul_(a, b, c):
        """``a += b * c`` in place; returns ``a``."""
        a += b * c
        return a

    @staticmethod
    def addcmul(a, b, c):
        """``a + b * c``."""
        return a + b * c

    @staticmethod
    def lerp(a, b, w):
        """``a + w * (b - a)``."""
        return a + w * (b - a)

    @staticmethod
    def layer_norm(x, eps, weight=None, bias=None):
        """Normalise each row of ``x: (N, F)`` then scale and shift: ``(y, stats)`` with
        ``y = (x - mean) * rstd * weight + bias`` (``weight``, ``bias``: ``(F,)`` or None).

        ``stats`` is whatever :meth:`layer_norm_backward` needs.
        """
        xc = x - x.mean(axis=-1, keepdims=True)
        rstd = 1.0 / np.sqrt((xc * xc).mean(axis=-1, keepdims=True) + eps)
        xhat = xc * rstd
        y = xhat if weight is None else xhat * weight
        if bias is not None:
            y = y + bias
        return y, (xhat, rstd, weight)

    @staticmethod
    def layer_norm_backward(dy, stats, need=(True, False, False)):
        """``(dx, dweight, dbias)`` from ``dy`` (hand-derived; None where ``need`` says no):
        with ``dxhat = dy * weight``, ``dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat *
        xhat))``, ``dweight = sum_n dy * xhat`` and ``dbias = sum_n dy``."""
        xhat, rstd, weight = stats
        dx = dw = db = None
        if need[0]:
            dxhat = dy if weight is None else dy * weight
            dx = rstd * (
                dxhat
                - dxhat.mean(axis=-1, keepdims=True)
                - xhat * (dxhat * xhat).mean(axis=-1, keepdims=True)
            )
        if need[1]:
            dw = (dy * xhat).sum(axis=0)
        if need[2]:
            db = dy.sum(axis=0)
        return dx, dw, db

    @staticmethod
    def relu(x, out=None):
        return np.maximum(x, 0, out=out)

    @staticmethod
    def relu_grad(y):
        """Derivative of relu written in terms of its output ``y``."""
        return (y > 0).astype(y.dtype)

    @staticmethod
    def sum0(x):
        """Sum over the leading axes, keeping the last: ``(..., F) -> (F,)``."""
        return x.reshape(-1, x.shape[-1]).sum(axis=0)

    @staticmethod
    def mean_last(x):
        return x.mean(axis=-1, keepdims=True)

    @staticmethod
    def zeros(shape, like):
        return np.zeros(shape, dtype=like.dtype)

    @staticmethod
    def as_array(a, like):
        """``a`` (any array-like) in ``like``'s backend and dtype."""
        return np.asarray(a, dtype=like.dtype)

    @staticmethod
    def empty(shape, like):
        return np.empty(shape, dtype=like.dtype)

    @staticmethod
    def zeros_like(x):
        return np.zeros_like(x)

    @staticmethod
    def empty_like(x):
        return np.empty_like(x)

    @staticmethod
    def concat(xs, axis=-1):
        return np.concatenate(xs, axis=axis)

    @staticmethod
    def stack(xs):
        return np.stack(xs)

    @staticmethod
    def copy(x):
        return x.copy()

    @staticmethod
    def contiguous(x):
        """``x`` in row-major memory order (a copy only when it is not already)."""
        return np.ascontiguousarray(x)

    @staticmethod
    def unbind(x):
        """The rows of ``x`` along axis 0, as views."""
        return list(x)

    @staticmethod
    def T(x):
        """Transpose of a matrix (a view)."""
        return x.T


class _TorchOps:
    """The torch backend (the fused engine). Instantiated lazily by :func:`torch_ops`."""

    name = "torch"

    def __init__(self):
        import torch

        self._torch = torch
        self.matmul = torch.matmul
        self.sigmoid = torch.sigmoid
        self.exp = torch.exp
        self.log = torch.log
        self.sqrt = torch.sqrt
        self.multiply = torch.mul
        self.add = torch.add
        self.subtract = torch.sub
        self.maximum = torch.maximum
        self.where = torch.where
        self.relu = torch.relu
        self.stack = torch.stack
        self.tanh = torch.tanh
        self.lerp = torch.lerp  # one kernel for a + w * (b - a)
        # ATen's fused activation-backward kernels: one pass instead of three elementwise ops.
        self._sigmoid_backward = torch.ops.aten.sigmoid_backward
        self._tanh_backward = torch.ops.aten.tanh_backward

    def sigmoid_backward(self, grad, s, out=None):
        if out is None:
            return self._sigmoid_backward(grad, s)
        return self._sigmoid_backward.grad_input(grad, s, grad_input=out)

    def tanh_backward(self, grad, y, out=None):
        if out is None:
            return self._tanh_backward(grad, y)
        return self._tanh_backward.grad_input(grad, y, grad_input=out)

    @staticmethod
    def addcmul_(a, b, c):
        return a.addcmul_(b, c)

    def addcmul(self, a, b, c):
        return self._torch.addcmul(a, b, c)

    def layer_norm(self, x, eps, weight=None, bias=None):
        # ATen's fused kernel, affine included; its backward below is checked against the NumPy
        # one by the engine-parity tests.
        y, mean, rstd = self._torch.native_layer_norm(x, x.shape[-1:], weight, bias, eps)
        return y, (x, mean, rstd, weight, bias)

    def layer_norm_backward(self, dy, stats, need=(True, False, False)):
        # One kernel for the input gradient and the (batch-summed) weight and bias gradients.
        x, mean, rstd, weight, bias = stats
        mask = [need[0], need[1] and weight is not None, need[2] and bias is not None]
        dx, dw, db = self._torch.ops.aten.native_layer_norm_backward(
            dy, x, x.shape[-1:], mean, rstd, weight, bias, mask
        )
        return (dx if mask[0] else None, dw if mask[1] else None, db if mask[2] else None)

    def addmm(self, c, a, b, out=None):
        """``c + a @ b``; ``c`` broadcasts over rows as in ``torch.addmm``."""
        if out is None:
            return self._torch.addmm(c, a, b)
        return self._torch.addmm(c, a, b, out=out)

    @staticmethod
    def relu_grad(y):
        return (y > 0).to(y.dtype)

    @staticmethod
    def sum0(x):
        return x.reshape(-1, x.shape[-1]).sum(0)

    @staticmethod
    def mean_last(x):
        return x.mean(-1, keepdim=True)

    def zeros(self, shape, like):
        return self._torch.zeros(shape, dtype=like.dtype, device=like.device)

    def as_array(self, a, like):
        return self._torch.as_tensor(a, dtype=like.dtype, device=like.device)

    def empty(self, shape, like):
        return self._torch.empty(shape, dtype=like.dtype, device=like.device)

    def zeros_like(self, x):
        return self._torch.zeros_like(x)

    def empty_like(self, x):
        return self._torch.empty_like(x)

    def concat(self, xs, axis=-1):
        return self._torch.cat(xs, dim=axis)

    @staticmethod
    def copy(x):
        return x.clone()

    @staticmethod
    def contiguous(x):
        return x.contiguous()

    @staticmethod
    def unbind(x):
        # One UnbindBackward for all rows, not one SelectBackward per row: under autograd,
        # indexing x[t] T times would make the backward pass O(T^2).
        return x.unbind(0)

    @staticmethod
    def T(x):
        return x.t()


_TORCH_OPS: _TorchOps | None = None


def torch_ops() -> _TorchOps:
    """The torch namespace (imports torch on first call)."""
    global _TORCH_OPS
    if _TORCH_OPS is None:
        _TORCH_OPS = _TorchOps()
    return _TORCH_OPS


def namespace(x: Array):
    """The namespace matching array ``x``: :class:`NumpyOps` for ndarrays, torch otherwise."""
    if isinstance(x, np.ndarray):
        return NumpyOps
    return torch_ops()
