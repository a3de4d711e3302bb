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

Each LN call takes its gain (and shift) inside (``rnnlab.cells.layernorm``): on torch that is one
fused kernel forward and one backward that also returns the gain and shift gradients summed over
the batch, so the backward loop keeps per step only ``(4H,)`` and ``(H,)`` vectors for them instead
of the normalised ``(B, 4H)`` values and a whole-sequence product afterwards.

Backward (hand-derived; the LN backward is in ``rnnlab.ops``)::

    da_o = dh * tc * o(1-o);   dcn = dh * o * (1 - tc^2)             dcn: gradient of LN(c_t) gc + bc
    dc += LN_backward(dcn)  (+ da_o * p_o)
    da_i, da_f, da_g, dc_{t-1} as in rnnlab.cells.lstm
    dhw = LN_backward(da * ...)  the gradient of h~ W_hh;   dh_{t-1} = dhw W_hh^T
    dgh = sum_b da * LN(h~ W_hh);  dgc = sum_b dcn * LN(c_t);  dbc = sum_b dcn   (per step, kept)

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
    i: object
    f: object
    g: object
    o: object
    c: object
    stats_h: object  # what layer_norm_backward needs for LN(h~ W_hh) * gh
    stats_c: object  # ... for LN(c_t) * gc + bc
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
        # The two biases are the shift of the input LN: LN(X W_xh) * gx + (b_xh + b_hh).
        bias = P["b_xh"] + P["b_hh"] if "b_xh" in P else None
        return layer_norm(xp, xp.matmul(X, P["W_xh"]), P["ln_ih_weight"], bias)  # (N, 4H)

    def step(self, xp, P, xg, state, rmask=None):
        h_prev, c_prev = state
        H = self.hidden_size
        hr = h_prev if rmask is None else h_prev * rmask
        hn, stats_h = layer_norm(xp, xp.matmul(hr, P["W_hh"]), P["ln_hh_weight"])
        a = xg + hn  # (B, 4H)
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
        cn, stats_c = layer_norm(xp, c, P["ln_c_weight"], P["ln_c_bias"])
        tc = xp.tanh(cn)
        h = o * tc
        return (h, c), LNLSTMCache(hr, c_prev, i, f, g, o, c, stats_h, stats_c, tc, rmask)

    def step_backward(self, xp, P, cache, dstate, keep=None):
        dh, dc = dstate
        da = keep["da"] if keep is not None else xp.empty((dh.shape[0], 4 * self.hidden_size), dh)
        da_o = da[:, 3 * self.hidden_size :]
        xp.sigmoid_backward(dh * cache.tc, cache.o, out=da_o)
        dcn = xp.tanh_backward(dh * cache.o, cache.tc)  # gradient of LN(c) * gc + bc
        dc_ln, dgc, dbc = layer_norm_backward(xp, dcn, cache.stats_c, (True, True, True))
        dc_prev = self.cell_backward(xp, P, cache, da, da_o, dc + dc_ln)
        dhw, dgh, _ = layer_norm_backward(xp, da, cache.stats_h, (True, True, False))
        dh_prev = xp.matmul(dhw, xp.T(P["W_hh"]))
        if cache.rmask is not None:
            dh_prev = dh_prev * cache.rmask
        return (dh_prev, dc_prev), {"da": da, "dhw": dhw, "dgh": dgh, "dgc": dgc, "dbc": dbc}

    def param_grads(self, xp, P, X, aux, trace):
        dA = trace.flat_kept("da")  # (N, 4H)
        has_bias = "b_xh" in P
        dXW, dgx, db = layer_norm_backward(xp, dA, aux, (True, True, has_bias))
        dW_xh, _, dX = self.input_grads(xp, P, X, dXW, trace.need_dx)
        dP = {
            "W_xh": dW_xh,
            "W_hh": outer_sum(xp, trace.flat_cache("hr"), trace.flat_kept("dhw")),
            "ln_ih_weight": dgx,
            "ln_hh_weight": xp.sum0(trace.kept("dgh")),
            "ln_c_weight": xp.sum0(trace.kept("dgc")),
            "ln_c_bias": xp.sum0(trace.kept("dbc")),
        }
        if has_bias:
            dP["b_xh"], dP["b_hh"] = db, xp.copy(db)
        if self.peephole:
            dP["peephole"] = self.peephole_grads(xp, trace)
        return dP, dX

    def describe(self):
        return super().describe().replace("lstm(", "lstm(layer_norm, ", 1)
