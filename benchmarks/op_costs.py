"""What one small operation costs on this machine (docs/performance.md, "A second host").

Means over many calls, after warm-up, of the operations an LSTM step is made of at the small
benchmark size (B = 20, H = 200): elementwise torch ops on ``(20, 200)`` tensors (and ``tanh`` of a
strided ``(20, 200)`` slice of a ``(20, 800)`` tensor, as the LSTM's ``g`` gate is), NumPy's ``tanh``
on the same array, the same ops on 140,000 elements (a whole ``(35, 20, 200)`` sequence), and the
per-step recurrent GEMMs ``(20, 200) x (200, 800)`` against a whole-sequence one.

    python benchmarks/op_costs.py [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def mean_us(fn, n: int) -> float:
    for _ in range(n // 10):
        fn()
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    B, H, T, D = 20, 200, 35, 200
    a, b, out = torch.randn(B, H), torch.randn(B, H), torch.empty(B, H)
    wide = torch.randn(B, 4 * H)
    g = wide[:, 2 * H : 3 * H]  # the LSTM's g block: a strided slice
    an, an_out = a.numpy().copy(), np.empty((B, H), np.float32)
    rows = [
        ("torch.mul (20, 200)", lambda: torch.mul(a, b, out=out), 2000),
        ("torch.sigmoid (20, 200)", lambda: torch.sigmoid(a, out=out), 2000),
        ("torch.tanh (20, 200)", lambda: torch.tanh(a, out=out), 2000),
        ("torch.tanh of a strided (20, 200) slice", lambda: torch.tanh(g), 2000),
        ("np.tanh (20, 200)", lambda: np.tanh(an, out=an_out), 2000),
    ]
    big, big_out = torch.randn(T * B * H), torch.empty(T * B * H)
    rows += [
        ("torch.sigmoid (140,000)", lambda: torch.sigmoid(big, out=big_out), 300),
        ("torch.tanh (140,000)", lambda: torch.tanh(big, out=big_out), 300),
    ]
    h, W = torch.randn(B, H), torch.randn(H, 4 * H)
    W_hh = W.t().contiguous()  # (4H, H), torch.nn's layout
    dA, gates, dh = torch.randn(B, 4 * H), torch.empty(B, 4 * H), torch.empty(B, H)
    X, dAll = torch.randn(T * B, D), torch.randn(T * B, 4 * H)
    rows += [
        ("step GEMM forward (20,200)x(200,800)", lambda: torch.mm(h, W, out=gates), 500),
        ("step GEMM backward (20,800)x(800,200)", lambda: torch.mm(dA, W_hh, out=dh), 500),
        ("sequence GEMM (800,700)x(700,200)", lambda: dAll.t() @ X, 50),
    ]
    print(f"{torch.get_num_threads()} torch threads, torch {torch.__version__}")
    for name, fn, n in rows:
        print(f"{name:42s} {mean_us(fn, n):9.1f} us")


if __name__ == "__main__":
    main()
