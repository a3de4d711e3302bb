"""Grid search against random search with the same budget (Bergstra & Bengio 2012; the lecture's
figure of an important and an unimportant parameter).

With a budget of ``n = g*g`` trials over two parameters, a grid tries only ``g`` distinct values of
each; random search tries ``n`` distinct values of each. When one parameter matters and the other
does not, the grid wastes ``g - 1`` of every ``g`` trials repeating the same value of the important
one. The experiment measures this on a real (tiny) training: a character LSTM for 100 Adam steps,
searching the learning rate (important) and a small weight decay (unimportant), with

* one grid search (``g x g`` trials),
* ``--repeats`` random searches (``n`` trials each, sampler seeds 0, 1, ...),
* a dense 1-D sweep of the learning rate alone (the weight decay fixed in the middle of its range),
  to show what the loss against the important parameter looks like,

every trial a normal :class:`rnnlab.train.trainer.Trainer` run through :mod:`rnnlab.search`. It
writes ``docs/results/search.md`` and a figure beside it from what it ran.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from rnnlab.errors import UserError

DESCRIPTION = (
    "grid vs random search with the same budget, on a task with one important parameter (the "
    "learning rate) and one unimportant one (a small weight decay) (docs/results/search.md)"
)
CONFIG = "configs/search/grid-vs-random.toml"
SPACE = "configs/search/grid-vs-random-space.toml"
IMPORTANT, UNIMPORTANT = "train.lr", "train.weight_decay"


def add_arguments(p) -> None:
    p.add_argument("--trials", type=int, default=9, help="the budget, a square g*g (9)")
    p.add_argument("--repeats", type=int, default=5, help="random searches, seeds 0.. (5)")
    p.add_argument(
        "--sweep", type=int, default=12, help="points of the 1-D learning-rate sweep (12; 0: none)"
    )
    p.add_argument("--config", default=CONFIG, help=f"the trials' config ({CONFIG})")
    p.add_argument("--space", default=SPACE, help=f"the two-parameter space ({SPACE})")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the trials' config (repeatable)",
    )
    p.add_argument(
        "--runs-dir", default="runs/grid-vs-random", help="where the studies and trials live"
    )
    p.add_argument("--out", default="docs/results/search.md", help="the results page")


# ---------------------------------------------------------------------- running the studies
def _search(base_raw, space, sampler, trials, study, runs_dir, seed=0, say=print):
    from rnnlab.search.study import Search

    s = Search(
        base_raw,
        space,
        sampler=sampler,
        trials=trials,
        study=study,
        runs_dir=runs_dir,
        seed=seed,
        say=say,
    )
    s.open()
    s.run()
    return s.study


def _trials(study) -> list[dict]:
    """``{lr, wd, value}`` of every trial (value None for a failed one)."""
    from optuna.trial import TrialState

    out = []
    for t in study.get_trials(deepcopy=False):
        if IMPORTANT not in t.params:
            continue
        value = t.value if t.state == TrialState.COMPLETE else None
        out.append({"lr": t.params[IMPORTANT], "wd": t.params.get(UNIMPORTANT), "value": value})
    return out


def summarize_search(trials: list[dict]) -> dict:
    """Distinct values of each parameter, the best value and where it was found."""
    done = [t for t in trials if t["value"] is not None and math.isfinite(t["value"])]
    best = min(done, key=lambda t: t["value"]) if done else None
    return {
        "trials": len(trials),
        "failed": len(trials) - len(done),
        "distinct_lr": len({t["lr"] for t in trials}),
        "distinct_wd": len({t["wd"] for t in trials}),
        "best": best["value"] if best else None,
        "best_lr": best["lr"] if best else None,
        "best_wd": best["wd"] if best else None,
    }


def _importances(studies) -> dict[str, float] | None:
    """fANOVA importances over the pooled random-search trials."""
    import optuna
    from optuna.trial import TrialState

    pooled = optuna.create_study(direction="minimize")
    for study in studies:
        pooled.add_trials(
            [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
        )
    from rnnlab.search.plots import importances

    values, _ = importances(pooled)
    return values


# ---------------------------------------------------------------------- the page
def _figure(grid, randoms, sweep, space):
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    import rnnlab.report.plots  # noqa: F401 - file-only backend

    lr_p, wd_p = space.params[IMPORTANT], space.params[UNIMPORTANT]
    everything = [
        t["value"]
        for t in [*grid, *(t for r in randoms for t in r), *sweep]
        if t["value"] is not None
    ]
    vmin, vmax = min(everything), max(everything)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3))
    for ax, trials, title in (
        (axes[0], grid, f"grid search: {len(grid)} trials"),
        (axes[1], randoms[0], f"random search (seed 0): {len(randoms[0])} trials"),
    ):
        ok = [t for t in trials if t["value"] is not None]
        sc = ax.scatter(
            [t["lr"] for t in ok],
            [t["wd"] for t in ok],
            c=[t["value"] for t in ok],
            cmap="viridis_r",
            vmin=vmin,
            vmax=vmax,
            s=60,
            edgecolors="k",
            linewidths=0.4,
        )
        bad = [t for t in trials if t["value"] is None]
        if bad:
            ax.scatter([t["lr"] for t in bad], [t["wd"] for t in bad], marker="x", c="red")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lr_p.low / 1.5, lr_p.high * 1.5)
        ax.set_ylim(wd_p.low / 1.5, wd_p.high * 1.5)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("learning rate (important)")
        ax.set_ylabel("weight decay (unimportant)")
        ax.set_title(title)
        # the values of the important parameter each search tried, as a rug on the x axis
        for t in trials:
            ax.axvline(t["lr"], ymax=0.04, color="C3", lw=1.5)
    fig.colorbar(sc, ax=axes[1], label="valid loss (nats/char)")
    ax = axes[2]
    if sweep:
        s = sorted((t for t in sweep if t["value"] is not None), key=lambda t: t["lr"])
        ax.plot([t["lr"] for t in s], [t["value"] for t in s], "k-", lw=1, label="1-D sweep of lr")
    r = [t for ts in randoms for t in ts if t["value"] is not None]
    ax.plot(
        [t["lr"] for t in r],
        [t["value"] for t in r],
        "o",
        color="C0",
        ms=4,
        alpha=0.6,
        label=f"random ({len(randoms)} searches)",
    )
    g = [t for t in grid if t["value"] is not None]
    ax.plot(
        [t["lr"] for t in g],
        [t["value"] for t in g],
        "s",
        color="C3",
        ms=7,
        mfc="none",
        label="grid",
    )
    ax.set_xscale("log")
    ax.set_ylim(vmin - 0.05 * (vmax - vmin), vmax + 0.05 * (vmax - vmin))
    ax.set_xlabel("learning rate")
    ax.set_ylabel("valid loss")
    ax.set_title("loss against the important parameter")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def spreads(trials: list[dict]) -> tuple[float, float] | None:
    """For a grid: the mean range of the loss across weight decays at one learning rate, and the
    range of the per-learning-rate mean loss across learning rates."""
    by_lr: dict[float, list[float]] = {}
    for t in trials:
        if t["value"] is not None:
            by_lr.setdefault(t["lr"], []).append(t["value"])
    groups = [v for v in by_lr.values() if len(v) >= 2]
    if len(by_lr) < 2 or not groups:
        return None
    within = float(np.mean([max(v) - min(v) for v in groups]))
    means = [float(np.mean(v)) for v in by_lr.values()]
    return within, max(means) - min(means)


def _g(v) -> str:
    return "-" if v is None else f"{v:.3g}"


def write_page(out: Path, args, grid, randoms, sweep, imps, space, seconds, figure, cfg) -> Path:
    g = summarize_search(grid)
    rs = [summarize_search(r) for r in randoms]
    bests = [r["best"] for r in rs if r["best"] is not None]
    wins = sum(
        1 for r in rs if r["best"] is not None and g["best"] is not None and r["best"] < g["best"]
    )
    lr_p, wd_p = space.params[IMPORTANT], space.params[UNIMPORTANT]
    sets = "".join(f" --set {o}" for o in args.overrides)
    cmd = (
        f"rnnlab experiment grid-vs-random --trials {args.trials} --repeats {args.repeats} "
        f"--sweep {args.sweep}"
        + (f" --config {args.config}" if args.config != CONFIG else "")
        + (f" --space {args.space}" if args.space != SPACE else "")
        + sets
    )
    rows = [
        "| search | trials | distinct learning rates | distinct weight decays | failed | best valid loss | lr of the best | wd of the best |",
        "|---|---|---|---|---|---|---|---|",
        f"| grid {math.isqrt(args.trials)}x{math.isqrt(args.trials)} | {g['trials']} | "
        f"{g['distinct_lr']} | {g['distinct_wd']} | {g['failed']} | {_g(g['best'])} | "
        f"{_g(g['best_lr'])} | {_g(g['best_wd'])} |",
    ]
    for k, r in enumerate(rs):
        rows.append(
            f"| random, seed {k} | {r['trials']} | {r['distinct_lr']} | {r['distinct_wd']} | "
            f"{r['failed']} | {_g(r['best'])} | {_g(r['best_lr'])} | {_g(r['best_wd'])} |"
        )
    lines = [
        "# Hyperparameter search: grid against random search",
        "",
        "Measured by:",
        "",
        "```",
        cmd,
        "```",
        "",
        f"(run on {time.strftime('%Y-%m-%d')}, {seconds / 60:.1f} minutes on the CPU; every trial "
        f"is a normal training run of [`{args.config}`](../../{args.config}): task {cfg.task}, "
        f"{cfg.model.cell if hasattr(cfg.model, 'cell') else 'model'} of hidden size "
        f"{getattr(cfg.model, 'hidden_size', '?')}, {cfg.train.max_steps or cfg.train.epochs} "
        f"{'steps' if cfg.train.max_steps else 'epochs'} of {cfg.train.optimizer}, scored by the "
        "validation loss of its best evaluation; the training seed is the same for every trial, "
        "so trials differ only in their hyperparameters).",
        "",
        f"Space ([`{args.space}`](../../{args.space})): {lr_p.describe()} (the important "
        f"parameter), {wd_p.describe()} (the unimportant one). Budget: {args.trials} trials per "
        "search.",
        "",
        *rows,
        "",
    ]
    if bests:
        lines += [
            f"Random search over {len(rs)} seeds: best valid loss mean {np.mean(bests):.3f}, "
            f"range {min(bests):.3f} to {max(bests):.3f}; the grid's best is {_g(g['best'])}. "
            f"Random search found a better value than the grid in {wins} of {len(rs)} repeats.",
            "",
        ]
    if imps:
        lines += [
            "Parameter importances (optuna fANOVA over the pooled random-search trials): "
            + ", ".join(f"`{k}` {v:.2f}" for k, v in imps.items())
            + ".",
            "",
        ]
    if sweep:
        s = sorted((t for t in sweep if t["value"] is not None), key=lambda t: t["lr"])
        best = min(s, key=lambda t: t["value"]) if s else None
        lines += [
            f"1-D sweep of the learning rate alone ({len(sweep)} log-spaced values, weight decay "
            f"fixed at {sweep[0]['wd']:.3g}):",
            "",
            "| lr | " + " | ".join(f"{t['lr']:.3g}" for t in s) + " |",
            "|---|" + "---|" * len(s),
            "| valid loss | " + " | ".join(f"{t['value']:.3f}" for t in s) + " |",
            "",
        ]
        if best:
            lines += [f"Best of the sweep: {best['value']:.3f} at lr {best['lr']:.3g}.", ""]
    spread = spreads(grid)
    if spread:
        within, across = spread
        lines += [
            f"In the grid, trials with the same learning rate but different weight decays differ "
            f"by {within:.3f} in validation loss on average; the mean loss of different learning "
            f"rates differs by up to {across:.3f}.",
            "",
        ]
    lines += [
        f"![grid vs random]({figure.name})",
        "",
        "Left and middle: the trials of the grid and of the first random search in the "
        "(learning rate, weight decay) plane, coloured by validation loss (brighter is better); "
        "the red ticks on the x axis are the learning rates each tried. Right: validation loss "
        "against the learning rate for every trial, with the 1-D sweep as a line.",
        "",
        "What it shows: with the same budget, the grid tried "
        f"{g['distinct_lr']} learning rates and random search "
        f"{np.mean([r['distinct_lr'] for r in rs]):.0f} per search. When the weight decay does "
        "not matter (compare the two spreads above), the grid's extra points along it are "
        "repeats of learning rates already tried, while random search spends every trial on a "
        "new learning rate; that is why random search in a log space is the advice for a "
        "first coarse search.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines), encoding="utf-8")
    return out


def run(args) -> int:
    import os

    from rich.console import Console
    from rich.markup import escape

    from rnnlab.config import apply_overrides, read_toml
    from rnnlab.report.plots import save
    from rnnlab.search.space import load_space
    from rnnlab.search.study import set_key

    os.environ["RNNLAB_NO_PROGRESS"] = "1"  # one line per trial, not a bar per trial
    console = Console(soft_wrap=True, highlight=False)

    def say(text):
        console.print(escape(text))

    g = math.isqrt(args.trials)
    if args.trials < 4 or g * g != args.trials:
        raise UserError(f"--trials must be a square >= 4 (a g x g grid), got {args.trials}")
    if args.repeats < 1:
        raise UserError("--repeats must be >= 1")
    space = load_space(args.space)
    if set(space.params) != {IMPORTANT, UNIMPORTANT}:
        raise UserError(f"the space must search exactly {IMPORTANT} and {UNIMPORTANT}")
    space.grid_points = g
    base_raw = apply_overrides(read_toml(args.config), list(args.overrides))
    runs_dir = Path(args.runs_dir)
    t0 = time.monotonic()
    say(f"grid search: {args.trials} trials")
    grid = _trials(
        _search(base_raw, space, "grid", args.trials, f"grid-{args.trials}", runs_dir, say=say)
    )
    randoms, random_studies = [], []
    for k in range(args.repeats):
        say(f"random search, seed {k}: {args.trials} trials")
        study = _search(
            base_raw,
            space,
            "random",
            args.trials,
            f"random-{args.trials}-s{k}",
            runs_dir,
            seed=k,
            say=say,
        )
        random_studies.append(study)
        randoms.append(_trials(study))
    sweep = []
    if args.sweep:
        from rnnlab.search.space import SearchSpace

        wd = math.sqrt(space.params[UNIMPORTANT].low * space.params[UNIMPORTANT].high)
        raw = apply_overrides(base_raw, [])
        set_key(raw, UNIMPORTANT, float(f"{wd:.3g}"))
        lr_space = SearchSpace({IMPORTANT: space.params[IMPORTANT]}, grid_points=args.sweep)
        say(f"1-D sweep of the learning rate: {args.sweep} trials")
        study = _search(raw, lr_space, "grid", args.sweep, f"sweep-{args.sweep}", runs_dir, say=say)
        sweep = [{**t, "wd": float(f"{wd:.3g}")} for t in _trials(study)]
    imps = _importances(random_studies)
    seconds = time.monotonic() - t0
    out = Path(args.out)
    figure = save(_figure(grid, randoms, sweep, space), out.with_name("search-grid-vs-random.png"))
    from rnnlab.search.study import trial_config

    cfg = trial_config(base_raw, {})
    page = write_page(out, args, grid, randoms, sweep, imps, space, seconds, figure, cfg)
    gs = summarize_search(grid)
    say(
        f"grid: {gs['distinct_lr']} distinct learning rates, best {_g(gs['best'])}; random: "
        + ", ".join(
            f"{r['distinct_lr']} distinct, best {_g(r['best'])}"
            for r in map(summarize_search, randoms)
        )
    )
    say(f"wrote {page} and {figure}")
    return 0
