"""The GRU cell, with the reset gate after (torch.nn, cuDNN) or before (Cho 2014) the recurrent matmul.

Dimension letters: T time, B batch, D input, H hidden, N = T * B rows.

Gate order r, z, n (torch.nn). ``h~ = h_{t-1} * rmask`` under recurrent dropout, else ``h_{t-1}``.

``reset="after"`` (torch.nn.GRU, cuDNN, Keras ``reset_after=True``)::

    xg = x_t W_xh + b_xh            hg = h~ W_hh + b_hh                   (B, 3H) each
    r = sigmoid(xg_r + hg_r);   z = sigmoid(xg_z + hg_z)
    n = tanh(xg_n + r * hg_n)
    h_t = (1 - z) * n + z * h_{t-1}

``reset="before"`` (Cho et al. 2014, the GRU of Chung et al. 2014)::

    r, z as above (from h~ W_hh[:, :2H] + b_hh[:2H])
    n = tanh(xg_n + (r * h~) W_hh[:, 2H:] + b_hh[2H:])
    h_t = (1 - z) * n + z * h_{t-1}

The reset gate scales the *previous state* before it is mixed (before), or the *mixed* state
(after); the two are different functions with the same parameter shapes, so a ``reset="before"``
state dict has torch.nn's names and shapes but not its meaning.

``chrono=T_max``: the chrono initialisation of Tallec & Ollivier (2018) for the update gate, which
keeps the state when z is near 1: ``b_z = log u`` with ``u`` spread over ``[1, T_max - 1]``
(:func:`rnnlab.cells.base.chrono_bias`) in ``bias_ih``, ``bias_hh``'s z slice zeroed.

On z and 1 - z: Cho et al. and Chung et al. write ``h_t = (1 - z) h_{t-1} + z n``: their update gate
is our ``1 - z``. Since ``1 - sigmoid(a) = sigmoid(-a)``, the two are the same family of functions
(negate the z rows of the weights and biases to convert); rnnlab follows torch.nn.

Backward (hand-derived)::

    dn = dh (1 - z);   dz = dh (h_{t-1} - n);   dh_{t-1} = dh z + (...) * rmask
    da_n = dn (1 - n^2)
    after:  dhg_n = da_n * r;  dr = da_n * hg_n
    before: dq = da_n W_hn^T (q = r * h~);  dr = dq * h~;  dh~ += dq * r
    da_r = dr r(1-r);  da_z = dz z(1-z)
"""

from __future__ import annotations

from typing import NamedTuple

from rnnlab.cells.base import Cell, assign, check_chrono, chrono_bias, outer_sum


class GRUCache(NamedTuple):
    hr: object  # h~, operand of the r/z (and, after, n) recurrent matmul   (B, H)
    h_prev: object  # h_{t-1}                                              (B, H)
    r: object
    z: object
    n: object
    hg_n: object  # after: h~ W_hn + b_hn (the term r multiplies); before: None
    q: object  # before: r * h~ (operand of W_hn); after: None
    rmask: object


