"""Median and range of the ratios of several ``rnnlab bench --json`` runs (docs/performance.md).

One run of the benchmark is not enough on a shared machine; the tables of medians in
docs/performance.md come from this script over runs made back to back:

    for i in 1 2 3; do rnnlab bench --quick --json > run$i.json; done
    python benchmarks/bench_medians.py run1.json run2.json run3.json
"""

from __future__ import annotations

import argparse
import json
import statistics

ENGINES = ("fused", "autograd", "reference", "builtin")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="JSON files written by `rnnlab bench --json`")
    args = ap.parse_args()
    ratios: dict[tuple[str, str], dict[str, list[float]]] = {}
    for path in args.runs:
        with open(path) as f:
            rows = json.load(f)
        for row in rows:
            if "cell" not in row:  # the --train-step line
                continue
            size = f"{row['T']}x{row['B']}x{row['D']}x{row['H']}"
            by_engine = ratios.setdefault((row["cell"], size), {})
            by_engine.setdefault(row["engine"], []).append(row["ratio_to_torch_lstm"])
    print("| cell | size | " + " | ".join(ENGINES) + " |")
    print("|---|---|" + "---:|" * len(ENGINES))
    for size in sorted({s for _, s in ratios}, key=lambda s: [int(v) for v in s.split("x")]):
        for (cell, s), by_engine in ratios.items():
            if s != size:
                continue
            cells = []
            for engine in ENGINES:
                v = by_engine.get(engine)
                cells.append(f"{statistics.median(v):.2f} ({min(v):.2f}-{max(v):.2f})" if v else "")
            print(f"| {cell} | {size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
