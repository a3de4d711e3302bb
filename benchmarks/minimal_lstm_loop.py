"""The fewest-operations LSTM loop we could write in eager torch, timed against torch.nn.LSTM and
rnnlab's fused engine (docs/performance.md, "A second host": the experiment behind the sentence on
the minimal-operation loop, tried and not adopted).

A standalone ``autograd.Function`` for the standard LSTM: the input projection of all steps in
one GEMM into a ``(T, B, 4H)`` buffer; per step one in-place ``addmm_`` and seven elementwise ops
written into preallocated rows; before the backward loop, the derivative coefficients of the
whole sequence at once, so that each backward step is one GEMM and four elementwise ops; the
weight gradients as single GEMMs after it. It first checks its gradients against torch.nn.LSTM in
float64, then times forward+backward of the three in alternating blocks.

    python benchmarks/minimal_lstm_loop.py [--size 35x20x200x200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnlab


class MinimalLSTM(torch.autograd.Function):
    """``MinimalLSTM.apply(X, h0, c0, W_ih, W_hh, b_ih, b_hh) -> (Y, h_T, c_T)``; X ``(T, B, D)``."""

    @staticmethod
    def forward(ctx, X, h0, c0, W_ih, W_hh, b_ih, b_hh):
        A, Hs, Cs, TC = project_inputs(X, h0, c0, W_ih, b_ih, b_hh)
        T, B, H = X.shape[0], X.shape[1], h0.shape[1]
        W = W_hh.t().contiguous()
        A4 = A.view(T, B, 4, H)
        a_r, if_r = A.unbind(0), A[:, :, : 2 * H].unbind(0)
        i_r, f_r, g_r, o_r = (A4[:, :, j].unbind(0) for j in range(4))
        h_r, c_r, tc_r = Hs.unbind(0), Cs.unbind(0), TC.unbind(0)
        for t in range(T):
            a_r[t].addmm_(h_r[t], W)
            if_r[t].sigmoid_()
            o_r[t].sigmoid_()
            g_r[t].tanh_()
            torch.mul(f_r[t], c_r[t], out=c_r[t + 1])
            c_r[t + 1].addcmul_(i_r[t], g_r[t])
            torch.tanh(c_r[t + 1], out=tc_r[t])
            torch.mul(o_r[t], tc_r[t], out=h_r[t + 1])
        return keep_for_backward(ctx, X, W_ih, W_hh, (A, Hs, Cs, TC))

    @staticmethod
    def backward(ctx, dY, dh_T, dc_T):
        X, W_ih, W_hh, (A, Hs, Cs, TC) = kept_for_backward(ctx)
        T, B, D = X.shape
        H = Hs.shape[2]
        A4 = A.view(T, B, 4, H)
        I, F, G, O = A4.unbind(2)
        # Derivative coefficients of the whole sequence: da_ifg = dc * K, da_o = dh * Ko,
        # dc_t = dc_{t+1} f_{t+1} + dh * Kc.
        K = X.new_empty(T, B, 3, H)
        s_if = A4[:, :, :2]
        d_if = s_if - s_if * s_if
        torch.mul(d_if[:, :, 0], G, out=K[:, :, 0])
        torch.mul(d_if[:, :, 1], Cs[:-1], out=K[:, :, 1])
        torch.mul(I, 1 - G * G, out=K[:, :, 2])
        Ko = (O - O * O) * TC
        Kc = O * (1 - TC * TC)
        dA = X.new_empty(T, B, 4, H)
        dA_ifg, dA_o = dA[:, :, :3].unbind(0), dA[:, :, 3].unbind(0)
        dA_rows = dA.view(T, B, 4 * H).unbind(0)
        K_r, Ko_r, Kc_r, F_r, dY_r = (
            K.unbind(0),
            Ko.unbind(0),
            Kc.unbind(0),
            F.unbind(0),
            dY.unbind(0),
        )
        dC = X.new_empty(T, B, H)
        dc_r, dcu_r = dC.unbind(0), dC.unsqueeze(2).unbind(0)
        dh, dcf = dY_r[T - 1] + dh_T, dc_T
        for t in range(T - 1, -1, -1):
            if t < T - 1:
                dh = torch.addmm(dY_r[t], dA_rows[t + 1], W_hh)
            torch.mul(dh, Ko_r[t], out=dA_o[t])
            torch.addcmul(dcf, dh, Kc_r[t], out=dc_r[t])
            torch.mul(dcu_r[t], K_r[t], out=dA_ifg[t])
            dcf = dc_r[t] * F_r[t]
        dX, dh0, dW_ih, dW_hh, db = gradients_after_the_loop(
            dA.view(T, B, 4 * H), X, Hs, W_ih, W_hh
        )
        return dX, dh0, dcf, dW_ih, dW_hh, db, db.clone()


def project_inputs(X, h0, c0, W_ih, b_ih, b_hh):
    """Before the loop: the input projection of every step plus both biases, ``A`` (T, B, 4H), in
    one GEMM; the buffers ``Hs``, ``Cs`` (T + 1, B, H), first rows h0, c0; ``TC`` (T, B, H)."""
    T, B, D = X.shape
    H = h0.shape[1]
    A = torch.addmm(b_ih + b_hh, X.reshape(T * B, D), W_ih.t()).view(T, B, 4 * H)
    Hs, Cs, TC = X.new_empty(T + 1, B, H), X.new_empty(T + 1, B, H), X.new_empty(T, B, H)
    Hs[0], Cs[0] = h0, c0
    return A, Hs, Cs, TC


def keep_for_backward(ctx, X, W_ih, W_hh, buffers):
    """Keep what the backward needs on ``ctx``; return the outputs ``(Y, h_T, c_T)`` from the
    buffers ``(A, Hs, Cs, TC)`` of :func:`project_inputs`."""
    ctx.save_for_backward(X, W_ih, W_hh)
    ctx.buffers = buffers
    Hs, Cs = buffers[1], buffers[2]
    return Hs[1:].clone(), Hs[-1].clone(), Cs[-1].clone()


def kept_for_backward(ctx):
    """``X, W_ih, W_hh, (A, Hs, Cs, TC)`` as :func:`keep_for_backward` kept them."""
    return (*ctx.saved_tensors, ctx.buffers)


def gradients_after_the_loop(dA, X, Hs, W_ih, W_hh):
    """From the pre-activations' gradient ``dA`` (T, B, 4H): dX, dh0, dW_ih, dW_hh and the bias
    gradient, each one GEMM (or sum) over the whole sequence."""
    T, B, D = X.shape
    H = Hs.shape[2]
    dA2 = dA.reshape(T * B, 4 * H)
    return (
        (dA2 @ W_ih).view(T, B, D),
        dA[0] @ W_hh,
        dA2.t() @ X.reshape(T * B, D),
        dA2.t() @ Hs[:-1].reshape(T * B, H),
        dA2.sum(0),
    )


def minimal(m: torch.nn.LSTM, X, h0, c0):
    return MinimalLSTM.apply(X, h0, c0, m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)


def check_gradients(T: int, B: int, D: int, H: int, run=None) -> float:
    """Largest difference from torch.nn.LSTM over outputs and all gradients, in float64, of
    ``run(module, X, h0, c0) -> (Y, h_T, c_T)`` (default: the minimal loop)."""
    run = run or minimal
    torch.manual_seed(0)
    m = torch.nn.LSTM(D, H).double()
    X = torch.randn(T, B, D, dtype=torch.double, requires_grad=True)
    h0, c0 = (torch.randn(B, H, dtype=torch.double, requires_grad=True) for _ in range(2))
    wanted = [X, h0, c0, *m.parameters()]
    Y, (hn, cn) = m(X, (h0[None], c0[None]))
    w = [torch.randn_like(Y), torch.randn_like(hn[0]), torch.randn_like(cn[0])]
    ref = torch.autograd.grad(
        (Y * w[0]).sum() + (hn[0] * w[1]).sum() + (cn[0] * w[2]).sum(), wanted
    )
    Y2, hn2, cn2 = run(m, X, h0, c0)
    got = torch.autograd.grad((Y2 * w[0]).sum() + (hn2 * w[1]).sum() + (cn2 * w[2]).sum(), wanted)
    return max((Y - Y2).abs().max().item(), *((a - b).abs().max().item() for a, b in zip(ref, got)))


def compare(size: str, rounds: int, contenders: dict) -> None:
    """Time forward+backward of torch.nn.LSTM, rnnlab's fused engine and ``contenders`` (name ->
    ``run(module, X, h0, c0)``) in alternating blocks; print medians and ratios to torch.nn.LSTM."""
    T, B, D, H = (int(v) for v in size.split("x"))
    torch.manual_seed(0)
    m = torch.nn.LSTM(D, H)
    fused = rnnlab.LSTM(D, H, engine="fused")
    fused.load_state_dict(m.state_dict())
    X = torch.randn(T, B, D, requires_grad=True)
    zero = X.new_zeros(B, H)

    def run_torch():
        m(X)[0].sum().backward()

    def run_fused():
        fused(X)[0].sum().backward()

    def runner(run):
        return lambda: run(m, X, zero, zero)[0].sum().backward()

    fns = {"torch.nn.LSTM": run_torch, **{k: runner(r) for k, r in contenders.items()}}
    fns["rnnlab fused"] = run_fused
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():
        for _ in range(5):
            fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            for _ in range(5):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["torch.nn.LSTM"])
    print(f"T x B x D x H = {size}, {torch.get_num_threads()} torch threads")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:16s} {med * 1e3:7.2f} ms   ratio {med / base:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="35x20x200x200", help="TxBxDxH")
    ap.add_argument("--rounds", type=int, default=10)
    args = ap.parse_args()
    print(f"float64 check against torch.nn.LSTM: max difference {check_gradients(5, 3, 4, 6):.1e}")
    compare(args.size, args.rounds, {"minimal loop": minimal})


if __name__ == "__main__":
    main()
