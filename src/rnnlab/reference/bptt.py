"""Backpropagation through time for one layer in one direction, over any cell and any backend.

Dimension letters: T time, B batch, D input, H hidden, N = T * B.

This is the loop of the sources written once: forward over time keeping a cache per step, then
backward over ``reversed(range(T))`` summing every parameter's gradient over all steps. It runs
unchanged on NumPy (the reference engine) and on torch (inside the fused engine's
``autograd.Function``), because it only talks to arrays through the namespace ``xp``.

Performance shape (the same as cuDNN's): one GEMM for the input projections of all steps before
the loop; per step only the recurrent GEMM and the cell's elementwise update; after the backward
loop, the weight gradients as a few large GEMMs over the stacked per-step values
(:meth:`rnnlab.cells.base.Cell.param_grads`).

Variable lengths: ``mask: (T, B, 1)`` (1 on real steps, 0 on padding). A padded step changes neither
the state nor the output (its output is 0), and in the backward pass the state gradient flows past it
unchanged. Running the reverse direction over a right-padded batch therefore starts every sequence
from its own last real step, as torch.nn does for packed sequences.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from rnnlab.cells.base import Cell, Trace


class Tape(NamedTuple):
    """What the forward pass keeps for the backward pass."""

    X: Any  # (N, D) the layer input, flattened
    aux: Any  # what the cell's project_input kept for param_grads
    caches: list  # one cell cache per step, in time order
    mask: Any  # (T, B, 1) float mask or None
    reverse: bool
    shape: tuple  # (T, B, D)


def layer_forward(
    xp, cell: Cell, P: dict, X, state0: tuple, mask=None, reverse=False, rmask=None, keep_tape=True
):
    """Run one layer over a sequence.

    Args:
        xp: array namespace (:mod:`rnnlab.ops`).
        cell: the cell's equations.
        P: parameters under equation names (:meth:`Cell.equation_params`).
        X: ``(T, B, D)`` input.
        state0: initial state, a tuple of ``(B, H)`` arrays (``(h0,)`` or ``(h0, c0)``).
        mask: ``(T, B, 1)`` float mask of real steps, or None when every sequence has length T.
        reverse: run from t = T-1 down to 0 (the backward direction of a bidirectional layer).
        rmask: ``(B, H)`` recurrent dropout mask (the same for every step), or None.
        keep_tape: keep the per-step caches for :func:`layer_backward`.

    Returns:
        ``(Y, state_T, tape)``: ``Y: (T, B, H)`` the hidden state at every step (0 where padded),
        ``state_T`` the final state (each sequence's state at its last real step), and the tape.
    """
    T, B, D = X.shape
    X2 = X.reshape(T * B, D)
    XG, aux = cell.project_input(xp, P, X2)  # (N, Gx): all steps in one GEMM
    XG = XG.reshape(T, B, -1)
    # The loop multiplies by W_hh every step: a row-major copy is a faster GEMM operand than the
    # transposed view of weight_hh (the backward pass multiplies by W_hh^T = weight_hh itself).
    P = cell.loop_params(xp, {**P, "W_hh": xp.contiguous(P["W_hh"])})
    xg_rows = xp.unbind(XG)
    mask_rows = xp.unbind(mask) if mask is not None else None
    ys: list = [None] * T
    caches: list = [None] * T
    state = tuple(state0)
    for t in range(T - 1, -1, -1) if reverse else range(T):
        new, cache = cell.step(xp, P, xg_rows[t], state, rmask)
        if mask_rows is not None:
            m = mask_rows[t]  # (B, 1)
            new = tuple(s + m * (n - s) for n, s in zip(new, state))
            ys[t] = new[0] * m
        else:
            ys[t] = new[0]
        if keep_tape:
            caches[t] = cache
        state = new
    Y = xp.stack(ys)
    tape = Tape(X2, aux, caches, mask, reverse, (T, B, D)) if keep_tape else None
    return Y, state, tape


def layer_backward(xp, cell: Cell, P: dict, tape: Tape, dY, dstate_T: tuple, need_dx=True):
    """Backward pass of :func:`layer_forward`.

    Args:
        dY: ``(T, B, H)`` gradient of the loss with respect to ``Y``.
        dstate_T: gradients with respect to the final state (a tuple like ``state0``).
        need_dx: compute the input gradient (False skips one large GEMM; ``dX`` is then None).

    Returns:
        ``(dP, dX, dstate0)``: gradients for every parameter (equation names, summed over all time
        steps), for the input ``(T, B, D)`` and for the initial state.
    """
    T, B, D = tape.shape
    P = cell.loop_params(xp, P)
    dY_rows = xp.unbind(dY)
    mask_rows = xp.unbind(tape.mask) if tape.mask is not None else None
    kept: list = [None] * T
    # Kept gradients go straight into (T, B, width) buffers when the cell can write them there.
    stacked = {k: xp.empty((T, B, w), dY) for k, w in cell.kept_widths().items()}
    rows = {k: xp.unbind(v) for k, v in stacked.items()}

    def step_backward(t, d):
        if not rows:
            return cell.step_backward(xp, P, tape.caches[t], d)
        return cell.step_backward(xp, P, tape.caches[t], d, keep={k: r[t] for k, r in rows.items()})

    dstate = tuple(dstate_T)
    # The backward pass visits the steps in the opposite order to the forward pass.
    for t in range(T) if tape.reverse else range(T - 1, -1, -1):
        if mask_rows is None:
            dstate = (dstate[0] + dY_rows[t], *dstate[1:])
            dstate, kept[t] = step_backward(t, dstate)
        else:
            m = mask_rows[t]
            dh = dstate[0] + dY_rows[t] * m
            d_new = (dh * m, *(d * m for d in dstate[1:]))
            d_prev, kept[t] = step_backward(t, d_new)
            # Padded rows kept the old state: their gradient passes straight through.
            dstate = tuple(dp + d * (1 - m) for dp, d in zip(d_prev, (dh, *dstate[1:])))
    trace = Trace(xp, tape.caches, kept, need_dx, stacked)
    dP, dX = cell.param_grads(xp, P, tape.X, tape.aux, trace)
    return dP, (dX.reshape(T, B, D) if dX is not None else None), dstate
