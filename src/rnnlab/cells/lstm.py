"""The LSTM cell, with peephole connections and a forget-gate bias as options.

Dimension letters: T time, B batch, D input, H hidden, N = T * B rows.

Equations (gate order i, f, g, o as in torch.nn; right-multiplication; ``h~ = h_{t-1} * rmask`` is
``h_{t-1}`` itself unless recurrent dropout is on)::

    a   = x_t W_xh + b_xh + b_hh + h~ W_hh                          (B, 4H) pre-activations
    a_i += p_i * c_{t-1};   a_f += p_f * c_{t-1}                     peephole only
    i = sigmoid(a_i);  f = sigmoid(a_f);  g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    a_o += p_o * c_t                                                 peephole only
    o = sigmoid(a_o)
    h_t = o * tanh(c_t)

Peepholes are Graves (2013)'s diagonal cell-to-gate weights, the LSTM of Chung et al. (2014): the
input and forget gates look at ``c_{t-1}``, the output gate at ``c_t``. They are stored as
``peephole: (3, H)`` with rows ``p_i, p_f, p_o``, initialised to zero (so a fresh peephole LSTM starts
as the standard one).

``forget_bias`` is added to the forget-gate slice of ``bias_ih`` at initialisation (Jozefowicz et al.
2015 recommend 1.0). It is an initialisation only: the parameters keep torch.nn's layout.

``chrono=T_max`` is the chrono initialisation of Tallec & Ollivier (2018) instead: forget-gate biases
``b_f = log u`` with ``u`` spread over ``[1, T_max - 1]`` (:func:`rnnlab.cells.base.chrono_bias`) and
input-gate biases ``b_i = -b_f``, in ``bias_ih`` (the ``bias_hh`` slices of both gates zeroed): the
units start with memories of 2 to about ``T_max`` steps, for dependencies ``T_max`` steps long.

Backward (hand-derived; ``dh, dc`` arrive from step t+1 and the output)::

    tc = tanh(c_t)
    da_o = dh * tc * o(1-o)
    dc  += dh * o * (1 - tc^2) + da_o * p_o
    da_i = dc * g * i(1-i);   da_f = dc * c_{t-1} * f(1-f);   da_g = dc * i * (1-g^2)
    dc_{t-1} = dc * f + da_i * p_i + da_f * p_f
    dh_{t-1} = (da W_hh^T) * rmask
    dW_hh = sum_t h~_t^T da_t;  dW_xh = sum_t x_t^T da_t;  db_xh = db_hh = sum_t da_t   (after the loop)
"""

from __future__ import annotations

import math
from typing import NamedTuple

from rnnlab.cells.base import Cell, ParamSpec, assign, check_chrono, check_flag, chrono_bias


class LSTMCache(NamedTuple):
    hr: object  # h~ = h_{t-1} * rmask, the operand of W_hh          (B, H)
    c_prev: object  # c_{t-1}                                          (B, H)
    i: object  # input gate                                          (B, H)
    f: object  # forget gate                                         (B, H)
    g: object  # tanh(a_g)                                           (B, H)
    o: object  # output gate                                         (B, H)
    c: object  # c_t                                                 (B, H)
    tc: object  # tanh(c_t)                                          (B, H)
    rmask: object  # recurrent dropout mask or None


