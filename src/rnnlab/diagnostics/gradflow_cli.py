"""``rnnlab gradflow``: measure and plot the norm of dL/dh_t for every step t (see
:mod:`rnnlab.diagnostics.gradflow`)."""

from __future__ import annotations

import json
import math
import shlex
import sys
import time
from pathlib import Path

from rnnlab.cli import HelpFormatter
from rnnlab.errors import UserError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "gradflow",
        help="measure the vanishing / exploding gradient: ||dL/dh_t|| for every step t",
        description=(
            "For each cell, the norm of dL/dh_t at every step t of the last-step loss of a "
            "long-term task (adding problem or copy memory), at initialisation and after training "
            "(by default 10,000 Adam steps, which the LSTM and GRU need to learn the adding "
            "problem at T = 200: about 12 minutes for the three default cells on one thread); "
            "plus a tanh RNN with large recurrent weights (spectral radius > 1) trained "
            "by SGD with and without gradient clipping. Writes gradflow.json (every number), "
            "gradflow.png and exploding.png to --out. Rerun with the same --out, an interrupted "
            "run keeps the cells it finished (gradflow.partial.json)."
        ),
        formatter_class=HelpFormatter,
        epilog="example:\n  rnnlab gradflow --cells rnn,lstm,gru --task adding --length 200",
    )
    p.add_argument(
        "--cells",
        default="rnn,lstm,gru",
        help="comma-separated: rnn, rnn-orth (orthogonal recurrent weights), lstm, lstm-fb1 "
        "(forget bias 1), lstm-chrono and gru-chrono (chrono initialisation for 2 x --length "
        "steps), gru, mut1, mut2, mut3",
    )
    p.add_argument("--task", default="adding", help="adding or copy (default adding)")
    p.add_argument("--length", type=int, default=200, help="sequence length T / delay (200)")
    p.add_argument("--hidden", type=int, default=64, help="hidden size H (64)")
    p.add_argument("--batch", type=int, default=32, help="training batch size (32)")
    p.add_argument("--probe", type=int, default=100, help="examples the norms average over (100)")
    p.add_argument(
        "--steps",
        type=int,
        default=10000,
        help="training steps per cell (10000; 0: init only). At T = 200 the LSTM and GRU have "
        "not learned the adding problem after 1,000",
    )
    p.add_argument("--lr", type=float, default=2e-3, help="Adam learning rate (2e-3)")
    p.add_argument("--clip", type=float, default=1.0, help="global gradient-norm clip (1.0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--explode-radius",
        type=float,
        default=2.0,
        help="spectral radius of the exploding tanh RNN's recurrent matrix (2.0)",
    )
    p.add_argument(
        "--explode-steps", type=int, default=30, help="SGD steps of the exploding case (30)"
    )
    p.add_argument("--explode-lr", type=float, default=0.1, help="SGD learning rate there (0.1)")
    p.add_argument("--no-explode", action="store_true", help="skip the exploding case")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")
    p.add_argument(
        "--out",
        help="output folder (default $RNNLAB_RUNS/gradflow/<timestamp>/, $RNNLAB_RUNS defaulting "
        "to ./runs); rerun with the same --out to resume an interrupted run",
    )
    p.set_defaults(func=cmd_gradflow)


def cmd_gradflow(args) -> int:
    import torch

    from rnnlab.diagnostics.gradflow import GradflowSettings, parse_cells, run_gradflow
    from rnnlab.train.checkpoint import atomic_write_text

    if args.threads < 1:
        raise UserError("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    settings = GradflowSettings(
        cells=parse_cells(args.cells),
        task=args.task,
        length=args.length,
        hidden=args.hidden,
        batch=args.batch,
        probe=args.probe,
        steps=args.steps,
        lr=args.lr,
        clip=args.clip,
        seed=args.seed,
        explode=not args.no_explode,
        explode_radius=args.explode_radius,
        explode_steps=args.explode_steps,
        explode_lr=args.explode_lr,
    )
    settings.validate()
    if args.out:
        out = Path(args.out)
    else:
        from rnnlab.train.run_dir import runs_root

        out = runs_root() / "gradflow" / time.strftime("%Y%m%d-%H%M%S")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    partial = out / PARTIAL
    done = _finished_cells(partial, settings)
    # Finished cells this run does not ask for stay in the partial file for a later run.
    kept = {c: e for c, e in done.items() if c not in settings.cells}

    def save_partial(result: dict) -> None:
        # Read back only by this command, so inf and nan are kept as they are (not JSON's null).
        saved = {**result, "cells": {**kept, **result["cells"]}}
        atomic_write_text(partial, json.dumps(saved) + "\n")

    try:
        result = run_gradflow(settings, done=done, on_cell=save_partial)
    except KeyboardInterrupt:
        if partial.is_file():
            print(
                f"gradflow: the finished cells are saved in {partial}; rerun with "
                f"--out {shlex.quote(str(out))} to measure only the others",
                file=sys.stderr,
            )
        raise
    result["command"] = "rnnlab " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    atomic_write_text(out / "gradflow.json", json.dumps(_finite(result), indent=1) + "\n")
    if kept:
        atomic_write_text(partial, json.dumps({**result, "cells": kept}) + "\n")
    else:
        partial.unlink(missing_ok=True)
    paths = write_figures(result, out)
    _print_summary(result)
    for path in [out / "gradflow.json", *paths]:
        print(path)
    return 0


# The cells an unfinished run has measured, saved after each one: rerunning with the same --out
# measures only the cells that are left.
PARTIAL = "gradflow.partial.json"


