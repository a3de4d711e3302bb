"""The layer-normalised LSTM of Ba, Kiros & Hinton (2016), with peepholes as an option.

Dimension letters: T time, B batch, D input, H hidden, N = T * B rows. ``LN(v)`` normalises each
row of ``v`` over its last axis (:mod:`rnnlab.cells.layernorm`).

Equations (Ba et al. 2016, eqs. 20-22; gate order i, f, g, o)::

    a   = LN(x_t W_xh) * gx + LN(h~ W_hh) * gh + b_xh + b_hh            (B, 4H)
    (peepholes as in rnnlab.cells.lstm)
    i, f, o = sigmoid(a_i, a_f, a_o);  g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(LN(c_t) * gc + bc)

The input and recurrent projections are normalised separately, over all four gates together (4H
wide), so the biases act as the shifts. ``LN(x_t W_xh)`` depends on no state: it is computed for all
steps at once, with the input GEMM, before the loop.

Parameters beyond the LSTM's: ``ln_ih_weight (4H) = gx``, ``ln_hh_weight (4H) = gh``,
``ln_c_weight (H) = gc`` (all initialised to 1) and ``ln_c_bias (H) = bc`` (0).
"""

from __future__ import annotations

from typing import NamedTuple

from rnnlab.cells.base import ParamSpec, outer_sum
from rnnlab.cells.layernorm import layer_norm, layer_norm_backward
from rnnlab.cells.lstm import LSTMCell


class LNLSTMCache(NamedTuple):
    hr: object  # h~ (B, H)
    c_prev: object
    s: object  # sigmoid(a) (B, 4H)
    g: object
    o: object
    c: object
    hhat: object  # LN(h~ W_hh) before its gain (B, 4H)
    stats_h: object  # what layer_norm_backward needs
    chat: object  # LN(c_t) before its gain and bias (B, H)
    stats_c: object
    tc: object  # tanh(LN(c_t) * gc + bc)
    rmask: object


class LayerNormLSTMCell(LSTMCell):
    """LSTM with layer normalisation (``rnnlab.LSTM(..., layer_norm=True)``)."""

    kind = "lstm"

    def extra_param_specs(self):
        G, H = 4 * self.hidden_size, self.hidden_size
        return super().extra_param_specs() + [
            ParamSpec("ln_ih_weight", (G,), "ones"),
            ParamSpec("ln_hh_weight", (G,), "ones"),
            ParamSpec("ln_c_weight", (H,), "ones"),
            ParamSpec("ln_c_bias", (H,), "zeros"),
        ]

    def project_input(self, xp, P, X):
        xhat, stats = layer_norm(xp, xp.matmul(X, P["W_xh"]))  # (N, 4H)
        XG = xhat * P["ln_ih_weight"]
        if "b_xh" in P:
            XG += P["b_xh"] + P["b_hh"]
        return XG, (xhat, stats)

    def step(self, xp, P, xg, state, rmask=None):
        h_prev, c_prev = state
        H = self.hidden_size
        hr = h_prev if rmask is None else h_prev * rmask
        hhat, stats_h = layer_norm(xp, xp.matmul(hr, P["W_hh"]))
        a = xg + hhat * P["ln_hh_weight"]  # (B, 4H)
        if self.peephole:
            xp.addcmul_(a[:, :H], P["p_i"], c_prev)
            xp.addcmul_(a[:, H : 2 * H], P["p_f"], c_prev)
        s = xp.sigmoid(a)
        i, f = s[:, :H], s[:, H : 2 * H]
        g = xp.tanh(a[:, 2 * H : 3 * H])
        c = xp.addcmul(f * c_prev, i, g)
        if self.peephole:
            o = xp.sigmoid(xp.addcmul(a[:, 3 * H :], P["p_o"], c))
        else:
            o = s[:, 3 * H :]
        chat, stats_c = layer_norm(xp, c)
        tc = xp.tanh(chat * P["ln_c_weight"] + P["ln_c_bias"])
        h = o * tc
        cache = LNLSTMCache(hr, c_prev, s, g, o, c, hhat, stats_h, chat, stats_c, tc, rmask)
        return (h, c), cache

    def kept_widths(self):
        return {}  # three kept gradients of different widths: stacked after the loop

    def step_backward(self, xp, P, cache, dstate):
        dh, dc = dstate
        H = self.hidden_size
        i, f = cache.s[:, :H], cache.s[:, H : 2 * H]
        g, o, c_prev = cache.g, cache.o, cache.c_prev
        da = xp.empty((dh.shape[0], 4 * H), dh)  # (B, 4H)
        da_i, da_f, da_g, da_o = da[:, :H], da[:, H : 2 * H], da[:, 2 * H : 3 * H], da[:, 3 * H :]
        xp.sigmoid_backward(dh * cache.tc, o, out=da_o)
        dcn = xp.tanh_backward(dh * o, cache.tc)  # gradient of LN(c) * gc + bc
        dc = dc + layer_norm_backward(xp, dcn * P["ln_c_weight"], cache.stats_c)
        if self.peephole:
            xp.addcmul_(dc, da_o, P["p_o"])
        xp.sigmoid_backward(dc * g, i, out=da_i)
        xp.sigmoid_backward(dc * c_prev, f, out=da_f)
        xp.tanh_backward(dc * i, g, out=da_g)
        dc_prev = dc * f
        if self.peephole:
            xp.addcmul_(xp.addcmul_(dc_prev, da_i, P["p_i"]), da_f, P["p_f"])
        dhw = layer_norm_backward(xp, da * P["ln_hh_weight"], cache.stats_h)
        dh_prev = xp.matmul(dhw, xp.T(P["W_hh"]))
        if cache.rmask is not None:
            dh_prev = dh_prev * cache.rmask
        return (dh_prev, dc_prev), {"da": da, "dhw": dhw, "dcn": dcn}

    def param_grads(self, xp, P, X, aux, trace):
        xhat, stats_x = aux
        dA = trace.flat_kept("da")  # (N, 4H)
        dXW = layer_norm_backward(xp, dA * P["ln_ih_weight"], stats_x)
        dW_xh, _, dX = self.input_grads(xp, P, X, dXW, trace.need_dx)
        dCN = trace.flat_kept("dcn")
        dP = {
            "W_xh": dW_xh,
            "W_hh": outer_sum(xp, trace.flat_cache("hr"), trace.flat_kept("dhw")),
            "ln_ih_weight": xp.sum0(dA * xhat),
            "ln_hh_weight": xp.sum0(dA * trace.flat_cache("hhat")),
            "ln_c_weight": xp.sum0(dCN * trace.flat_cache("chat")),
            "ln_c_bias": xp.sum0(dCN),
        }
        if "b_xh" in P:
            dP["b_xh"] = xp.sum0(dA)
            dP["b_hh"] = xp.copy(dP["b_xh"])
        if self.peephole:
            dP["peephole"] = self.peephole_grads(xp, trace)
        return dP, dX

    def describe(self):
        return super().describe().replace("lstm(", "lstm(layer_norm, ", 1)
