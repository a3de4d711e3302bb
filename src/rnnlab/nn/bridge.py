"""The ``reference`` engine of the torch modules: the whole NumPy stack bridged into autograd.

Forward and backward are :func:`rnnlab.reference.stack.stack_forward` and ``stack_backward`` on
NumPy copies of the tensors (same dtype), so any module can be checked against the hand-written
reference, or trained with it. Tensors on another device are copied to the CPU and back.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from rnnlab.reference.stack import stack_backward, stack_forward


def _np(t):
    return None if t is None else t.detach().cpu().numpy()


class ReferenceStack(torch.autograd.Function):
    """``ReferenceStack.apply(spec, names, lengths, dropout_masks, rmasks, X, *hx, *params)``."""

    @staticmethod
    def forward(ctx, spec, names, lengths, dropout_masks, rmasks, X, *tensors):
        n = len(tensors) - len(names)
        hx, params = tensors[:n], tensors[n:]
        p = {k: _np(v) for k, v in zip(names, params)}
        drops = None if dropout_masks is None else [_np(m) for m in dropout_masks]
        rms = None if rmasks is None else [[_np(m) for m in layer] for layer in rmasks]
        lens = None if lengths is None else np.asarray(lengths)
        Y, h_n, cache = stack_forward(spec, p, _np(X), tuple(_np(h) for h in hx), lens, drops, rms)
        ctx.spec, ctx.names, ctx.p, ctx.cache, ctx.n = spec, names, p, cache, n
        ctx.device = X.device
        # The NumPy cache holds views of these tensors: saving them through autograd makes an
        # in-place change before backward an error (as for torch.nn) instead of wrong gradients,
        # and a second backward without retain_graph=True fails as torch's own does.
        ctx.save_for_backward(X, *tensors)
        return (torch.from_numpy(Y).to(X.device), *(torch.from_numpy(h).to(X.device) for h in h_n))

    @staticmethod
    @once_differentiable
    def backward(ctx, dY, *dh_n):
        ctx.saved_tensors  # noqa: B018 - raises if they were modified in place, or freed
        grads, dX, dhx = stack_backward(
            ctx.spec, ctx.p, ctx.cache, _np(dY), tuple(_np(d) for d in dh_n)
        )

        def back(a):
            return torch.from_numpy(np.ascontiguousarray(a)).to(ctx.device)

        return (
            None,
            None,
            None,
            None,
            None,
            back(dX),
            *(back(d) for d in dhx),
            *(back(grads[k]) for k in ctx.names),
        )
