"""Where the fused LSTM's time goes at the small benchmark size (docs/performance.md).

Times, in alternating blocks in one process: torch.nn.LSTM forward+backward, the fused engine's
forward+backward, and the matrix products the fused engine performs run alone back to back (the
input projection, T recurrent GEMMs forward, T backward, and the three weight/input-gradient GEMMs
after the loop). Prints the medians.

With ``--compile``, also the fused engine's two loops (the reference BPTT's ``layer_forward`` and
``layer_backward`` on torch, the same code the engine runs) each compiled whole by ``torch.compile``
(Inductor; T is unrolled, so one compilation per sequence length): the experiment behind the
sentence on ``torch.compile`` in docs/performance.md. Needs a C++ compiler; prints the compile time.

    python benchmarks/lstm_time_budget.py [--size 35x20x200x200] [--compile]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnlab
from rnnlab.bench.harness import fwd_bwd
from rnnlab.ops import torch_ops
from rnnlab.reference.bptt import layer_backward, layer_forward


def compiled_loops(module: rnnlab.LSTM, T: int, B: int, D: int):
    """Forward+backward of one LSTM layer through the fused engine's loops, each compiled whole."""
    cell, names = module._cells[0], module._names[0]
    params = [p.detach() for p in module.layer_params(0, 0)]
    xp = torch_ops()

    def forward(X, h0, c0, *params):
        P = cell.equation_params(dict(zip(names, params)))
        return layer_forward(xp, cell, P, X, (h0, c0))

    def backward(tape, dY, dh, dc, *params):
        P = cell.equation_params(dict(zip(names, params)))
        dP, dX, dstate = layer_backward(xp, cell, P, tape, dY, (dh, dc), True)
        return cell.stored_grads(dP), dX, dstate

    cforward = torch.compile(forward, dynamic=False, fullgraph=True)
    cbackward = torch.compile(backward, dynamic=False, fullgraph=True)
    gen = torch.Generator().manual_seed(0)
    X, dY = torch.randn(T, B, D, generator=gen), torch.randn(T, B, cell.hidden_size, generator=gen)
    zero = torch.zeros(B, cell.hidden_size)

    def run():
        _, _, tape = cforward(X, zero, zero, *params)
        return cbackward(tape, dY, zero, zero, *params)

    t0 = time.perf_counter()
    run()
    print(f"torch.compile of both loops took {time.perf_counter() - t0:.1f} s")
    return run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="35x20x200x200", help="TxBxDxH")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also time the loops torch.compile'd")
    args = ap.parse_args()
    T, B, D, H = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    ref = torch.nn.LSTM(D, H)
    fused = rnnlab.LSTM(D, H, engine="fused")
    fused.load_state_dict(ref.state_dict())

    # Operands of the fused engine's GEMMs, in the layouts it uses.
    X2 = torch.randn(T * B, D)
    W_ih = ref.weight_ih_l0.detach()
    W_hh = ref.weight_hh_l0.detach()  # (4H, H): the backward multiplies by it
    W_hh_rows = W_hh.t().contiguous()  # (H, 4H): the forward's row-major copy
    bias = torch.randn(4 * H)
    h, xg, da = torch.randn(B, H), torch.randn(B, 4 * H), torch.randn(B, 4 * H)
    dA, Hs = torch.randn(T * B, 4 * H), torch.randn(T * B, H)

    def gemms():
        torch.addmm(bias, X2, W_ih.t())
        for _ in range(T):
            torch.addmm(xg, h, W_hh_rows)
        for _ in range(T):
            torch.mm(da, W_hh)
        torch.mm(dA.t(), X2)
        torch.mm(dA.t(), Hs)
        torch.mm(dA, W_ih)

    fns = {
        "torch.nn.LSTM": fwd_bwd(ref, T, B, D, "cpu"),  # what `rnnlab bench` times
        "rnnlab fused": fwd_bwd(fused, T, B, D, "cpu"),
        "fused engine's GEMMs alone": gemms,
    }
    if args.compile:
        fns["fused loops, torch.compile"] = compiled_loops(fused, T, B, D)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(args.rounds):
        for name, fn in fns.items():
            for _ in range(3):
                fn()
            for _ in range(10):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    print(f"T x B x D x H = {args.size}, {torch.get_num_threads()} torch threads")
    for name, ts in times.items():
        print(f"{name:28s} {statistics.median(ts) * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
