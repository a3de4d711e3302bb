"""``rnnlab experiment long-term``: the adding problem and the copy-memory task at several lengths,
one run per (task, length, cell), and a table of the final test errors beside the trivial baselines
(``docs/results/long-term.md``): where the tanh RNN fails and the gated cells do not.

Every run is an ordinary training run (``rnnlab train TASK --config configs/TASK/long-term.toml
--set data.length=T --set model.cell=...``) with a fixed step budget, kept under ``--runs-dir``.
The experiment is resumable: a finished run (one with ``final.json`` and the same config) is
reused, an interrupted one is resumed from its last checkpoint, and only missing runs start.
``--estimate`` times a few steps of every run and prints the expected CPU time instead of training;
``--quick`` shrinks everything (lengths, sizes, steps) to check the machinery in seconds.
"""

from __future__ import annotations

import json
import platform
import shlex
import time
from pathlib import Path

from rnnlab.diagnostics.gradflow import CELL_LABELS, cell_model, parse_cells
from rnnlab.errors import UserError

DESCRIPTION = (
    "adding problem and copy memory at lengths 50-400: final test error per cell "
    "(tanh RNN, LSTM, LSTM forget bias 1, GRU, MUT1) -> docs/results/long-term.md"
)

TASKS = ("adding", "copy")
DEFAULT_CELLS = "rnn,lstm,lstm-fb1,gru,mut1"

#: what the page says about each task
TASK_BULLETS = {
    "adding": (
        "- **Adding problem** (Hochreiter & Schmidhuber 1997; the two-channel form of Le et al. "
        "2015): T steps of (value ~ U(0,1), marker); two markers, one in each half; the target is "
        "the sum of the two marked values, read after the last step. Error: mean squared error. "
        "Baseline: always answering 1 scores Var(u1 + u2) = 1/6 = **0.1667**."
    ),
    "copy": (
        "- **Copy memory** (Arjovsky et al. 2016): 10 symbols from an alphabet of 8, T - 1 blanks, "
        "a delimiter, 10 blanks; the model must output blanks and then the 10 symbols (T + 20 "
        "steps). Error: cross-entropy per step over all T + 20 steps (in brackets: the share of the "
        "10 symbols copied correctly). Baseline: blanks, then a uniform guess, scores "
        "**10 ln 8 / (T + 20)**."
    ),
}

#: how the report describes each cell
CELL_NOTES = {
    "rnn-orth": "tanh RNN with orthogonal recurrent weights at initialisation "
    '(recurrent_init = "orthogonal")',
    "lstm": "LSTM (torch.nn's init, forget-gate bias 0)",
    "lstm-fb1": "LSTM with forget-gate bias 1 (Jozefowicz et al. 2015)",
    "lstm-chrono": "LSTM with the chrono initialisation for 2T steps (Tallec & Ollivier 2018: "
    "forget-gate biases log u, u spread over [1, 2T - 1], input-gate biases -log u)",
    "gru": "GRU (reset after, as torch.nn)",
    "gru-chrono": "GRU (reset after) with the chrono initialisation of its update gate for 2T steps",
    "mut1": "MUT1 (Jozefowicz et al. 2015)",
    "mut2": "MUT2 (Jozefowicz et al. 2015)",
    "mut3": "MUT3 (Jozefowicz et al. 2015)",
}
DEFAULT_LENGTHS = "50,100,200,400"

#: --quick: tiny everything, to test the machinery (the numbers mean nothing)
QUICK_OVERRIDES = [
    "model.hidden_size=8",
    "model.embed_size=4",
    "train.max_steps=6",
    "train.eval_every=3",
    "train.batch_size=4",
    "train.eval_batch_size=25",
    "data.train_size=24",
    "data.valid_size=25",
    "data.test_size=25",
]


