"""MUT1, MUT2 and MUT3: the three best cells of Jozefowicz, Zaremba & Sutskever (2015).

Dimension letters: T time, B batch, D input, H hidden, N = T * B rows.

They were found by a brute-force evolutionary search over update equations and are GRU-like: an
update gate z mixes a candidate n with the previous state. As published (``h~`` is ``h_{t-1}``, or
``h_{t-1} * rmask`` under recurrent dropout)::

    MUT1:  z = sigm(W_xz x + b_z)
           r = sigm(W_xr x + W_hr h~ + b_r)
           n = tanh(W_hh (r * h~) + tanh(x) + b_h)
    MUT2:  z = sigm(W_xz x + W_hz h~ + b_z)
           r = sigm(x + W_hr h~ + b_r)
           n = tanh(W_hh (r * h~) + W_xh x + b_h)
    MUT3:  z = sigm(W_xz x + W_hz tanh(h~) + b_z)
           r = sigm(W_xr x + W_hr h~ + b_r)
           n = tanh(W_hh (r * h~) + W_xh x + b_h)
    all:   h_t = n * z + h_{t-1} * (1 - z)

Input width: MUT1's ``tanh(x)`` and MUT2's bare ``x`` only make sense when D == H (the paper's
setting). When D != H, rnnlab replaces that ``x`` by a learned projection ``x W_xp + b_xp`` (so MUT1
uses ``tanh(x W_xp + b_xp)``); when D == H the equations are used exactly as published, with no
extra parameters.

Layout: the input projection ``XG: (N, 3H)`` has blocks ``[z | r | h]``; ``weight_ih`` holds the rows
of the blocks that have weights, in that order (``(2H, D)`` when one block is bare, else ``(3H, D)``).
``weight_hh`` holds the recurrent matrices as rows ``[r | h]`` (MUT1) or ``[z | r | h]``
(MUT2, MUT3); in the equations ``W_hh = weight_hh.T``, so ``W_hr = W_hh[:, H:2H]`` and so on.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

from rnnlab.cells.base import Cell, ParamSpec, outer_sum


class MUTCache(NamedTuple):
    hr: object  # h~ (B, H)
    h_prev: object
    th: object  # tanh(h~), MUT3 only
    z: object
    r: object
    n: object
    q: object  # r * h~, the operand of W_hh's candidate block
    rmask: object


class MUTCell(Cell):
    """Shared equations of the MUT cells; the subclasses set which terms exist."""

    states = ("h",)
    gates = 3
    #: the XG block ("r" or "h") that is a bare x in the paper, or None
    bare_block: ClassVar[str | None] = None
    #: MUT1 passes the input through tanh in its candidate
    tanh_input: ClassVar[bool] = False
    #: how h~ enters z: None (MUT1), "h" (MUT2) or "tanh" (MUT3)
    z_recurrent: ClassVar[str | None] = None

    @property
    def rec_blocks(self) -> tuple[str, ...]:
        return ("r", "h") if self.z_recurrent is None else ("z", "r", "h")

    @property
    def bare(self) -> bool:
        """True when the paper's bare-x block is used as is (D == H)."""
        return self.bare_block is not None and self.input_size == self.hidden_size

    @property
    def weighted_blocks(self) -> tuple[str, ...]:
        return tuple(b for b in ("z", "r", "h") if not (self.bare and b == self.bare_block))

    @property
    def input_width(self) -> int:
        return 3 * self.hidden_size

    def param_specs(self):
        H, D = self.hidden_size, self.input_size
        nw, nr = len(self.weighted_blocks), len(self.rec_blocks)
        specs = [ParamSpec("weight_ih", (nw * H, D)), ParamSpec("weight_hh", (nr * H, H))]
        if self.bias:
            specs += [ParamSpec("bias_ih", (nw * H,)), ParamSpec("bias_hh", (nr * H,))]
        return specs

    # -------------------------------------------------------------- helpers
    def _rec(self, P, block):
        """Columns of W_hh (and b_hh) for one recurrent block."""
        H = self.hidden_size
        k = self.rec_blocks.index(block)
        b = P.get("b_hh")
        return P["W_hh"][:, k * H : (k + 1) * H], (None if b is None else b[k * H : (k + 1) * H])

    @staticmethod
    def _lin(xp, x, W, b):
        return xp.matmul(x, W) if b is None else xp.addmm(b, x, W)

    # -------------------------------------------------------------- forward
    def project_input(self, xp, P, X):
        H = self.hidden_size
        XW = xp.matmul(X, P["W_xh"]) if "b_xh" not in P else xp.addmm(P["b_xh"], X, P["W_xh"])
        blocks, k = [], 0
        for name in ("z", "r", "h"):
            if name in self.weighted_blocks:
                blocks.append(XW[:, k * H : (k + 1) * H])
                k += 1
            else:
                blocks.append(X)
        if self.tanh_input:
            blocks[2] = xp.tanh(blocks[2])
        XG = XW if (k == 3 and not self.tanh_input) else xp.concat(blocks)
        return XG, (XG if self.tanh_input else None)

    def step(self, xp, P, xg, state, rmask=None):
        (h_prev,) = state
        H = self.hidden_size
        hr = h_prev if rmask is None else h_prev * rmask
        th = None
        if self.z_recurrent == "h":  # z and r share the operand h~: one GEMM for both
            W = P["W_hh"][:, : 2 * H]
            b = P.get("b_hh")
            zr = xp.sigmoid(
                xg[:, : 2 * H] + self._lin(xp, hr, W, None if b is None else b[: 2 * H])
            )
            z, r = zr[:, :H], zr[:, H:]
        else:
            if self.z_recurrent == "tanh":
                th = xp.tanh(hr)
                z = xp.sigmoid(xg[:, :H] + self._lin(xp, th, *self._rec(P, "z")))
            else:
                z = xp.sigmoid(xg[:, :H])
            r = xp.sigmoid(xg[:, H : 2 * H] + self._lin(xp, hr, *self._rec(P, "r")))
        q = r * hr
        n = xp.tanh(xg[:, 2 * H :] + self._lin(xp, q, *self._rec(P, "h")))
        h = xp.lerp(h_prev, n, z)  # h_prev + z * (n - h_prev)
        return (h,), MUTCache(hr, h_prev, th, z, r, n, q, rmask)

    # -------------------------------------------------------------- backward
    def step_backward(self, xp, P, cache, dstate):
        (dh,) = dstate
        hr, h_prev, th, z, r, n, q, rmask = cache
        dhz = dh * z
        da_n = xp.tanh_backward(dhz, n)
        da_z = xp.sigmoid_backward(dh * (n - h_prev), z)
        dq = xp.matmul(da_n, xp.T(self._rec(P, "h")[0]))
        da_r = xp.sigmoid_backward(dq * hr, r)
        dhr = dq * r + xp.matmul(da_r, xp.T(self._rec(P, "r")[0]))
        if self.z_recurrent == "h":
            dhr += xp.matmul(da_z, xp.T(self._rec(P, "z")[0]))
        elif self.z_recurrent == "tanh":
            dhr += xp.tanh_backward(xp.matmul(da_z, xp.T(self._rec(P, "z")[0])), th)
        if rmask is not None:
            dhr = dhr * rmask
        return (dh - dhz + dhr,), {"dxg": xp.concat([da_z, da_r, da_n])}

    def param_grads(self, xp, P, X, aux, trace):
        H = self.hidden_size
        dXG = trace.flat_kept("dxg")  # (N, 3H): [z | r | h]
        blocks = [dXG[:, k * H : (k + 1) * H] for k in range(3)]
        into = list(blocks)  # gradients of what enters XG, before MUT1's tanh(x)
        if self.tanh_input:
            into[2] = xp.tanh_backward(blocks[2], aux[:, 2 * H :])
        dXW = xp.concat([into[k] for k, b in enumerate("zrh") if b in self.weighted_blocks])
        dW_xh, db_xh, dX = self.input_grads(xp, P, X, dXW, trace.need_dx)
        if self.bare and dX is not None:
            dX = dX + into["zrh".index(self.bare_block)]
        operands = {"z": "th" if self.z_recurrent == "tanh" else "hr", "r": "hr", "h": "q"}
        dW_hh = [
            outer_sum(xp, trace.flat_cache(operands[b]), blocks["zrh".index(b)])
            for b in self.rec_blocks
        ]
        dP = {"W_xh": dW_xh, "W_hh": xp.concat(dW_hh)}
        if db_xh is not None:
            dP["b_xh"] = db_xh
            dP["b_hh"] = xp.concat([xp.sum0(blocks["zrh".index(b)]) for b in self.rec_blocks])
        return dP, dX

    def describe(self):
        note = ", bare x" if self.bare else (", x projected" if self.bare_block else "")
        return f"{self.kind}(D={self.input_size}, H={self.hidden_size}{note})"


class MUT1Cell(MUTCell):
    """MUT1: ``z`` from the input only; ``tanh(x)`` in the candidate."""

    kind = "mut1"
    bare_block = "h"
    tanh_input = True
    z_recurrent = None


class MUT2Cell(MUTCell):
    """MUT2: bare ``x`` in the reset gate."""

    kind = "mut2"
    bare_block = "r"
    z_recurrent = "h"


class MUT3Cell(MUTCell):
    """MUT3: ``tanh(h)`` feeds the update gate."""

    kind = "mut3"
    bare_block = None
    z_recurrent = "tanh"


MUT_CELLS = {"mut1": MUT1Cell, "mut2": MUT2Cell, "mut3": MUT3Cell}
