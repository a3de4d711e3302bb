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


@pytest.mark.parametrize(
    ("task", "section", "values", "message"),
    [
        ("adding", "data", {"length": 1}, "data.length"),
        ("adding", "data", {"train_size": 0}, "data.train_size"),
        ("copy", "data", {"alphabet": 1}, "data.alphabet"),
        ("tagging", "data", {"min_segment": 9, "max_segment": 3}, "min_segment"),
        ("tagging", "data", {"noise": -1.0}, "data.noise"),
        ("digits", "data", {"mode": "columns"}, "data.mode"),
        ("classify", "data", {"dataset": "tsv"}, "data.path"),
        ("adding", "model", {"hidden_size": 0}, "model.hidden_size"),
        ("copy", "model", {"dropout": 1.0}, "model.dropout"),
    ],
)
def test_bad_values_are_config_errors_that_name_the_key(task, section, values, message):
    from rnnlab.errors import ConfigError
    from rnnlab.tasks.base import build_run_config

    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        build_run_config({"task": task, section: values})