def add_arguments(p) -> None:
    p.add_argument("--tasks", default="adding,copy", help="comma-separated: adding, copy")
    p.add_argument(
        "--lengths",
        default=DEFAULT_LENGTHS,
        help=f"comma-separated T for every task ({DEFAULT_LENGTHS}), or per task as "
        "TASK:T,T/TASK:T,... (e.g. adding:50,100,200,400/copy:100,200)",
    )
    p.add_argument(
        "--cells",
        default=DEFAULT_CELLS,
        help=f"comma-separated, from {', '.join(CELL_LABELS)} (default {DEFAULT_CELLS})",
    )
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override the base configs for every run, e.g. --set train.max_steps=500",
    )
    p.add_argument("--configs", default="configs", help="folder holding TASK/long-term.toml")
    p.add_argument("--runs-dir", default="runs/long-term", help="where the runs live (reused)")
    p.add_argument(
        "--out",
        help="the results page (default docs/results/long-term.md; RUNS_DIR/long-term-quick.md "
        "with --quick, RUNS_DIR/long-term-other.md with other --tasks, --lengths, --cells or --set)",
    )
    p.add_argument(
        "--gradflow",
        metavar="DIR",
        nargs="+",
        help="`rnnlab gradflow` output folders to include, in order (figures linked, or copied "
        "beside the page)",
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes and lengths 10,20 (seconds)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write the page from the runs that have finished",
    )
    p.add_argument(
        "--estimate", action="store_true", help="time a few steps per run and print the CPU budget"
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1)")


