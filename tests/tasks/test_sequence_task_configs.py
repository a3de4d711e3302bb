"""Every shipped config of the classify, digits, tagging, adding and copy tasks is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnlab.tasks.base import load_run_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted(
    p
    for task in ("classify", "digits", "tagging", "adding", "copy")
    for p in (ROOT / "configs" / task).glob("*.toml")
)


def test_there_are_configs_for_every_task():
    assert {p.parent.name for p in CONFIGS} == {"classify", "digits", "tagging", "adding", "copy"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_config_is_valid(path):
    cfg = load_run_config(path)
    assert cfg.task == path.parent.name
    assert cfg.train.threads == 1  # a shared CPU machine: one thread per run
