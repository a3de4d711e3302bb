"""``rnnlab train | eval | sample | report | demo``: the run lifecycle from the command line."""

from __future__ import annotations

import sys
from pathlib import Path

from rnnlab.cli import HelpFormatter
from rnnlab.errors import UserError


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train a model (a new run, or --resume one)",
        description=(
            "Train TASK with a TOML config. Every run gets a directory runs/TASK/TIMESTAMP-NAME/ "
            "holding config.toml, metrics.jsonl, checkpoints/ and (after `rnnlab report`) "
            "report.html. --resume RUN continues a run exactly where its last checkpoint left it; "
            "with --set train.max_steps=N (or train.epochs, train.max_minutes) it also raises "
            "the budget of a run, finished or not, and trains on."
        ),
        formatter_class=HelpFormatter,
        epilog="example:\n  rnnlab train lm --config configs/lm/hello.toml --set train.lr=0.01",
    )
    p.add_argument(
        "task", nargs="?", help="the task (lm, music, classify, ...); omit with --resume"
    )
    p.add_argument("--config", "-c", help="TOML config file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set train.lr=0.5 (repeatable)",
    )
    p.add_argument(
        "--resume",
        metavar="RUN",
        help="continue this run from its last checkpoint (--set may then only raise its budget)",
    )
    p.add_argument(
        "--continue",
        dest="cont",
        action="store_true",
        help="resume the latest unfinished run of this config's name (start one if "
        "there is none; do nothing if the latest one finished)",
    )
    p.add_argument("--runs-dir", help="where new runs go (default $RNNLAB_RUNS or ./runs)")
    p.add_argument("--no-report", action="store_true", help="do not write report.html at the end")
    p.add_argument("--quiet", "-q", action="store_true", help="print only the final metrics")
    p.set_defaults(func=cmd_train)

    p = subparsers.add_parser(
        "eval",
        help="evaluate a run's best checkpoint on a split",
        description="Evaluate the best (or last) checkpoint of RUN. Given several runs of a "
        "classification task, also evaluate their ensemble (the mean of the members' class "
        "probabilities).",
    )
    p.add_argument(
        "run",
        nargs="+",
        help="run directory (or a unique suffix of its name); several: an ensemble",
    )
    p.add_argument(
        "--split",
        help="valid or test (default: test, or valid for a task without a labelled test split, "
        "such as classify on SST-2)",
    )
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_eval)

    p = subparsers.add_parser(
        "sample",
        help="generate text from a trained language model",
        description="Prime the model of RUN with TEXT and sample from it.",
    )
    p.add_argument("run", help="run directory (or a unique suffix of its name)")
    p.add_argument(
        "--prime", default="", help="text to start from (characters or words in the vocabulary)"
    )
    p.add_argument("--length", type=int, default=200, help="tokens to generate")
    p.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        help="softmax temperature (0: always the most likely token)",
    )
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely (0: all)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_sample)

    p = subparsers.add_parser(
        "report",
        help="write a run's report.html (curves, config, samples)",
        description="Write RUN/report.html: config, learning curves against "
        "step and wall-clock, final metrics, task sections.",
    )
    p.add_argument("run", help="run directory (or a unique suffix of its name)")
    p.set_defaults(func=cmd_report)

    p = subparsers.add_parser(
        "demo",
        help="the main demo: train a character-level LSTM in minutes",
        description="Train a character-level LSTM with the torch engine on a "
        "corpus every Python install carries (no download), "
        "then print samples and the path of its report.",
    )
    p.add_argument(
        "--engine",
        choices=["torch", "reference"],
        default="torch",
        help="torch (default) or the NumPy reference engine with hand-written BPTT",
    )
    p.add_argument(
        "--minutes",
        type=float,
        help="training budget (default 1.75: with start-up and sampling, `make demo` ends within 2 minutes)",
    )
    p.add_argument("--runs-dir", help="where the run goes (default $RNNLAB_RUNS or ./runs)")
    p.set_defaults(func=cmd_demo)


def cmd_train(args) -> int:
    from rnnlab.tasks.base import load_run_config
    from rnnlab.train.trainer import Trainer

    if args.resume:
        from rnnlab.train.run_dir import RunDir

        if args.config:
            raise UserError("--resume continues a run with its own config: drop --config")
        run = RunDir.find(args.resume)
        if args.task:
            run_task = load_run_config(run.config_path).task
            if run_task != args.task:
                raise UserError(
                    f"{run} is a {run_task!r} run, not {args.task!r}: drop the task name "
                    "(--resume reads it from the run)"
                )
        if args.overrides:
            from rnnlab.train.budget import extend_budget

            for line in extend_budget(run.path, args.overrides):
                print(line)
        final = run.read_json("final.json")
        if final is not None:  # a raised budget would have set final.json aside
            print(
                f"{run} already finished ({final.get('stopped')}, step {final.get('steps')}); "
                "nothing to do. To train on, raise its budget: --set train.max_steps=N "
                "(or train.epochs, train.max_minutes)"
            )
            return 0
        trainer = Trainer.resume(run.path, quiet=args.quiet)
        trainer.say(f"resuming {trainer.run} at step {trainer.step} (epoch {trainer.epoch + 1})")
    else:
        if not args.task:
            raise UserError(
                "name a task (e.g. `rnnlab train lm --config configs/lm/demo.toml`) or use --resume RUN"
            )
        cfg = load_run_config(args.config, args.overrides, task=args.task)
        if args.config is None:
            print(
                f"no --config: task {cfg.task!r} with its built-in defaults and your --set values "
                f"(recipes: configs/{cfg.task}/*.toml)",
                file=sys.stderr,
            )
        root = Path(args.runs_dir) if args.runs_dir else None
        latest = _latest_run(cfg, root) if args.cont else None
        if latest is not None and (latest.path / "final.json").is_file():
            print(f"{latest} already finished; nothing to do")
            return 0
        if latest is not None:
            trainer = Trainer.resume(latest.path, quiet=args.quiet)
            trainer.say(f"continuing {trainer.run} at step {trainer.step}")
        else:
            trainer = Trainer.start(cfg, root=root, quiet=args.quiet)
            trainer.say(f"run directory: {trainer.run}")
    final = trainer.fit()
    if not args.no_report:
        from rnnlab.report.html import write_report

        path = write_report(trainer.run, model=trainer.model, task=trainer.task)
        trainer.say(f"report: {path}")
    _print_final(trainer, final)
    return 0