class LSTMCell(Cell):
    """LSTM cell (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000).

    Args:
        input_size: D.
        hidden_size: H.
        bias: learn ``bias_ih`` and ``bias_hh`` (torch.nn keeps both; their sum is what matters).
        peephole: add Graves (2013) peephole connections (parameter ``peephole: (3, H)``).
        forget_bias: constant added to the forget-gate bias at initialisation.
        chrono: chrono initialisation for dependencies of up to this many steps (0: off).
    """

    kind = "lstm"
    states = ("h", "c")
    gates = 4

    def __init__(
        self, input_size, hidden_size, bias=True, peephole=False, forget_bias=0.0, chrono=0
    ):
        super().__init__(input_size, hidden_size, bias)
        self.peephole = check_flag("peephole", peephole)
        try:
            self.forget_bias = float(forget_bias)
        except (TypeError, ValueError):
            raise ValueError(f"forget_bias must be a number, got {forget_bias!r}") from None
        if not math.isfinite(self.forget_bias):
            raise ValueError(f"forget_bias must be a finite number, got {forget_bias!r}")
        self.chrono = check_chrono(chrono, self.bias)
        if self.forget_bias and not self.bias:
            raise ValueError("forget_bias needs bias=True")
        if self.forget_bias and self.chrono:
            raise ValueError("forget_bias and chrono are two initialisations of one bias: pick one")

    def extra_param_specs(self):
        return [ParamSpec("peephole", (3, self.hidden_size), "zeros")] if self.peephole else []

    def adjust_init(self, params):
        H = self.hidden_size
        if self.forget_bias:
            params["bias_ih"][H : 2 * H] += self.forget_bias
        if self.chrono:
            b = chrono_bias(H, self.chrono)
            assign(params["bias_ih"], slice(0, H), -b)
            assign(params["bias_ih"], slice(H, 2 * H), b)
            assign(params["bias_hh"], slice(0, 2 * H), 0.0)

    # -------------------------------------------------------------- forward
    def project_input(self, xp, P, X):
        # Both biases enter the same sum, so they are added once, inside the hoisted GEMM.
        if "b_xh" not in P:
            return xp.matmul(X, P["W_xh"]), None
        return xp.addmm(P["b_xh"] + P["b_hh"], X, P["W_xh"]), None

    def loop_params(self, xp, P):
        if self.peephole:
            # One (H,) view per row, taken once per sequence instead of three times per step.
            P = {**P, "p_i": P["peephole"][0], "p_f": P["peephole"][1], "p_o": P["peephole"][2]}
        return P

    def step(self, xp, P, xg, state, rmask=None):
        h_prev, c_prev = state
        H = self.hidden_size
        hr = h_prev if rmask is None else h_prev * rmask
        a = xp.addmm(xg, hr, P["W_hh"])  # (B, 4H)
        if self.peephole:
            xp.addcmul_(a[:, :H], P["p_i"], c_prev)
            xp.addcmul_(a[:, H : 2 * H], P["p_f"], c_prev)
        s = xp.sigmoid(a)  # i | f | (unused) | o
        i, f = s[:, :H], s[:, H : 2 * H]
        g = xp.tanh(a[:, 2 * H : 3 * H])
        c = xp.addcmul(f * c_prev, i, g)
        if self.peephole:
            o = xp.sigmoid(xp.addcmul(a[:, 3 * H :], P["p_o"], c))
        else:
            o = s[:, 3 * H :]
        tc = xp.tanh(c)
        h = o * tc
        return (h, c), LSTMCache(hr, c_prev, i, f, g, o, c, tc, rmask)

    # -------------------------------------------------------------- backward
    def kept_widths(self):
        return {"da": 4 * self.hidden_size}

    def step_backward(self, xp, P, cache, dstate, keep=None):
        dh, dc = dstate
        da = keep["da"] if keep is not None else xp.empty((dh.shape[0], 4 * self.hidden_size), dh)
        da_o = da[:, 3 * self.hidden_size :]
        xp.sigmoid_backward(dh * cache.tc, cache.o, out=da_o)
        dc_prev = self.cell_backward(
            xp, P, cache, da, da_o, dc + xp.tanh_backward(dh * cache.o, cache.tc)
        )
        dh_prev = xp.matmul(da, xp.T(P["W_hh"]))
        if cache.rmask is not None:
            dh_prev = dh_prev * cache.rmask
        return (dh_prev, dc_prev), {"da": da}

    def cell_backward(self, xp, P, cache, da, da_o, dc):
        """From ``dc``, the whole gradient of ``c_t``, write ``da_i, da_f, da_g`` into
        ``da: (B, 4H)`` (``da_o`` is already there) and return ``dc_{t-1}``. Shared with the
        LayerNorm LSTM, whose ``dc`` also passes through LN(c_t)."""
        H = self.hidden_size
        i, f, g, c_prev = cache.i, cache.f, cache.g, cache.c_prev
        da_i, da_f = da[:, :H], da[:, H : 2 * H]
        if self.peephole:
            xp.addcmul_(dc, da_o, P["p_o"])
        xp.sigmoid_backward(dc * g, i, out=da_i)
        xp.sigmoid_backward(dc * c_prev, f, out=da_f)
        xp.tanh_backward(dc * i, g, out=da[:, 2 * H : 3 * H])
        dc_prev = dc * f
        if self.peephole:
            xp.addcmul_(xp.addcmul_(dc_prev, da_i, P["p_i"]), da_f, P["p_f"])
        return dc_prev

    def param_grads(self, xp, P, X, aux, trace):
        dP, dX = self.gated_grads(xp, P, X, trace, folded_bias=True)
        if self.peephole:
            dP["peephole"] = self.peephole_grads(xp, trace)
        return dP, dX

    def peephole_grads(self, xp, trace):
        """``dp_i = sum da_i * c_{t-1}``, ``dp_f = sum da_f * c_{t-1}``, ``dp_o = sum da_o * c_t``."""
        H = self.hidden_size
        dA, c_prev = trace.flat_kept("da"), trace.flat_cache("c_prev")
        return xp.stack(
            [
                xp.sum0(dA[:, :H] * c_prev),
                xp.sum0(dA[:, H : 2 * H] * c_prev),
                xp.sum0(dA[:, 3 * H :] * trace.flat_cache("c")),
            ]
        )

    def describe(self):
        extras = [n for n, on in (("peephole", self.peephole),) if on]
        if self.forget_bias:
            extras.append(f"forget_bias={self.forget_bias:g}")
        if self.chrono:
            extras.append(f"chrono={self.chrono}")
        tail = (", " + ", ".join(extras)) if extras else ""
        return f"lstm(D={self.input_size}, H={self.hidden_size}{tail})"