# ---------------------------------------------------------------------- the grid
def _split(text: str, what: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise UserError(f"--{what}: give at least one value")
    return items


def _parse_lengths(text: str) -> list[int]:
    try:
        lengths = [int(t) for t in _split(text, "lengths")]
    except ValueError:
        raise UserError(f"--lengths {text!r}: expected integers like 50,100") from None
    if any(T < 2 for T in lengths):
        raise UserError("--lengths: every length must be >= 2")
    return lengths


def task_lengths(args, tasks: list[str]) -> dict[str, list[int]]:
    """The lengths each task runs at: ``--lengths 50,100`` for all, ``adding:50/copy:100`` each."""
    text = "10,20" if args.quick and args.lengths == DEFAULT_LENGTHS else args.lengths
    if ":" not in text:
        return {task: _parse_lengths(text) for task in tasks}
    per_task = {}
    for group in text.split("/"):
        task, sep, values = group.partition(":")
        task = task.strip()
        if not sep or task not in TASKS:
            raise UserError(
                f"--lengths {text!r}: write TASK:T,T for each task, separated by '/', with TASK "
                f"one of {', '.join(TASKS)} (e.g. adding:50,100/copy:100)"
            )
        per_task[task] = _parse_lengths(values)
    absent = [t for t in tasks if t not in per_task]
    if absent:
        raise UserError(f"--lengths {text!r} gives no length for {', '.join(absent)}")
    return {task: per_task[task] for task in tasks}


def grid(args) -> list[tuple[str, int, str]]:
    """``(task, T, cell)`` for every run, in the order they are trained."""
    tasks = _split(args.tasks, "tasks")
    bad = [t for t in tasks if t not in TASKS]
    if bad:
        raise UserError(f"--tasks: unknown {', '.join(bad)}; valid: {', '.join(TASKS)}")
    lengths = task_lengths(args, tasks)
    cells = parse_cells(args.cells)
    return [(task, T, cell) for task in tasks for T in lengths[task] for cell in cells]


def run_overrides(task: str, T: int, cell: str, args) -> list[str]:
    """The ``--set`` overrides that make one run from ``configs/TASK/long-term.toml``."""
    fields = cell_model(cell, T)
    kind, variant = fields.pop("cell"), fields.pop("variant")
    sets = [f"name={task}-T{T}-{cell}", f"data.length={T}", f'model.cell="{kind}"']
    if variant:
        inner = ", ".join(f"{k} = {v!r}" for k, v in variant.items())
        sets.append(f"model.variant={{ {inner} }}")
    sets += [f'model.{k}="{v}"' for k, v in fields.items()]
    return sets + (QUICK_OVERRIDES if args.quick else []) + list(args.overrides)


def base_config(task: str, args) -> Path:
    path = Path(args.configs) / task / "long-term.toml"
    if not path.is_file():
        raise UserError(f"{path} not found (--configs names the folder of the configs)")
    return path


def command_for(task: str, T: int, cell: str, args) -> str:
    sets = " ".join(f"--set {shlex.quote(s)}" for s in run_overrides(task, T, cell, args))
    return f"rnnlab train {task} --config {base_config(task, args)} {sets}"


def run_config(task: str, T: int, cell: str, args):
    from rnnlab.tasks.base import load_run_config

    return load_run_config(base_config(task, args), run_overrides(task, T, cell, args), task=task)


# ---------------------------------------------------------------------- runs: reuse, resume, start
def find_run(cfg, root: Path):
    """The newest run under ``root`` made from exactly ``cfg``, or None."""
    from rnnlab.tasks.base import load_run_config
    from rnnlab.train.run_dir import RunDir

    want = cfg.to_dict()
    for path in sorted((root / cfg.task).glob(f"*-{cfg.name}"), reverse=True):
        if (path / "config.toml").is_file():
            try:
                same = load_run_config(path / "config.toml").to_dict() == want
            except UserError:
                continue
            if same:
                return RunDir(path)
    return None


def train_or_reuse(cfg, root: Path) -> tuple[object, dict, str]:
    """``(run, final, how)``: the finished run for ``cfg`` (reused, resumed or started)."""
    from rnnlab.train.trainer import Trainer

    run = find_run(cfg, root)
    if run is not None and (run.path / "final.json").is_file():
        return run, run.read_json("final.json"), "reused"
    if run is not None:
        trainer, how = Trainer.resume(run.path, quiet=True), "resumed"
    else:
        trainer, how = Trainer.start(cfg, root=root, quiet=True), "trained"
    final = trainer.fit()
    return trainer.run, final, how


# ---------------------------------------------------------------------- estimate
def estimate(args, points) -> int:
    """Time 5 training steps of every run (after one warm-up step) and print the budget."""
    import torch

    from rnnlab.tasks import task_class

    rows, total = [], 0.0
    for task_name, T, cell in points:
        cfg = run_config(task_name, T, cell, args)
        task = task_class(task_name)(cfg)
        task.prepare()
        model = task.build_model()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
        loader = task.train_loader(0)
        for i in range(6):
            if i == 1:
                t0 = time.perf_counter()
            out = task.loss(model, loader[i % len(loader)])
            opt.zero_grad()
            out.loss.backward()
            opt.step()
        per_step = (time.perf_counter() - t0) / 5
        steps = cfg.train.max_steps or len(loader) * cfg.train.epochs
        # evaluation: about one training step's forward per eval batch, every eval_every steps
        seconds = per_step * steps * 1.1
        total += seconds
        rows.append((task_name, T, cell, per_step, steps, seconds))
        print(
            f"{task_name:7s} T={T:<4d} {cell:9s} {per_step * 1000:7.1f} ms/step x {steps} steps "
            f"= {seconds / 60:6.1f} min",
            flush=True,
        )
    print(f"total: {total / 3600:.2f} h of CPU time on this machine, now ({len(rows)} runs)")
    return 0


# ---------------------------------------------------------------------- the page
# gradflow.json writes an infinite or nan number (an overflow) as null.
NOT_FINITE = "inf/nan (overflow)"


def _finite_or(v, fmt) -> str:
    """``fmt(v)``, or :data:`NOT_FINITE` for a number gradflow.json wrote as null."""
    return NOT_FINITE if v is None else fmt(v)


def _fmt(v: float) -> str:
    return f"{v:.4f}" if v >= 1e-3 else f"{v:.1e}"


def baseline(task: str, T: int, cell: str, args) -> float:
    """The trivial baseline's test error (from the task's definition, not from a run)."""
    from rnnlab.tasks.adding import ADDING_BASELINE
    from rnnlab.tasks.copy import copy_baseline

    if task == "adding":
        return ADDING_BASELINE
    d = run_config(task, T, cell, args).data
    return copy_baseline(T, d.copy_length, d.alphabet)


def results_table(
    task: str, lengths: list[int], cells: list[str], results: dict, args
) -> list[str]:
    """Markdown rows: one per cell, one column per length."""
    head = "| cell | " + " | ".join(f"T = {T}" for T in lengths) + " |"
    lines = [head, "|---|" + "---:|" * len(lengths)]
    for cell in cells:
        row = []
        for T in lengths:
            r = results.get((task, T, cell))
            if r is None:
                row.append("not run yet")
                continue
            test = r["final"]["test"]
            text = _fmt(test["loss"])
            if task == "copy":
                text += f" ({100 * test['acc']:.0f}%)"
            if test["loss"] < 0.1 * test["baseline"]:
                text = f"**{text}**"
            row.append(text)
        lines.append(f"| {CELL_LABELS[cell]} | " + " | ".join(row) + " |")
    base = [_fmt(baseline(task, T, cells[0], args)) for T in lengths]
    lines.append("| *baseline* | " + " | ".join(base) + " |")
    return lines


def curves_figure(task: str, lengths: list[int], cells: list[str], results: dict, path: Path):
    """Validation error against steps, one panel per length, one line per cell."""
    from rnnlab.report.plots import plt, save

    fig, axes = plt.subplots(1, len(lengths), figsize=(3.2 * len(lengths), 2.9), squeeze=False)
    for ax, T in zip(axes[0], lengths):
        baseline = None
        for n, cell in enumerate(cells):
            r = results.get((task, T, cell))
            if r is None:
                continue
            recs = [m for m in r["metrics"] if m.get("split") == "valid"]
            ax.plot(
                [m["step"] for m in recs],
                [m["loss"] for m in recs],
                color=f"C{n}",
                label=CELL_LABELS[cell],
                lw=1.2,
            )
            baseline = r["final"]["test"]["baseline"]
        if baseline is not None:
            ax.axhline(baseline, color="0.4", ls=":", lw=1, label="baseline")
        ax.set_yscale("log")
        ax.set_title(f"{task}, T = {T}", fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel(
        "validation " + ("MSE" if task == "adding" else "cross-entropy"), fontsize=8
    )
    handles = {}  # one legend for every panel: a length may lack some cells
    for ax in axes[0]:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    axes[0][-1].legend(list(handles.values()), list(handles), fontsize=6)
    fig.tight_layout()
    return save(fig, path)


def write_page(args, points, results: dict, out: Path) -> Path:
    figures = out.parent / "figures"
    tasks = list(dict.fromkeys(p[0] for p in points))
    lengths = {t: list(dict.fromkeys(p[1] for p in points if p[0] == t)) for t in tasks}
    cells = list(dict.fromkeys(p[2] for p in points))
    any_cfg = run_config(*points[0], args).to_dict()  # every run shares these settings
    tr, md = any_cfg["train"], any_cfg["model"]
    cmd = "rnnlab experiment long-term" + "".join(f" {a}" for a in _cli_args(args))
    L = [
        "# Long-term dependencies: adding problem and copy memory",
        "",
        "Generated by `" + cmd + "` from its runs (do not edit by hand; rerun the command, which "
        "reuses finished runs). Every number is the final **test** error of the checkpoint with the "
        "lowest validation error, measured on this machine."
        + (
            f" Its gradient-flow section reads `{' '.join(_gradflow_dirs(args))}`, which the "
            "`rnnlab gradflow` commands given in that section write: run those first."
            if args.gradflow
            else ""
        ),
        "",
    ]
    missing = [p for p in points if p not in results]
    if missing:
        L += [
            f"**{len(missing)} of {len(points)} runs have not finished yet** (`not run yet` below): "
            "`rnnlab experiment long-term` trains them, reusing the finished ones and resuming "
            "an interrupted one, then rewrites this page.",
            "",
        ]
    L += [
        "## The tasks and their baselines",
        "",
        *(TASK_BULLETS[t] for t in tasks),
        "",
        "Definitions in code: `rnnlab.tasks.adding`, `rnnlab.tasks.copy` (generated, deterministic "
        "from `data.seed`; fixed validation and test sets, fresh training batches).",
        "",
        "## Settings",
        "",
        f"One layer of H = {md['hidden_size']} units"
        + (
            f", copy symbols embedded in E = {run_config('copy', lengths['copy'][0], cells[0], args).model.embed_size}"
            if "copy" in tasks
            else ""
        )
        + f"; {tr['optimizer']} (lr {tr['lr']:g}), gradient norm clipped at {tr['clip_norm']:g}, "
        f"batch {tr['batch_size']}, **{tr['max_steps']} steps per run**, validation every "
        f"{tr['eval_every']} steps on {any_cfg['data']['valid_size']} examples, test on "
        f"{any_cfg['data']['test_size']}; run seed {any_cfg['seed']}, data seed "
        f"{any_cfg['data']['seed']}. Base configs: "
        + ", ".join(f"`{base_config(t, args)}`" for t in tasks)
        + f". Machine: {platform.machine()}, torch CPU, 1 thread per run.",
        "",
        "Cells: " + "; ".join(CELL_NOTES.get(c, CELL_LABELS[c]) for c in cells) + ".",
        "",
    ]
    for task in tasks:
        title = (
            "Adding problem: test MSE"
            if task == "adding"
            else ("Copy memory: test cross-entropy per step (symbols copied)")
        )
        L += [f"## {title}", ""]
        L += results_table(task, lengths[task], cells, results, args)
        L += ["", "Bold: below a tenth of the baseline (the dependency was learned).", ""]
        if any(key[0] == task for key in results):
            fig = curves_figure(
                task, lengths[task], cells, results, figures / f"{out.stem}-{task}.png"
            )
            L += [
                f"![validation error against steps]({fig.relative_to(out.parent).as_posix()})",
                "",
            ]
    for i, folder in enumerate(_gradflow_dirs(args)):
        L += gradflow_section(Path(folder), figures, out, first=i == 0)
    L += [
        "## Runs",
        "",
        "| task | T | cell | steps | train s | command |",
        "|---|---:|---|---:|---:|---|",
    ]
    for task, T, cell in points:
        r = results.get((task, T, cell))
        f = r["final"] if r else None
        done = f"{f['steps']} | {f['train_seconds']:.0f}" if f else "not run yet | "
        L.append(f"| {task} | {T} | {cell} | {done} | `{command_for(task, T, cell, args)}` |")
    L.append("")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(L) + "\n", encoding="utf-8")
    return out


def _cli_args(args) -> list[str]:
    parts = []
    for name, default in (
        ("tasks", "adding,copy"),
        ("lengths", DEFAULT_LENGTHS),
        ("cells", DEFAULT_CELLS),
    ):
        if getattr(args, name) != default:
            parts.append(f"--{name} {getattr(args, name)}")
    parts += [f"--set {shlex.quote(s)}" for s in args.overrides]
    if getattr(args, "out", None):
        parts.append(f"--out {args.out}")  # or a rerun would overwrite the default page
    if args.quick:
        parts.append("--quick")
    if args.report_only:
        parts.append("--report-only")
    if args.gradflow:
        parts.append("--gradflow " + " ".join(_gradflow_dirs(args)))
    return parts


def results_path(args, root: Path) -> Path:
    """Where the page goes: ``--out``, else beside the runs for ``--quick`` and for any other
    grid or settings than the published page's (never replaced by them), else docs/results/."""
    if args.out:
        return Path(args.out)
    if args.quick:
        return root / "long-term-quick.md"
    published = (args.tasks, args.lengths, args.cells) == (
        "adding,copy",
        DEFAULT_LENGTHS,
        DEFAULT_CELLS,
    )
    if not published or args.overrides:
        return root / "long-term-other.md"
    return Path("docs/results/long-term.md")


def _gradflow_dirs(args) -> list[str]:
    g = args.gradflow
    return [g] if isinstance(g, str) else list(g or [])


def gradflow_section(folder: Path, figures: Path, out: Path, first: bool = True) -> list[str]:
    """A section on a ``rnnlab gradflow`` result: its summary table and its figures (copied beside
    the page ``out`` under names that start with its stem, unless they are there already)."""
    import shutil

    page_dir = out.parent
    path = folder / "gradflow.json"
    if not path.is_file():
        raise UserError(
            f"--gradflow {folder}: no gradflow.json there (run `rnnlab gradflow --out {folder}`)"
        )
    g = json.loads(path.read_text())
    s = g["settings"]
    chrono = (
        " The chrono cells do not wait for training: their keep gates' biases are log u, u "
        "spread up to 2T, so those gates start between about 1/2 and 1 - 1/(2T)."
        if any("chrono" in name for name in g["cells"])
        else ""
    )
    setting = (
        f"`{g.get('command', 'rnnlab gradflow')}` ({s['task']}, T = {s['length']}, H = "
        f"{s['hidden']}; norms averaged over {s['probe']} validation examples; training: "
        f"{s['steps']:,} Adam steps, lr {s['lr']:g}, clip {s['clip']:g})."
    )
    if first:
        L = [
            "## Gradient flow: ||dL/dh_t|| measured",
            "",
            setting + " The loss is the last step's; `log10/step` is the slope of log10 "
            "||dL/dh_t|| against the distance T-1-t (how many decades the gradient loses per step "
            "back in time); `h_0 / h_T-1` the share of the gradient that reaches the first step.",
            "",
            "At initialisation torch's init puts every gate near 0.5, so the LSTM's cell-state "
            "path multiplies the gradient by f ~ 0.5 per step and the GRU's by z ~ 0.5: a gated "
            "cell carries a gradient far back only once training has pushed its gates towards one."
            + chrono,
        ]
    else:
        L = ["", "The same measurement for other cells or initialisations: " + setting + chrono]
    L += [
        "",
        "| cell | phase | valid error | log10/step | h_0 / h_T-1 |",
        "|---|---|---:|---:|---:|",
    ]
    for entry in g["cells"].values():
        for phase in ("init", "trained"):
            e = entry.get(phase)
            if not e:
                continue
            m = e["summary"]
            ratio = m["first_over_last"]
            L.append(
                f"| {entry['label']} | {phase} | {_finite_or(e['valid_loss'], _fmt)} | "
                f"{_finite_or(m['log10_per_step'], '{:+.4f}'.format)} | "
                f"{_finite_or(ratio, '{:.2g}'.format)} |"
            )
    for name in ("gradflow.png", "exploding.png"):
        if not (folder / name).is_file():
            continue
        try:  # beside the page already: link it where it is
            rel = (folder / name).resolve().relative_to(page_dir.resolve())
        except ValueError:  # elsewhere: copy it beside the page
            figures.mkdir(parents=True, exist_ok=True)
            copy = figures / (f"{out.stem}-{name}" if first else f"{out.stem}-{folder.name}-{name}")
            shutil.copyfile(folder / name, copy)
            rel = copy.relative_to(page_dir)
        L += [
            "",
            f"![{folder.name}/{name}]({rel.as_posix()})"
            if not first
            else f"![{name}]({rel.as_posix()})",
        ]
    ex = g.get("exploding")
    if ex:
        L += [
            "",
            f"Exploding case: a tanh RNN with its recurrent matrix scaled to spectral radius "
            f"{ex['spectral_radius']:g} (torch's init gives {ex['spectral_radius_at_init']:.2f}): "
            f"||dL/dh_0|| / ||dL/dh_T-1|| = "
            f"{_finite_or(ex['summary']['first_over_last'], '{:.3g}'.format)}. Plain SGD "
            f"(lr {ex['sgd_lr']:g}) from there:",
            "",
            "| run | steps | max grad norm before clip | max update norm | last loss |",
            "|---|---:|---:|---:|---:|",
        ]

        def largest(recs, key):
            if any(r[key] is None for r in recs):
                return NOT_FINITE
            return f"{max(r[key] for r in recs):.3g}"

        for name, recs in ex["runs"].items():
            label = "no clipping" if name == "no_clip" else f"clipped at {ex['clip']:g}"
            L.append(
                f"| {label} | {len(recs)} | {largest(recs, 'grad_norm_pre_clip')} | "
                f"{largest(recs, 'update_norm')} | {_finite_or(recs[-1]['loss'], '{:.4g}'.format)} |"
            )
    return L + [""]


# ---------------------------------------------------------------------- entry point
def run(args) -> int:
    import torch

    from rnnlab.train.progress import progress_bar

    if args.threads < 1:
        raise UserError("--threads must be >= 1")
    torch.set_num_threads(args.threads)
    points = grid(args)
    for task in dict.fromkeys(p[0] for p in points):
        base_config(task, args)  # fail early on a missing base config
    if args.estimate:
        return estimate(args, points)
    root = Path(args.runs_dir)
    out = results_path(args, root)
    results = {}
    with progress_bar("long-term runs", len(points)) as bar:
        for i, (task, T, cell) in enumerate(points):
            cfg = run_config(task, T, cell, args)
            if args.report_only:
                run = find_run(cfg, root)
                if run is None or not (run.path / "final.json").is_file():
                    print(f"[{i + 1}/{len(points)}] {task} T={T} {cell}: not run yet", flush=True)
                    continue
                final, how = run.read_json("final.json"), "reused"
            else:
                run, final, how = train_or_reuse(cfg, root)
            results[(task, T, cell)] = {
                "final": final,
                "how": how,
                "config": cfg.to_dict(),
                "metrics": run.metrics(),
                "run": str(run.path),
            }
            test = final["test"]
            print(
                f"[{i + 1}/{len(points)}] {task} T={T} {cell}: test {test['loss']:.4f} "
                f"(baseline {test['baseline']:.4f}), {how}, {run.path}",
                flush=True,
            )
            bar.update(completed=i + 1)
    page = write_page(args, points, results, out)
    print(page)
    return 0