def _finished_cells(partial: Path, settings) -> dict:
    """The entries of ``partial`` when it holds cells measured with the same settings, else
    nothing (a file that is torn, of another shape or of other settings is measured again)."""
    from dataclasses import asdict

    if not partial.is_file():
        return {}
    try:
        saved = json.loads(partial.read_text())
    except (OSError, ValueError):
        saved = None
    cells = saved.get("cells") if isinstance(saved, dict) else None
    if not isinstance(cells, dict) or not all(_is_entry(e) for e in cells.values()):
        print(f"gradflow: {partial} is unreadable: measuring every cell", file=sys.stderr)
        return {}

    # A cell's numbers depend on every setting but the cell list and the exploding case's.
    def what_matters(d) -> dict:
        d = d if isinstance(d, dict) else {}
        return {k: v for k, v in d.items() if k != "cells" and not k.startswith("explode")}

    now = json.loads(json.dumps(asdict(settings)))
    if what_matters(saved.get("settings")) != what_matters(now):
        print(
            f"gradflow: {partial} is from other settings: not reused (this run replaces it)",
            file=sys.stderr,
        )
        return {}
    reused = [c for c in cells if c in settings.cells]
    if reused:
        print(
            f"gradflow: reusing {', '.join(reused)} from an unfinished run ({partial})",
            file=sys.stderr,
        )
    return cells


def _is_entry(entry) -> bool:
    """Whether ``entry`` has the shape :func:`run_gradflow` gives a cell."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("label"), str)
        and all(isinstance(entry.get(p), dict) for p in ("init", "trained"))
        and isinstance(entry["init"].get("norms"), list)
        and isinstance(entry["init"].get("summary"), dict)
    )


def _finite(obj):
    """JSON has no inf or nan: write them as null."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _print_summary(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    s = result["settings"]
    table = Table(title=f"||dL/dh_t|| on {s['task']}, T = {s['length']}, H = {s['hidden']}")
    for col in ("cell", "phase", "valid loss", "log10 per step", "h_0 / h_T-1", "steps to 1e-3"):
        table.add_column(col)
    for cell, entry in result["cells"].items():
        for phase in ("init", "trained"):
            if not entry.get(phase):
                continue
            e, m = entry[phase], entry[phase]["summary"]
            table.add_row(
                cell,
                phase,
                f"{e['valid_loss']:.4g}",
                f"{m['log10_per_step']:+.4f}",
                f"{m['first_over_last']:.3g}",
                str(m["steps_to_1e-3"] if m["steps_to_1e-3"] is not None else "never"),
            )
    Console().print(table)
    ex = result.get("exploding")
    if ex:
        lines = [
            f"exploding tanh RNN (spectral radius {ex['spectral_radius']:g}): "
            f"||dL/dh_0|| / ||dL/dh_T-1|| = {ex['summary']['first_over_last']:.3g}"
        ]
        for name, recs in ex["runs"].items():
            last = recs[-1]
            lines.append(
                f"  SGD {name}: {len(recs)} steps, max pre-clip grad norm "
                f"{max(r['grad_norm_pre_clip'] for r in recs):.3g}, max update norm "
                f"{max(r['update_norm'] for r in recs):.3g}, last loss {last['loss']:.4g}"
            )
        Console().print("\n".join(lines), highlight=False)


def write_figures(result: dict, out: Path) -> list[Path]:
    """``gradflow.png`` (norms against t, at init and after training, log scale) and, with the
    exploding case, ``exploding.png``. Returns the paths written."""
    from rnnlab.report.plots import plt, save

    s = result["settings"]
    phases = [p for p in ("init", "trained") if any(e.get(p) for e in result["cells"].values())]
    fig, axes = plt.subplots(1, len(phases), figsize=(5.2 * len(phases), 3.8), sharey=True)
    axes = [axes] if len(phases) == 1 else list(axes)
    for ax, phase in zip(axes, phases):
        for entry in result["cells"].values():
            e = entry.get(phase)
            if e:
                ax.semilogy(e["norms"], label=f"{entry['label']} (valid {e['valid_loss']:.3g})")
        title = "at initialisation" if phase == "init" else f"after {s['steps']:,} training steps"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step t")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7)
    axes[0].set_ylabel("mean ||dL/dh_t||")
    fig.suptitle(f"gradient of the last-step loss, {s['task']} T = {s['length']}", fontsize=10)
    fig.tight_layout()
    paths = [save(fig, out / "gradflow.png")]
    ex = result.get("exploding")
    if ex:
        fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(14, 3.8))
        a0.semilogy(ex["norms"], color="C3")
        a0.set_title(
            f"tanh RNN, spectral radius {ex['spectral_radius']:g}: ||dL/dh_t||", fontsize=10
        )
        a0.set_xlabel("step t")
        for name, style in (("no_clip", "-"), ("clip", "--")):
            recs = ex["runs"][name]
            steps = [r["step"] for r in recs]
            label = "no clipping" if name == "no_clip" else f"clipped at {ex['clip']:g}"
            a1.semilogy(
                steps, [r["grad_norm_pre_clip"] for r in recs], style, label=f"{label}: before clip"
            )
            a1.semilogy(steps, [r["update_norm"] for r in recs], style, label=f"{label}: update")
            a2.semilogy(steps, [r["loss"] for r in recs], style, label=label)
        a1.set_title(f"SGD (lr {ex['sgd_lr']:g}): gradient and update norms", fontsize=10)
        a2.set_title("training loss", fontsize=10)
        for ax in (a0, a1, a2):
            ax.grid(alpha=0.3, which="both")
        for ax in (a1, a2):
            ax.set_xlabel("SGD step")
            ax.legend(fontsize=7)
        fig.tight_layout()
        paths.append(save(fig, out / "exploding.png"))
    return paths
