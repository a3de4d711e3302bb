"""The Elman RNN cell (tanh, or relu as an option).

Dimension letters: T time, B batch, D input, H hidden, N = T * B rows.

Equations (right-multiplication; ``h~ = h_{t-1} * rmask`` under recurrent dropout, else ``h_{t-1}``)::

    a_t = x_t W_xh + b_xh + b_hh + h~ W_hh          (B, H)
    h_t = tanh(a_t)            (or relu(a_t))

The output layer ``y_t = h_t W_hy + b_y`` of the sources belongs to the model on top of the cell.
The same parameters are used at every step, so BPTT sums their gradients over all steps::

    da_t = dh_t * (1 - h_t^2)                 (relu: dh_t * [h_t > 0])
    dh_{t-1} = (da_t W_hh^T) * rmask
    dW_hh = sum_t h~_t^T da_t;  dW_xh = sum_t x_t^T da_t;  db_xh = db_hh = sum_t da_t

Repeated multiplication by ``W_hh^T`` and by ``tanh' <= 1`` is what makes ``dL/dh_k`` vanish (or,
with large ``W_hh``, explode) with distance: see ``rnnlab gradflow``.
"""

from __future__ import annotations

from typing import NamedTuple

from rnnlab.cells.base import Cell


class RNNCache(NamedTuple):
    hr: object  # h~, the operand of W_hh   (B, H)
    h: object  # h_t                       (B, H)
    rmask: object


class RNNCell(Cell):
    """Elman RNN cell: ``h_t = tanh(x_t W_xh + b_xh + h_{t-1} W_hh + b_hh)``.

    Args:
        input_size: D.
        hidden_size: H.
        bias: learn ``bias_ih`` and ``bias_hh``.
        nonlinearity: ``"tanh"`` (default) or ``"relu"``.
    """

    kind = "rnn"
    states = ("h",)
    gates = 1

    def __init__(self, input_size, hidden_size, bias=True, nonlinearity="tanh"):
        super().__init__(input_size, hidden_size, bias)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity

    def project_input(self, xp, P, X):
        if "b_xh" not in P:
            return xp.matmul(X, P["W_xh"]), None
        return xp.addmm(P["b_xh"] + P["b_hh"], X, P["W_xh"]), None

    def step(self, xp, P, xg, state, rmask=None):
        (h_prev,) = state
        hr = h_prev if rmask is None else h_prev * rmask
        a = xp.addmm(xg, hr, P["W_hh"])
        h = xp.tanh(a) if self.nonlinearity == "tanh" else xp.relu(a)
        return (h,), RNNCache(hr, h, rmask)

    def kept_widths(self):
        return {"da": self.hidden_size}

    def step_backward(self, xp, P, cache, dstate, keep=None):
        (dh,) = dstate
        out = keep["da"] if keep is not None else None
        if self.nonlinearity == "tanh":
            da = xp.tanh_backward(dh, cache.h, out=out)
        else:
            da = xp.multiply(dh, xp.relu_grad(cache.h), out=out)
        dh_prev = xp.matmul(da, xp.T(P["W_hh"]))
        if cache.rmask is not None:
            dh_prev = dh_prev * cache.rmask
        return (dh_prev,), {"da": da}

    def param_grads(self, xp, P, X, aux, trace):
        return self.gated_grads(xp, P, X, trace, folded_bias=True)

    def describe(self):
        act = "" if self.nonlinearity == "tanh" else ", relu"
        return f"rnn(D={self.input_size}, H={self.hidden_size}{act})"