def _latest_run(cfg, root):
    """The newest run of this task whose saved config equals ``cfg`` (None if there is none)."""
    from rnnlab.tasks.base import load_run_config
    from rnnlab.train.run_dir import RunDir, runs_root

    folder = (root or runs_root()) / cfg.task
    for path in sorted(folder.glob(f"*-{cfg.name}*"), reverse=True):
        if (path / "config.toml").is_file():
            try:
                same = load_run_config(path / "config.toml").to_dict() == cfg.to_dict()
            except UserError:
                continue
            if same:
                return RunDir(path)
    return None


def _print_final(trainer, final) -> None:
    from rich.console import Console

    console = Console()
    parts = [
        f"{split}: {trainer.task.headline(final[split])}"
        for split in trainer.task.splits
        if split in final
    ]
    console.print(f"[bold]{trainer.run}[/bold]  " + "  ".join(parts) + f"  ({final['stopped']})")


def load_trained(ref, checkpoint="best"):
    """``(run, cfg, task, model)`` for a trained run, with the weights of ``checkpoint``."""

    from rnnlab.tasks import task_class
    from rnnlab.tasks.base import load_run_config
    from rnnlab.train.checkpoint import load_model_state
    from rnnlab.train.run_dir import RunDir

    run = RunDir.find(ref)
    cfg = load_run_config(run.config_path)
    task = task_class(cfg.task)(cfg)
    task.prepare(run.read_json("task.json"))
    model = task.build_model()
    store = run.checkpoints
    name = checkpoint if store.exists(checkpoint) else "last"
    if not store.exists(name):
        raise UserError(f"{run} has no checkpoint yet (train it first, or resume it)")
    tensors, state = store.load(name)
    load_model_state(model, tensors, "model.", run)
    model.eval()
    return run, cfg, task, model


def cmd_eval(args) -> int:
    import torch
    from rich.console import Console

    if len(args.run) > 1:
        return _eval_ensemble(args)
    run, cfg, task, model = load_trained(args.run[0], args.checkpoint)
    args.split = args.split or default_split(task.splits)
    if args.split not in task.splits:
        raise UserError(
            f"split {args.split!r} is not available for task {cfg.task!r}; valid: "
            f"{', '.join(task.splits)}"
        )
    with torch.no_grad():
        metrics = task.evaluate(model, args.split)
    Console().print(f"{run} [{args.checkpoint}] {args.split}: {task.headline(metrics)}")
    Console().print({k: round(v, 6) if isinstance(v, float) else v for k, v in metrics.items()})
    return 0


def default_split(splits) -> str:
    """The split ``rnnlab eval`` scores without ``--split``: test where the task has one."""
    return "test" if "test" in splits else splits[-1]


def _eval_ensemble(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from rnnlab.tasks import task_class
    from rnnlab.tasks.base import load_run_config
    from rnnlab.train.ensemble import evaluate_runs
    from rnnlab.train.run_dir import RunDir

    if args.split is None:
        first = load_run_config(RunDir.find(args.run[0]).config_path)
        args.split = default_split(task_class(first.task).splits)

    rows = evaluate_runs(args.run, args.split, args.checkpoint)
    table = Table(title=f"{args.split} split, {args.checkpoint} checkpoints")
    for col in ("run", "loss", "acc"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name, m in rows:
        table.add_row(name, f"{m['loss']:.4f}", f"{m['acc']:.4f}")
    Console().print(table)
    return 0


def cmd_sample(args) -> int:
    import torch

    if not args.temperature >= 0 or args.temperature == float("inf"):  # also catches nan
        raise UserError(
            f"--temperature must be a number >= 0 (0: always the most likely token), "
            f"got {args.temperature}"
        )
    if args.top_k < 0:
        raise UserError(f"--top-k must be >= 0 (0: all tokens), got {args.top_k}")
    if args.length < 0:
        raise UserError("--length must be >= 0")
    run, cfg, task, model = load_trained(args.run, args.checkpoint)
    if not hasattr(task, "sample"):
        raise UserError(f"task {cfg.task!r} does not generate text")
    with torch.no_grad():
        text = task.sample(model, args.prime, args.length, args.temperature, args.top_k, args.seed)
    print(args.prime + text)
    return 0


def cmd_report(args) -> int:
    from rnnlab.report.html import write_report
    from rnnlab.train.run_dir import RunDir

    run = RunDir.find(args.run)
    model = task = None
    if run.checkpoints.exists("last"):
        _, _, task, model = load_trained(args.run)
    path = write_report(run, model=model, task=task)
    print(path)
    return 0


def cmd_demo(args) -> int:
    from rnnlab.demo import run_demo

    return run_demo(
        engine=args.engine,
        minutes=args.minutes,
        root=Path(args.runs_dir) if args.runs_dir else None,
    )