class GRUCell(Cell):
    """GRU cell (Cho et al. 2014).

    Args:
        input_size: D.
        hidden_size: H.
        bias: learn ``bias_ih`` and ``bias_hh``.
        reset: ``"after"`` (torch.nn / cuDNN, default) or ``"before"`` (Cho 2014 / Chung 2014).
        chrono: chrono initialisation of the update gate for dependencies of up to this many
            steps (0: off).
    """

    kind = "gru"
    states = ("h",)
    gates = 3

    def __init__(self, input_size, hidden_size, bias=True, reset="after", chrono=0):
        super().__init__(input_size, hidden_size, bias)
        if reset not in ("after", "before"):
            raise ValueError(f"reset must be 'after' or 'before', got {reset!r}")
        self.reset = reset
        self.chrono = check_chrono(chrono, self.bias)

    def adjust_init(self, params):
        if self.chrono:
            H = self.hidden_size
            assign(params["bias_ih"], slice(H, 2 * H), chrono_bias(H, self.chrono))
            assign(params["bias_hh"], slice(H, 2 * H), 0.0)

    def project_input(self, xp, P, X):
        if self.reset == "before" and "b_xh" in P:
            # Both biases enter every pre-activation additively: added once, in the hoisted GEMM.
            return xp.addmm(P["b_xh"] + P["b_hh"], X, P["W_xh"]), None
        return super().project_input(xp, P, X)

    def loop_params(self, xp, P):
        if self.reset == "before":
            H = self.hidden_size
            P = {**P, "W_rz": P["W_hh"][:, : 2 * H], "W_n": P["W_hh"][:, 2 * H :]}
        return P

    def step(self, xp, P, xg, state, rmask=None):
        (h_prev,) = state
        H = self.hidden_size
        hr = h_prev if rmask is None else h_prev * rmask
        if self.reset == "after":
            W, b = P["W_hh"], P.get("b_hh")
            hg = xp.addmm(b, hr, W) if b is not None else xp.matmul(hr, W)  # (B, 3H)
            rz = xp.sigmoid((xg + hg)[:, : 2 * H])  # one add over 3H beats two slices and an add
            r, z = rz[:, :H], rz[:, H:]
            hg_n = hg[:, 2 * H :]
            n = xp.tanh(xp.addcmul(xg[:, 2 * H :], r, hg_n))
            q = None
        else:
            rz = xp.sigmoid(xp.addmm(xg[:, : 2 * H], hr, P["W_rz"]))
            r, z = rz[:, :H], rz[:, H:]
            q = r * hr
            n = xp.tanh(xp.addmm(xg[:, 2 * H :], q, P["W_n"]))
            hg_n = None
        h = xp.lerp(n, h_prev, z)  # n + z * (h_prev - n)
        return (h,), GRUCache(hr, h_prev, r, z, n, hg_n, q, rmask)

    def kept_widths(self):
        H = self.hidden_size
        # after: the gradient of h~ W_hh + b_hh and da_n (dXG is [dHG_r, dHG_z, da_n]);
        # before: the gradient of the input pre-activations.
        return {"dhg": 3 * H, "dan": H} if self.reset == "after" else {"dxg": 3 * H}

    def step_backward(self, xp, P, cache, dstate, keep=None):
        (dh,) = dstate
        H = self.hidden_size
        hr, h_prev, r, z, n, hg_n, q, rmask = cache
        W = P["W_hh"]
        if keep is None:
            keep = {k: xp.empty((dh.shape[0], w), dh) for k, w in self.kept_widths().items()}
        if self.reset == "after":
            dhg = keep["dhg"]  # (B, 3H)
            da_n = xp.tanh_backward(dh - dh * z, n, out=keep["dan"])
            xp.sigmoid_backward(dh * (h_prev - n), z, out=dhg[:, H : 2 * H])
            xp.sigmoid_backward(da_n * hg_n, r, out=dhg[:, :H])
            xp.multiply(da_n, r, out=dhg[:, 2 * H :])
            dhr = xp.matmul(dhg, xp.T(W))
        else:
            dxg = keep["dxg"]  # (B, 3H)
            da_n = xp.tanh_backward(dh - dh * z, n, out=dxg[:, 2 * H :])
            xp.sigmoid_backward(dh * (h_prev - n), z, out=dxg[:, H : 2 * H])
            dq = xp.matmul(da_n, xp.T(P["W_n"]))
            xp.sigmoid_backward(dq * hr, r, out=dxg[:, :H])
            dhr = xp.addmm(dq * r, dxg[:, : 2 * H], xp.T(P["W_rz"]))
        if rmask is not None:
            dhr = dhr * rmask
        return (dh * z + dhr,), keep

    def param_grads(self, xp, P, X, aux, trace):
        H = self.hidden_size
        if self.reset == "after":
            dHG = trace.flat_kept("dhg")  # (N, 3H)
            dXG = xp.concat([dHG[:, : 2 * H], trace.flat_kept("dan")])  # (N, 3H)
        else:
            dXG = trace.flat_kept("dxg")  # (N, 3H)
        dW_xh, db_xh, dX = self.input_grads(xp, P, X, dXG, trace.need_dx)
        dP = {"W_xh": dW_xh}
        if self.reset == "after":
            dP["W_hh"] = outer_sum(xp, trace.flat_cache("hr"), dHG)
            db_hh = xp.sum0(dHG) if db_xh is not None else None
        else:
            dP["W_hh"] = xp.concat(
                [
                    outer_sum(xp, trace.flat_cache("hr"), dXG[:, : 2 * H]),
                    outer_sum(xp, trace.flat_cache("q"), dXG[:, 2 * H :]),
                ]
            )
            db_hh = xp.copy(db_xh) if db_xh is not None else None
        if db_xh is not None:
            dP["b_xh"], dP["b_hh"] = db_xh, db_hh
        return dP, dX

    def describe(self):
        chrono = f", chrono={self.chrono}" if self.chrono else ""
        return f"gru(D={self.input_size}, H={self.hidden_size}, reset={self.reset}{chrono})"
