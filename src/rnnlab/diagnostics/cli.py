"""``rnnlab check initial-loss | overfit``, ``rnnlab lr-find``, ``rnnlab curves``: the lecture's
training recipe as commands. Each prints a verdict a person can act on; checks exit with 0 when
they pass and 1 when they do not (2 for a mistake in the command)."""

from __future__ import annotations

import json
from pathlib import Path

from rnnlab.cli import HelpFormatter
from rnnlab.errors import UserError


def _config_args(p) -> None:
    p.add_argument("--config", "-c", required=True, help="TOML config of the run to check")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set model.hidden_size=64 (repeatable)",
    )


def _out_args(p) -> None:
    p.add_argument(
        "--runs-dir", help="where the output folder goes (default $RNNLAB_RUNS or ./runs)"
    )


def add_parser(subparsers) -> None:
    check = subparsers.add_parser(
        "check",
        help="sanity checks before training: initial loss, overfit a tiny subset",
        description="The first two steps of the training recipe. Both turn regularisation off "
        "(dropout, weight decay, weight noise) and say so.",
    )
    sub = check.add_subparsers(dest="check", metavar="CHECK")
    p = sub.add_parser(
        "initial-loss",
        help="is the loss at initialisation what an uninformed model scores?",
        description="Build the model, measure the loss at initialisation on the first training "
        "batches with regularisation off, and compare it with the task's expected value (ln C "
        "for C-way cross-entropy, the matching value for Bernoulli outputs).",
        formatter_class=HelpFormatter,
        epilog="example:\n  rnnlab check initial-loss --config configs/lm/demo.toml",
    )
    _config_args(p)
    p.add_argument("--batches", type=int, default=10, help="training batches to average (10)")
    p.add_argument(
        "--tolerance", type=float, default=0.1, help="accepted relative distance (0.1 = 10%%)"
    )
    p.set_defaults(func=cmd_initial_loss)

    p = sub.add_parser(
        "overfit",
        help="can the model memorise a few minibatches?",
        description="Train on the first --batches minibatches, over and over, with "
        "regularisation off, and report whether the loss on them reaches ~0 (or the accuracy "
        "~100%). Writes the curve to runs/diagnostics/.",
        formatter_class=HelpFormatter,
        epilog="example:\n  rnnlab check overfit --config configs/lm/demo.toml --batches 5",
    )
    _config_args(p)
    p.add_argument("--batches", type=int, default=5, help="minibatches in the subset (5)")
    p.add_argument("--steps", type=int, default=300, help="most optimizer steps (300)")
    p.add_argument("--lr", type=float, help="learning rate (default: the config's)")
    _out_args(p)
    p.set_defaults(func=cmd_overfit)
    check.set_defaults(func=lambda args: check.print_help() or 2)

    p = subparsers.add_parser(
        "lr-find",
        help="learning-rate range test: loss against a growing rate, and a suggestion",
        description="Train a fresh model for --iters steps while the learning rate grows "
        "geometrically from --min-lr to --max-lr; plot the loss against the rate and suggest "
        "one (a tenth of the rate at the minimum of the smoothed loss).",
        formatter_class=HelpFormatter,
        epilog="example:\n  rnnlab lr-find --config configs/lm/demo.toml --iters 150",
    )
    _config_args(p)
    p.add_argument("--min-lr", type=float, help="start of the range (1e-5; 1e-4 for SGD)")
    p.add_argument("--max-lr", type=float, help="end of the range (1; 10 for SGD)")
    p.add_argument("--iters", type=int, default=100, help="steps over the range (100)")
    _out_args(p)
    p.set_defaults(func=cmd_lr_find)

    p = subparsers.add_parser(
        "curves",
        help="plot and read learning curves of one or more runs",
        description="Plot training/validation loss and a metric against step and wall-clock "
        "(runs overlaid), and name the shapes seen with their evidence: flat start, plateau, "
        "decay too early, overfitting (gap growing), underfitting (no gap), still improving, "
        "diverging, no progress.",
        formatter_class=HelpFormatter,
        epilog="example:\n  rnnlab curves runs/lm/20260101-120000-demo",
    )
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories (or unique suffixes)")
    p.add_argument("--metric", help="the metric to plot beside the loss (default: picked)")
    p.add_argument(
        "--target",
        type=float,
        help="the validation loss a good model reaches (makes 'underfitting' require worse)",
    )
    p.add_argument("--out", help="PNG to write (default: RUN/plots/curves.png for one run)")
    p.add_argument("--json", action="store_true", help="print the findings as JSON")
    p.set_defaults(func=cmd_curves)


# ---------------------------------------------------------------------- helpers
def _console():
    from rich.console import Console

    return Console(soft_wrap=True, highlight=False)


def _print_lines(lines: list[str], ok: bool) -> None:
    from rich.markup import escape

    console = _console()
    for line in lines:
        if line.startswith("verdict:"):
            colour = "green" if ok else "red"
            console.print(f"[bold {colour}]{escape(line)}[/bold {colour}]")
        else:
            console.print(escape(line))


def _load(args):
    from rnnlab.tasks.base import load_run_config

    return load_run_config(args.config, args.overrides)


def _out_dir(cfg, what: str, runs_dir):
    from rnnlab.train.run_dir import RunDir

    run = RunDir.create("diagnostics", f"{cfg.name}-{what}", Path(runs_dir) if runs_dir else None)
    run.write_text("config.toml", cfg.to_toml())
    return run


