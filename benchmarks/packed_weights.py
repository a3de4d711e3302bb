"""The fused LSTM with its recurrent GEMMs on oneDNN's pre-packed weights, timed against the fused
engine as it is and torch.nn.LSTM (docs/performance.md, "Pre-packed recurrent weights": tried and
not adopted).

oneDNN's own LSTM packs ``W_hh`` once into its blocked layout and reuses it at every step, while
``torch.addmm`` packs its operand again on every call. This script gives the fused engine the same
advantage without changing a cell: for the duration of the run it wraps the LSTM's ``W_hh`` in a
``Packed`` operand that the torch namespace's ``addmm``, ``matmul`` and ``T`` hand to
``torch.ops.mkldnn._linear_pointwise`` (the private op Inductor uses for frozen linear layers;
the ``add`` of the input projection rides in the same call). The weights are packed once per
forward and once per backward call. It first checks that the packed run's outputs and gradients
equal the unpatched engine's (float32), then times forward+backward of the three in alternating
blocks and prints the medians and ratios to torch.nn.LSTM.

    python benchmarks/packed_weights.py [--sizes 35x20x200x200 100x64x256x256] [--rounds 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnlab
from rnnlab.bench.harness import fwd_bwd
from rnnlab.cells.lstm import LSTMCell
from rnnlab.ops import torch_ops

_LINEAR = torch.ops.mkldnn._linear_pointwise
_REORDER = torch.ops.mkldnn._reorder_linear_weight


class Packed:
    """A ``(H, G)`` right operand ``W`` packed for oneDNN: ``a @ W`` is ``linear(a, W^T)``."""

    def __init__(self, W, rows, transposed=None):
        self.W, self.rows = W, rows
        self.weight = _REORDER(W.t().contiguous(), rows)  # linear's (out, in) layout, packed
        self._t = transposed

    def T(self):
        if self._t is None:  # packed on first use: the forward pass never needs W^T
            self._t = Packed(self.W.t(), self.rows, transposed=self)
        return self._t


class PackedWeights:
    """Context manager: while active, LSTM cells run their recurrent GEMMs on packed weights."""

    def __init__(self, rows: int):
        self.rows = rows

    def __enter__(self):
        xp = torch_ops()
        self.saved = (xp.matmul, xp.addmm, xp.T, LSTMCell.loop_params)
        matmul, addmm, transpose, loop_params = self.saved
        rows = self.rows

        def packed_matmul(a, b, out=None):
            if isinstance(b, Packed):
                return _LINEAR(a, b.weight, None, "none", [], "")
            return matmul(a, b) if out is None else matmul(a, b, out=out)

        def packed_addmm(c, a, b, out=None):
            if not isinstance(b, Packed):
                return addmm(c, a, b, out=out)
            if c.dim() == 1:
                return _LINEAR(a, b.weight, c, "none", [], "")
            return _LINEAR.binary(a, c, b.weight, None, "add")

        def packed_loop_params(cell, xp_, P):
            P = loop_params(cell, xp_, P)
            return {**P, "W_hh": Packed(P["W_hh"], rows)}

        xp.matmul, xp.addmm = packed_matmul, packed_addmm
        xp.T = lambda x: x.T() if isinstance(x, Packed) else transpose(x)
        LSTMCell.loop_params = packed_loop_params
        return self

    def __exit__(self, *exc):
        xp = torch_ops()
        xp.matmul, xp.addmm, xp.T, LSTMCell.loop_params = self.saved


def check(module, T, B, D):
    """Largest difference of outputs and gradients, packed vs unpatched."""
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, D, generator=gen, requires_grad=True)

    def grads():
        out = module(x)[0]
        return (out, *torch.autograd.grad(out.square().sum(), [x, *module.parameters()]))

    plain = grads()
    with PackedWeights(B):
        packed = grads()
    return max((a - b).abs().max().item() for a, b in zip(plain, packed))


def timed(run, n):
    run()
    start = time.perf_counter()
    for _ in range(n):
        run()
    return (time.perf_counter() - start) / n * 1e3


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["35x20x200x200", "100x64x256x256"])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for size in args.sizes:
        T, B, D, H = (int(v) for v in size.split("x"))
        baseline = torch.nn.LSTM(D, H)
        fused = rnnlab.LSTM(D, H, engine="fused")
        fused.load_state_dict(baseline.state_dict())
        print(f"{size}: packed vs plain fused, largest difference {check(fused, T, B, D):.2e}")
        n = max(2, int(2000 / (T * B)))
        runs = {
            "torch.nn.LSTM": fwd_bwd(baseline, T, B, D, "cpu"),
            "fused": fwd_bwd(fused, T, B, D, "cpu"),
        }
        times = {name: [] for name in (*runs, "fused, packed W_hh")}
        for _ in range(args.rounds):  # alternating blocks: the three see the same load
            for name, run in runs.items():
                times[name].append(timed(run, n))
            with PackedWeights(B):
                times["fused, packed W_hh"].append(timed(runs["fused"], n))
        base = statistics.median(times["torch.nn.LSTM"])
        for name, values in times.items():
            med = statistics.median(values)
            print(f"  {name:20s} {med:8.2f} ms  ratio {med / base:.3f}")


if __name__ == "__main__":
    main()
