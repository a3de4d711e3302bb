"""Dev accuracy of classification runs under two checkpoint rules, as a Markdown table.

For every group of runs (the seeds of one recipe) it evaluates, on one split, each run's ``best``
checkpoint (lowest validation loss during training) and its ``last`` one (the model training ended
with: no selection on the split at all), the seeds' mean and standard deviation under each rule,
and the ensemble of the group's members (the mean of their class probabilities). Also the dev
loss's jitter: the mean absolute change between consecutive evaluations from step --jitter-from on
(from each run's metrics.jsonl, averaged over the group), a measure of how noisy the loss-based
choice of the best checkpoint is.

    RNNLAB_DATA=/path/to/data python experiments/selection_table.py --split valid \\
        --group "LSTM=runs/classify/RUN0,runs/classify/RUN1" --group "GRU=..."
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics

from rnnlab.errors import UserError
from rnnlab.train.ensemble import evaluate_runs
from rnnlab.train.run_dir import RunDir


def _pct(values: list[float]) -> str:
    return ", ".join(f"{100 * v:.2f}" for v in values)


def _mean_sd(values: list[float]) -> str:
    mean = 100 * statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {100 * statistics.stdev(values):.2f}"


def jitter(ref: str, split: str, start: int) -> float:
    """Mean |change| of the ``split`` loss between consecutive evaluations from step ``start``."""
    lines = (RunDir.find(ref).path / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    losses = [r["loss"] for r in records if r.get("split") == split and r["step"] >= start]
    if len(losses) < 2:
        raise UserError(f"{ref}: fewer than two {split} evaluations from step {start} on")
    return statistics.fmean(abs(a - b) for a, b in itertools.pairwise(losses))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--group", action="append", required=True, help="LABEL=RUN,RUN,...")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--jitter-from", type=int, default=2500, help="first step of the jitter")
    args = ap.parse_args()
    print(
        "| recipe | seeds | best (lowest dev loss), per seed | mean ± sd | ensemble "
        "| last (no selection), per seed | mean ± sd | ensemble | dev-loss jitter |"
    )
    print("|---|---:|---|---:|---:|---|---:|---:|---:|")
    for group in args.group:
        label, _, runs = group.rpartition("=")  # a label may hold "=", run paths do not
        refs = [r for r in runs.split(",") if r]
        if not label or not refs:
            ap.error(f"--group {group!r}: expected LABEL=RUN,RUN,...")
        cells = []
        for checkpoint in ("best", "last"):
            rows = evaluate_runs(refs, args.split, checkpoint)
            accs = [m["acc"] for _, m in rows[:-1]]
            ensemble = f"{100 * rows[-1][1]['acc']:.2f}" if len(refs) > 1 else ""
            cells += [_pct(accs), _mean_sd(accs), ensemble]
        cells.append(
            f"{statistics.fmean(jitter(r, args.split, args.jitter_from) for r in refs):.4f}"
        )
        print(f"| {label} | {len(refs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    try:
        main()
    except UserError as e:
        raise SystemExit(f"error: {e}") from None
