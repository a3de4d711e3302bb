"""Shared test settings: determinism, and the real-data switch used by CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config):
    os.environ.setdefault("RNNLAB_NO_PROGRESS", "1")
    # One thread per test process: the tensors here are tiny, pytest-xdist already runs one
    # worker per core, and OpenMP teams of several threads per worker thrash a shared machine.
    # Subprocesses (the CLI tests) inherit it through the environment.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture
def real_data_dir() -> Path:
    """The benchmark data folder (``$RNNLAB_DATA``).

    Skips when it is absent, unless ``RNNLAB_REQUIRE_DATA=1`` (set by ``.ci/run``), which turns the
    skip into a failure so CI always exercises the real-data tests.
    """
    root = os.environ.get("RNNLAB_DATA")
    if root and Path(root).is_dir():
        return Path(root)
    msg = "real data not found: set RNNLAB_DATA to the benchmark data folder"
    if os.environ.get("RNNLAB_REQUIRE_DATA") == "1":
        pytest.fail(msg + " (RNNLAB_REQUIRE_DATA=1 forbids skipping)")
    pytest.skip(msg)
