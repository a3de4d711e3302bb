"""Shared test settings: determinism, and the real-data switch used by CI."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_configure(config):
    os.environ.setdefault("RNNLAB_NO_PROGRESS", "1")


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
