"""Where the fused LSTM's time goes at the small benchmark size (docs/performance.md).

Times, in alternating blocks in one process: torch.nn.LSTM forward+backward, the fused engine's
forward+backward, and the matrix products the fused engine performs run alone back to back (the
input projection, T recurrent GEMMs forward, T backward, and the three weight/input-gradient GEMMs
after the loop). Prints the medians.

    python benchmarks/lstm_time_budget.py [--size 35x20x200x200]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnlab
from rnnlab.bench.harness import fwd_bwd


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="35x20x200x200", help="TxBxDxH")
    ap.add_argument("--rounds", type=int, default=5)
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
