"""Speed benchmarks (``rnnlab bench``): ratios against torch baselines measured in the same run."""

from rnnlab.bench.harness import CELLS, ENGINES, SIZES, Row, run_benchmark

__all__ = ["CELLS", "ENGINES", "SIZES", "Row", "run_benchmark"]
