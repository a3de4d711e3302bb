"""``rnnlab bench``: the speed table (ratios to torch baselines measured in the same run)."""

from __future__ import annotations

import json
import sys

from rnnlab.errors import UserError, output_file


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "bench",
        help="time every engine of every cell as a ratio to torch.nn.LSTM",
        description=(
            "Time forward+backward of LSTM, peephole LSTM, LayerNorm LSTM, GRU (both resets) and "
            "tanh RNN with every engine, each as a ratio to torch.nn.LSTM of the same size "
            "measured in the same run (median of several runs after warm-up)."
        ),
    )
    p.add_argument("--quick", action="store_true", help="fewer repetitions (a few minutes)")
    p.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda")
    p.add_argument("--cells", help="comma-separated subset, e.g. lstm,gru")
    p.add_argument("--engines", help="comma-separated subset of builtin,fused,autograd,reference")
    p.add_argument(
        "--sizes", help="comma-separated TxBxDxH sizes (default 35x20x200x200,100x64x256x256)"
    )
    p.add_argument(
        "--train-step",
        action="store_true",
        help="also time one training step of the PTB 2x200 LM: rnnlab's trainer vs a plain torch loop",
    )
    p.add_argument("--markdown", metavar="FILE", help="also write the table as Markdown to FILE")
    p.set_defaults(func=run)


def _parse_sizes(text):
    sizes = []
    for item in text.split(","):
        try:
            T, B, D, H = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise UserError(
                f"--sizes: {item!r} is not of the form TxBxDxH, e.g. 35x20x200x200"
            ) from None
        if min(T, B, D, H) < 1:
            raise UserError(f"--sizes: {item!r}: T, B, D and H must all be >= 1")
        sizes.append((T, B, D, H))
    return sizes


def _names(text, option: str):
    """A comma-separated list option: None when not given; an empty list is a mistake."""
    if text is None:
        return None
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise UserError(f"{option} is empty: leave it out for the default, or name some")
    return names


def run(args) -> int:
    from rnnlab.bench.harness import CELLS, ENGINES, machine_description, run_benchmark
    from rnnlab.bench.table import markdown_table, print_table

    cells = _names(args.cells, "--cells")
    if cells:
        unknown = sorted(set(cells) - {c[0] for c in CELLS})
        if unknown:
            raise UserError(f"unknown cells {unknown}; valid: {', '.join(c[0] for c in CELLS)}")
    engines = _names(args.engines, "--engines")
    if engines:
        unknown = sorted(set(engines) - set(ENGINES))
        if unknown:
            raise UserError(f"unknown engines {unknown}; valid: {', '.join(ENGINES)}")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        raise UserError(f"--device must be cpu or cuda (cuda:N), got {args.device!r}")
    if args.markdown:
        output_file(args.markdown, "--markdown")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError("--device cuda: no CUDA device is available here")
    sizes = (
        _parse_sizes(",".join(_names(args.sizes, "--sizes"))) if args.sizes is not None else None
    )
    live = None if args.json else _live_printer()
    rows = run_benchmark(args.quick, args.device, sizes, cells, engines, on_row=live)
    if not rows:
        raise UserError(
            "nothing to time: no engine chosen runs these cells (`builtin` exists only for the "
            "standard LSTM, GRU with reset='after' and tanh RNN)"
        )
    extra = []
    if args.train_step:
        from rnnlab.bench.train_step import bench_train_step

        extra = [bench_train_step(quick=args.quick, device=args.device)]
    machine = machine_description(args.device)
    if args.json:
        json.dump([r.as_dict() for r in rows] + extra, sys.stdout, indent=1)
        print()
    else:
        print_table(rows, extra, machine)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(markdown_table(rows, extra, machine, " ".join(sys.argv[1:])))
    return 0


def _live_printer():
    from rich.console import Console

    console = Console(stderr=True)

    def show(row):
        console.print(
            f"[dim]{row.cell:17s} {row.engine:9s} T={row.T:<4d} {row.median_ms:9.2f} ms  "
            f"x{row.ratio_to_torch_lstm:.2f}[/dim]"
        )

    return show
