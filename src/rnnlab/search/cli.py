"""``rnnlab search``: a hyperparameter search where every trial is a normal training run."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path

from rnnlab.cli import HelpFormatter
from rnnlab.errors import UserError

EPILOG = """\
examples:
  rnnlab search --config configs/search/lm-small.toml --space configs/search/lm-space.toml \\
      --sampler random --trials 20 --workers 2
  # the same command again continues the study until 20 trials are done
  rnnlab search --config ... --space ... --sampler random --trials 20 \\
      --storage postgresql://user:password@db-host/optuna --study lm-shared   # many machines
  rnnlab search --config ... --space ... --sampler random --trials 0   # outputs only
"""


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "search",
        help="hyperparameter search (random, grid, TPE) on optuna; every trial is a run",
        description=(
            "Search the config keys named in a space file. Each trial trains a normal run "
            "(run directory, metrics, checkpoints) and reports its validation metric. The study "
            "lives in an optuna storage (a SQLite file in RUNS/search/STUDY/ by default, or any "
            "RDB URL shared by many machines); re-running the command resumes it. Failed trials "
            "(NaN, crash) are recorded and the study goes on. Writes best.md, trials.csv, "
            "scatter.png and importances.png into RUNS/search/STUDY/."
        ),
        formatter_class=HelpFormatter,
        epilog=EPILOG,
    )
    p.add_argument("--config", "-c", required=True, help="the base TOML config of every trial")
    p.add_argument("--space", required=True, help="the search space TOML file")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a base config value for every trial (repeatable)",
    )
    p.add_argument("--sampler", choices=["random", "grid", "tpe"], default="random")
    p.add_argument(
        "--trials", type=int, required=True, help="trials to get done in the study (all workers)"
    )
    p.add_argument("--workers", type=int, default=1, help="processes sharing the study (1)")
    p.add_argument(
        "--storage",
        help="optuna RDB URL (default: sqlite:///RUNS/search/STUDY/study.db)",
    )
    p.add_argument("--study", help="the study's name (default: CONFIGNAME-SAMPLER)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed (0)")
    p.add_argument(
        "--pruner",
        choices=["none", "median", "hyperband"],
        default="none",
        help="stop bad trials early at their evaluations (none)",
    )
    p.add_argument("--top", type=int, default=10, help="rows in the best-trials table (10)")
    p.add_argument("--runs-dir", help="the runs root (default $RNNLAB_RUNS or ./runs)")
    p.add_argument(
        "--heartbeat",
        type=int,
        default=10,
        help="seconds between trial heartbeats; a trial silent for 3 is interrupted (10)",
    )
    p.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_search)


def _say(text: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(soft_wrap=True, highlight=False).print(escape(text))


def cmd_search(args) -> int:
    from rnnlab.config import apply_overrides, read_toml
    from rnnlab.search.space import load_space
    from rnnlab.search.study import Search, default_threads, torch_threads
    from rnnlab.train.run_dir import runs_root

    if args.workers < 1:
        raise UserError(f"--workers must be >= 1, got {args.workers}")
    space = load_space(args.space)
    base_raw = apply_overrides(read_toml(args.config), list(args.overrides))
    name = args.study or f"{base_raw.get('name', base_raw.get('task', 'study'))}-{args.sampler}"
    runs_dir = Path(args.runs_dir) if args.runs_dir else runs_root()
    # one line per trial instead of every trial's progress bars
    os.environ["RNNLAB_NO_PROGRESS"] = "1"
    search = Search(
        base_raw,
        space,
        sampler=args.sampler,
        trials=args.trials,
        study=name,
        storage=args.storage,
        runs_dir=runs_dir,
        seed=args.seed,
        pruner=args.pruner,
        heartbeat=args.heartbeat,
        worker=args.worker,
        say=_say,
    )
    study = search.open()
    threads = args.threads or default_threads(args.workers)
    if args.worker:  # a worker started by worker 0: run trials, no summary
        with torch_threads(threads):
            search.run()
        return 0
    c = search.counts()
    _say(
        f"study {name} ({args.sampler} sampler, storage {search.storage_url}): "
        + (
            f"{c.done} of {search.trials} trials done"
            if args.trials
            else f"{c.done} trials done (--trials 0: the outputs only)"
        )
        + (f", {c.running} running" if c.running else "")
        + (f", {c.interrupted} interrupted" if c.interrupted else "")
    )
    for p in space.params.values():
        _say(f"  {p.describe()}")
    procs = []
    try:
        if c.done < search.trials:
            for i in range(1, args.workers):
                procs.append(_spawn_worker(args, i, name, search.storage_url, runs_dir, threads))
            with torch_threads(threads):
                search.run()
            for proc in procs:
                proc.wait()
    except BaseException:
        # let the workers mark their trials interrupted (they resume on the next run)
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        raise
    failed = [proc.returncode for proc in procs if proc.returncode]
    return _summary(args, study, space, search.folder) or (1 if failed else 0)


def _spawn_worker(args, index: int, study: str, storage: str, runs_dir: Path, threads: int):
    cmd = [
        sys.executable,
        "-m",
        "rnnlab",
        "search",
        "--config",
        args.config,
        "--space",
        args.space,
        "--sampler",
        args.sampler,
        "--trials",
        str(args.trials),
        "--study",
        study,
        "--storage",
        storage,
        "--runs-dir",
        str(runs_dir),
        "--seed",
        str(args.seed),
        "--pruner",
        args.pruner,
        "--heartbeat",
        str(args.heartbeat),
        "--threads",
        str(threads),
        "--worker",
        str(index),
    ]
    for o in args.overrides:
        cmd += ["--set", o]
    return subprocess.Popen(cmd, env={**os.environ, "RNNLAB_NO_PROGRESS": "1"})


def _summary(args, study, space, folder) -> int:
    from rich.console import Console
    from rich.table import Table

    from rnnlab.search.plots import summarize

    s = summarize(study, space, folder, top=args.top)
    console = Console(highlight=False, soft_wrap=True)
    title = f"best trials of {study.study_name} (valid {space.metric})"
    if console.is_terminal:
        table = Table(title=title)
        for h in s.header[:-1]:
            table.add_column(h)
        for row in s.rows:
            table.add_row(*row[:-1])
        console.print(table)
    else:  # a log or a pipe: the markdown table, never cut to 80 columns
        from rnnlab.search.plots import markdown_table

        print(title + "\n" + markdown_table(s.header[:-1], [r[:-1] for r in s.rows]))
    console.print("trials: " + ", ".join(f"{v} {k}" for k, v in sorted(s.counts.items())))
    if s.rows:
        console.print(f"best run: {s.rows[0][-1]}")
    if s.importances:
        console.print(
            f"importances ({s.importance_note}): "
            + ", ".join(f"{k} {v:.2f}" for k, v in s.importances.items())
        )
    else:
        console.print(f"importances: {s.importance_note}")
    for name, path in s.files.items():
        console.print(f"{name}: {path}")
    return 0
