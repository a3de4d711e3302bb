"""Speed benchmark: every engine of every cell variant as a ratio to torch.nn.LSTM, same run.

The machines are shared and noisy, so absolute times are not comparable across runs. Each row is
therefore timed in alternating *blocks* with its baseline (torch.nn.LSTM of the same size):
baseline block, candidate block, baseline block, candidate block; every block starts with untimed
warm-up iterations, and the row reports ``median(candidate) / median(baseline)`` over all timed
iterations. Blocks rather than single iterations, because BLAS and OpenMP worker threads spin for a
while after each call: alternating NumPy and torch call by call would slow whichever runs next.

What is timed: one forward and one backward pass of a one-layer module over an input
``(T, B, D)`` that requires grad, with a fixed random output gradient (so every parameter, the input
and the initial state get gradients, as inside a model).
"""

from __future__ import annotations

import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch

from rnnlab.nn import Recurrent

#: (label, cell, variant) of every benchmarked cell
CELLS = [
    ("lstm", "lstm", {}),
    ("lstm-peephole", "lstm", {"peephole": True}),
    ("lstm-layernorm", "lstm", {"layer_norm": True}),
    ("gru", "gru", {"reset": "after"}),
    ("gru-reset-before", "gru", {"reset": "before"}),
    ("rnn-tanh", "rnn", {}),
]
SIZES = [(35, 20, 200, 200), (100, 64, 256, 256)]
ENGINES = ["builtin", "fused", "autograd", "reference"]


@dataclass
class Row:
    """One line of the benchmark table (the ``--json`` keys)."""

    cell: str
    variant: str
    engine: str
    T: int
    B: int
    D: int
    H: int
    device: str
    median_ms: float
    ratio_to_torch_lstm: float
    baseline_ms: float

    def as_dict(self) -> dict:
        return asdict(self)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def fwd_bwd(module: torch.nn.Module, T: int, B: int, D: int, device: str, dtype=torch.float32):
    """A closure running one forward+backward pass of ``module`` on fixed random data."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(T, B, D, generator=gen, dtype=dtype).to(device).requires_grad_()
    with torch.no_grad():
        out, _ = module(x)
    dout = torch.randn(out.shape, generator=gen, dtype=dtype).to(device)

    def run():
        module.zero_grad(set_to_none=True)
        x.grad = None
        out, _ = module(x)
        out.backward(dout)

    return run


def interleaved_medians(
    candidate: Callable,
    baseline: Callable,
    reps: int,
    warmup: int,
    device: str,
    rounds: int = 2,
    settle: float = 0.0,
) -> tuple[float, float]:
    """Median seconds of ``candidate`` and ``baseline``, timed in alternating blocks.

    Each of ``rounds`` rounds runs a baseline block then a candidate block; a block is ``warmup``
    untimed calls then ``reps`` timed calls (so each median is over ``rounds * reps`` calls).
    ``settle`` seconds of sleep before each block let another library's spinning worker threads
    (OpenBLAS after NumPy, OpenMP after torch) go idle first.
    """
    tc, tb = [], []
    for _ in range(rounds):
        for fn, times in ((baseline, tb), (candidate, tc)):
            time.sleep(settle)
            for _ in range(warmup):
                fn()
            for _ in range(reps):
                _sync(device)
                t0 = time.perf_counter()
                fn()
                _sync(device)
                times.append(time.perf_counter() - t0)
    return statistics.median(tc), statistics.median(tb)


def variant_label(variant: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in variant.items()) or "standard"


def run_benchmark(
    quick: bool = False,
    device: str = "cpu",
    sizes=None,
    cells=None,
    engines=None,
    on_row: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Time every (size, cell, engine) row against torch.nn.LSTM of the same size.

    Args:
        quick: fewer repetitions (the CI-sized run).
        device: ``"cpu"`` or ``"cuda"``.
        sizes: ``(T, B, D, H)`` tuples (default :data:`SIZES`).
        cells: labels from :data:`CELLS` to include (default all).
        engines: engines to include (default :data:`ENGINES`; ``reference`` runs on CPU only).
        on_row: called with each row as soon as it is measured (for live printing).
    """
    sizes = sizes or SIZES
    engines = engines or ENGINES
    chosen = [c for c in CELLS if cells is None or c[0] in cells]
    rows = []
    for T, B, D, H in sizes:
        torch.manual_seed(0)
        baseline_module = torch.nn.LSTM(D, H).to(device)
        baseline = fwd_bwd(baseline_module, T, B, D, device)
        big = T * B * H > 200_000
        for label, cell, variant in chosen:
            for engine in engines:
                module = Recurrent(cell, D, H, **variant).to(device)
                if engine == "builtin" and not module.has_builtin:
                    continue
                if engine == "reference" and device != "cpu":
                    continue
                module.engine = engine
                slow = engine in ("autograd", "reference")
                reps = (2 if big or slow else 4) if quick else (4 if big or slow else 10)
                warmup = 1 if (big or slow) else 2
                cand = fwd_bwd(module, T, B, D, device)
                # The NumPy engine's OpenBLAS threads spin after each call: let them settle.
                settle = 0.5 if engine == "reference" else 0.0
                tc, tb = interleaved_medians(cand, baseline, reps, warmup, device, settle=settle)
                row = Row(
                    label,
                    variant_label(variant),
                    engine,
                    T,
                    B,
                    D,
                    H,
                    device,
                    round(tc * 1e3, 3),
                    round(tc / tb, 3),
                    round(tb * 1e3, 3),
                )
                rows.append(row)
                if on_row is not None:
                    on_row(row)
    return rows


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name


def machine_description(device: str = "cpu") -> str:
    """One line naming the machine and the torch build, for the results table."""
    name = torch.cuda.get_device_name() if device.startswith("cuda") else cpu_name()
    return (
        f"{name}; {torch.get_num_threads()} torch threads; torch {torch.__version__}; "
        f"Python {platform.python_version()}"
    )