# ---------------------------------------------------------------------- commands
def cmd_initial_loss(args) -> int:
    from rnnlab.diagnostics.checks import check_initial_loss

    cfg = _load(args)
    result = check_initial_loss(cfg, batches=args.batches, tolerance=args.tolerance)
    _console().print(f"initial-loss check: task {cfg.task}, config {args.config}")
    _print_lines(result.lines(), result.passed)
    return 0 if result.passed else 1


def cmd_overfit(args) -> int:
    from rnnlab.diagnostics.checks import check_overfit, regularisation_off
    from rnnlab.report.plots import curves_figure, save
    from rnnlab.train.progress import progress_bar

    cfg = _load(args)
    with progress_bar("overfit", args.steps) as bar:
        result = check_overfit(
            cfg,
            batches=args.batches,
            steps=args.steps,
            lr=args.lr,
            progress=lambda step, loss: bar.update(completed=step, info=f"loss {loss:.4f}"),
        )
    run_cfg = regularisation_off(cfg)[0]
    if args.lr is not None:
        run_cfg = run_cfg.replace_train(lr=args.lr)
    run = _out_dir(run_cfg, "overfit", args.runs_dir)
    for record in result.records:
        run.log(record)
    label = f"{cfg.name}: {result.batches} batches"
    fig = curves_figure({label: result.records}, "loss", "step", splits=("train",), log_y=True)
    fig.axes[0].axhline(result.initial, color="0.5", ls=":", lw=1)
    fig.axes[0].set_title(f"overfit {result.batches} minibatches: {result.verdict}")
    png = save(fig, run.plots / "overfit.png")
    run.write_json(
        "overfit.json",
        {
            "verdict": result.verdict,
            "initial": result.initial,
            "final": result.final,
            "accuracy": result.accuracy,
            "steps": result.steps,
            "batches": result.batches,
            "lr": result.lr,
            "regularisation_off": [list(c) for c in result.changes],
        },
    )
    _console().print(f"overfit check: task {cfg.task}, config {args.config}")
    _print_lines(result.lines(), result.passed)
    _console().print(f"curve: {png}")
    return 0 if result.passed else 1


def cmd_lr_find(args) -> int:
    from rnnlab.diagnostics.lr_find import lr_range_test, range_figure
    from rnnlab.report.plots import save
    from rnnlab.train.progress import progress_bar

    cfg = _load(args)
    with progress_bar("lr-find", args.iters) as bar:
        result = lr_range_test(
            cfg,
            min_lr=args.min_lr,
            max_lr=args.max_lr,
            iters=args.iters,
            progress=lambda step, lr, loss: bar.update(
                completed=step, info=f"lr {lr:.2e} loss {loss:.4f}"
            ),
        )
    run = _out_dir(cfg, "lr-find", args.runs_dir)
    for record in result.records:
        run.log(record)
    png = save(
        range_figure(result, f"learning-rate range test: {cfg.name}"), run.plots / "lr_find.png"
    )
    s = result.suggestion
    run.write_json(
        "lr_find.json",
        {
            "suggested": s.lr,
            "rule": "a tenth of the learning rate at the minimum of the smoothed loss",
            "min_loss_lr": s.min_lr,
            "steepest_lr": s.steepest_lr,
            "verdict": s.verdict,
            "stopped": result.stopped,
        },
    )
    _console().print(f"lr-find: task {cfg.task}, config {args.config}")
    _print_lines(result.lines(), s.lr is not None)
    _console().print(f"plot: {png}")
    return 0 if s.lr is not None else 1


def cmd_curves(args) -> int:
    import time

    from rich.markup import escape

    from rnnlab.diagnostics.curves import curves_panel, diagnose, pick_metric
    from rnnlab.report.plots import save
    from rnnlab.train.run_dir import RunDir, runs_root

    runs, labels = {}, {}
    for ref in args.runs:
        run = RunDir.find(ref)
        records = run.metrics()
        if not records:
            raise UserError(f"{run} has no metrics.jsonl records yet")
        label = run.path.name
        if label in runs:
            label = str(run.path)
        runs[label], labels[label] = records, run
    findings = {label: diagnose(records, args.target) for label, records in runs.items()}
    metric = args.metric or pick_metric(next(iter(runs.values())))
    if args.metric and not any(args.metric in r for recs in runs.values() for r in recs):
        raise UserError(f"no run logs a metric named {args.metric!r}")
    if args.out:
        out = Path(args.out)
    elif len(runs) == 1:
        out = next(iter(labels.values())).plots / "curves.png"
    else:
        out = runs_root() / "curves" / f"{time.strftime('%Y%m%d-%H%M%S')}.png"
    png = save(curves_panel(runs, metric, findings), out)
    if args.json:
        print(
            json.dumps(
                {
                    "plot": str(png),
                    "runs": {
                        str(labels[k].path): [vars(f) for f in fs] for k, fs in findings.items()
                    },
                },
                indent=1,
            )
        )
        return 0
    console = _console()
    for label, fs in findings.items():
        console.print(f"[bold]{escape(str(labels[label].path))}[/bold]")
        if not fs:
            console.print(
                "  nothing to flag: the loss fell without a flat start, did not plateau at a "
                "constant rate, and the train/validation gap is stable"
            )
        for f in fs:
            console.print(f"  [bold yellow]{escape(f.title)}[/bold yellow]")
            console.print(f"    evidence: {escape(f.evidence)}")
            console.print(f"    advice: {escape(f.advice)}")
    console.print(f"plot: {png}")
    return 0
