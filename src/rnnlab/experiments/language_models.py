"""``rnnlab experiment language-models``: train (or continue) the LM configs and write
docs/results/language-models.md from the finished runs.

Each row is one config of ``configs/lm/``; the table gives the measured validation and test numbers
of the best checkpoint, the training time and the exact command that reproduces the row. Runs are
found by their saved config (``rnnlab train --continue`` semantics), so re-running the experiment
reuses finished runs and resumes unfinished ones: a killed experiment loses nothing.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import torch

from rnnlab.errors import UserError
from rnnlab.experiments.unfinished import progress

DESCRIPTION = (
    "train the language-model configs (PTB, Tiny Shakespeare) and write their results table"
)

#: row name -> (what the row is, the published number it is compared with, if any). A row is the
#: config ``configs/lm/NAME.toml``, or the config and ``--set`` overrides of :data:`VARIANTS`.
ROWS = {
    "ptb-word-200-check": (
        "PTB words, the pytorch/examples recipe (tied 2x200, dropout 0.2), 2 epochs",
        "target <= 150 validation perplexity after 2 epochs (the issue reports 149.7 for a plain PyTorch loop of this recipe)",
    ),
    "ptb-word-small": (
        "PTB words, Zaremba et al. 2014 small (2x200, no dropout; their lr 1 and clip 5 on a loss "
        "summed over the 20 steps are lr 20 and clip 0.25 on our per-token mean)",
        "paper: 114.5 test perplexity",
    ),
    "ptb-word-200": (
        "PTB words, our 2x200 tied LSTM",
        "target <= 87 test perplexity (pytorch/examples once reported 87.17 for a tied 2x200 LSTM)",
    ),
    "ptb-word-650": ("PTB words, 2x650 tied LSTM (GPU-sized)", "target <= 75 test perplexity"),
    "shakespeare-char": ("Tiny Shakespeare characters, 2x256 LSTM (90/10 split)", ""),
    "ptb-char": ("PTB characters, 1x512 LSTM", ""),
}
#: rows that are a config file plus overrides: name -> (config name, --set overrides)
VARIANTS = {
    "ptb-word-200-check": (
        "ptb-word-200",
        [
            "name=ptb-word-200-check",
            "model.dropout=0.2",
            "train.epochs=2",
            "train.threads=1",
        ],
    ),
}
CONFIG_DIR = Path("configs/lm")
OUT = Path("docs/results/language-models.md")


def add_arguments(p) -> None:
    p.add_argument(
        "--only", help="comma-separated config names (default: all but ptb-word-650 on a CPU)"
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="do not train: write the table from the runs that exist",
    )
    p.add_argument("--runs-dir", help="runs root (default $RNNLAB_RUNS or ./runs)")
    p.add_argument("--out", default=str(OUT), help=f"the results file (default {OUT})")


def run(args) -> int:
    from rnnlab.tasks.base import load_run_config
    from rnnlab.train.cli import _latest_run
    from rnnlab.train.trainer import Trainer

    root = Path(args.runs_dir) if args.runs_dir else None
    names = (
        args.only.split(",")
        if args.only
        else [n for n in ROWS if n != "ptb-word-650" or torch.cuda.is_available()]
    )
    rows = []
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        raise UserError(f"--only: unknown rows {unknown}; valid: {', '.join(ROWS)}")
    for name in names:
        base, sets = VARIANTS.get(name, (name, []))
        cfg = load_run_config(CONFIG_DIR / f"{base}.toml", sets)
        run = _latest_run(cfg, root)
        if not args.report_only and (run is None or not (run.path / "final.json").is_file()):
            trainer = Trainer.resume(run.path) if run is not None else Trainer.start(cfg, root=root)
            trainer.fit()
            run = trainer.run
        rows.append((name, run))
    text = render(rows)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return 0


def command(name: str) -> str:
    """The ``rnnlab train`` command line of a row."""
    base, sets = VARIANTS.get(name, (name, []))
    return " ".join(
        ["rnnlab train lm --config", f"configs/lm/{base}.toml", *(f"--set {s}" for s in sets)]
    )


def _fmt(metrics: dict | None, key: str) -> str:
    return (
        ""
        if not metrics or key not in metrics
        else f"{metrics[key]:.2f}"
        if key == "ppl"
        else f"{metrics[key]:.3f}"
    )


def render(rows) -> str:
    lines = [
        "# Language models",
        "",
        "Every row is measured by `rnnlab experiment language-models` (which runs the command in the",
        "row, or continues its run) on the machine named below; numbers are those of the best",
        "validation checkpoint. Perplexity for words, bits per character (bpc) for characters.",
        "",
        "| config | what | valid | test | train time | compared with | command |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for name, run in rows:
        what, ref = ROWS[name]
        cmd = f"`{command(name)}`"
        if run is None:
            lines.append(f"| {name} | {what} | not run | | | {ref} | {cmd} |")
            continue
        if not (run.path / "final.json").is_file():
            lines.append(f"| {name} | {what} | {progress(run)} | | | {ref} | {cmd} |")
            continue
        final = json.loads((run.path / "final.json").read_text())
        key = "bpc" if "bpc" in final.get("valid", {}) else "ppl"
        unit = " bpc" if key == "bpc" else " ppl"
        valid = _fmt(final.get("valid"), key) + unit
        test = (_fmt(final.get("test"), key) + unit) if "test" in final else "no test split"
        hours = final.get("train_seconds", 0) / 3600
        lines.append(
            f"| {name} | {what} | {valid} | {test} | {hours:.2f} h ({final['epochs']} epochs) "
            f"| {ref} | {cmd} |"
        )
    lines += [
        "",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}. Training time is wall-clock inside the training loop, on a "
        "machine shared with other jobs (so it is an upper bound).",
        "",
    ]
    return "\n".join(lines)
