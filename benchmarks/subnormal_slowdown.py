"""How much subnormal floats slow a long-sequence backward pass (docs/guide.md, train.flush_denormal).

An LSTM at torch.nn's initialisation on a T = 400 sequence: the gradient that flows back through
400 steps vanishes into the subnormal range (below 1.2e-38 in float32), where x86 CPUs compute many
times slower. Times forward+backward with ``torch.set_flush_denormal`` off and on, alternating.

    python benchmarks/subnormal_slowdown.py [--length 400] [--reps 5]
"""

from __future__ import annotations

import argparse
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--length", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    lstm, head = torch.nn.LSTM(2, args.hidden), torch.nn.Linear(args.hidden, 1)
    x = torch.rand(args.length, args.batch, 2)  # the adding problem's input shape

    def step():
        y, _ = lstm(x)
        head(y[-1]).pow(2).mean().backward()

    for flush in (False, True, False, True):
        if not torch.set_flush_denormal(flush) and flush:
            print("this CPU cannot flush subnormals")
            return
        step()
        t0 = time.perf_counter()
        for _ in range(args.reps):
            step()
        ms = (time.perf_counter() - t0) / args.reps * 1e3
        print(f"flush_denormal={flush!s:5}  {ms:7.1f} ms per forward+backward")
    torch.set_flush_denormal(False)


if __name__ == "__main__":
    main()
