"""The fused engine: one ``torch.autograd.Function`` per layer and direction, whose forward and
backward are the reference engine's own BPTT loop (:mod:`rnnlab.reference.bptt`) run on torch.

So the hand-written ``step_backward`` of every cell *is* the fast path's backward: the input GEMM is
hoisted before the loop, each step does one recurrent GEMM and the cell's elementwise update, and the
weight gradients are single GEMMs after the backward loop. Outside this Function, torch autograd only
sees one node per layer and direction (no per-step graph, so no O(T^2) indexing backward).

The hand-written backward computes first derivatives only. When a caller asks for a differentiable
gradient (``torch.autograd.grad(..., create_graph=True)``: gradient penalties, Hessian-vector
products, meta-learning), the backward replays the layer with the same ``step`` functions under
torch autograd and differentiates that, so higher derivatives are exact too (as torch.nn.LSTM's
are on CPU), at the autograd engine's speed for that call only.
"""

from __future__ import annotations

import torch

from rnnlab.ops import torch_ops
from rnnlab.reference.bptt import layer_backward, layer_forward


def _fp32_under_autocast(fn):
    """Run the recurrence in float32 under autocast (CUDA or CPU): the hand-written backward
    expects one dtype throughout, and the small per-step GEMMs gain little from half precision."""
    for device in ("cuda", "cpu"):
        fn = torch.amp.custom_fwd(fn, device_type=device, cast_inputs=torch.float32)
    return fn


def _autocast_backward(fn):
    for device in ("cuda", "cpu"):
        fn = torch.amp.custom_bwd(fn, device_type=device)
    return fn


class FusedLayer(torch.autograd.Function):
    """``FusedLayer.apply(cell, names, reverse, mask, rmask, X, *state0, *params)``.

    Args:
        cell: the cell's equations (:class:`rnnlab.cells.Cell`).
        names: stored names of ``params`` (``weight_ih``, ``weight_hh``...), in order.
        reverse: run the sequence backwards (the reverse direction of a bidirectional layer).
        mask: ``(T, B, 1)`` float mask of real steps, or None.
        rmask: ``(B, H)`` recurrent dropout mask, or None.
        X: ``(T, B, D)`` input.
        state0: one ``(B, H)`` tensor per cell state.
        params: the layer's parameters (torch.nn layout).

    Returns:
        ``(Y, *state_T)``: ``Y: (T, B, H)`` and the final states.
    """

    @staticmethod
    @_fp32_under_autocast
    def forward(ctx, cell, names, reverse, mask, rmask, X, *tensors):
        xp = torch_ops()
        n = len(cell.states)
        state0, params = tensors[:n], tensors[n:]
        P = cell.equation_params(dict(zip(names, params)))
        Y, state, tape = layer_forward(xp, cell, P, X, state0, mask, reverse, rmask)
        ctx.cell, ctx.names, ctx.tape = cell, names, tape
        ctx.reverse, ctx.mask, ctx.rmask, ctx.n_states = reverse, mask, rmask, n
        # Saved through autograd so that an in-place change to a weight before backward is caught,
        # and so that a differentiable backward (create_graph=True) reaches X, state0 and params.
        ctx.save_for_backward(X, *state0, *params)
        # Fresh tensors: the final states also live in the tape, which must not alias outputs.
        return (Y, *(s.clone() for s in state))

    @staticmethod
    @_autocast_backward
    def backward(ctx, dY, *dstate):
        if torch.is_grad_enabled():  # create_graph=True: the gradient must itself be differentiable
            return _replayed_backward(ctx, dY, dstate)
        xp = torch_ops()
        X, *tensors = ctx.saved_tensors
        params = tensors[ctx.n_states :]
        cell = ctx.cell
        P = cell.equation_params(dict(zip(ctx.names, params)))
        need_dx = ctx.needs_input_grad[5]
        dP, dX, dstate0 = layer_backward(xp, cell, P, ctx.tape, dY, dstate, need_dx)
        grads = cell.stored_grads(dP)
        state_grads = tuple(
            d if ctx.needs_input_grad[6 + j] else None for j, d in enumerate(dstate0)
        )
        return (None, None, None, None, None, dX, *state_grads, *(grads[k] for k in ctx.names))


def _replayed_backward(ctx, dY, dstate):
    """The gradients of :meth:`FusedLayer.backward` as a differentiable graph: the layer run again
    with the cell's ``step`` under autograd (the ``autograd`` engine) and differentiated with
    ``create_graph=True``."""
    X, *tensors = ctx.saved_tensors
    state0, params = tensors[: ctx.n_states], tensors[ctx.n_states :]
    inputs = (X, *state0, *params)
    wanted = [j for j, t in enumerate(inputs) if ctx.needs_input_grad[5 + j] and t.requires_grad]
    grads = [None] * len(inputs)
    if wanted:
        Y, state = autograd_layer(
            ctx.cell, ctx.names, params, X, state0, ctx.mask, ctx.reverse, ctx.rmask
        )
        got = torch.autograd.grad(
            (Y, *state),
            [inputs[j] for j in wanted],
            (dY, *dstate),
            create_graph=True,
            allow_unused=True,
        )
        for j, g in zip(wanted, got):
            grads[j] = g if g is not None else torch.zeros_like(inputs[j])
    return (None, None, None, None, None, *grads)


def fused_layer(cell, names, params, X, state0, mask=None, reverse=False, rmask=None):
    """Run one layer and direction with the fused engine. Returns ``(Y, state_T)``."""
    Y, *state = FusedLayer.apply(cell, tuple(names), reverse, mask, rmask, X, *state0, *params)
    return Y, tuple(state)


def autograd_layer(cell, names, params, X, state0, mask=None, reverse=False, rmask=None):
    """Run one layer and direction with the cell's ``step`` under torch autograd (the oracle)."""
    P = cell.equation_params(dict(zip(names, params)))
    Y, state, _ = layer_forward(
        torch_ops(), cell, P, X, state0, mask, reverse, rmask, keep_tape=False
    )
    return Y, tuple(state)
