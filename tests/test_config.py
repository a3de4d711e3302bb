"""Configs: TOML into dataclasses, overrides, and errors that say what is valid."""

from __future__ import annotations

import pytest

from rnnlab.config import (
    apply_overrides,
    dumps_toml,
    parse_override,
    tomllib,  # tomli on Python 3.10
)
from rnnlab.errors import ConfigError
from rnnlab.tasks.base import build_run_config, load_run_config


def test_overrides_parse_toml_values():
    assert parse_override("train.lr=0.5") == (["train", "lr"], 0.5)
    assert parse_override("model.variant={ peephole = true }") == (
        ["model", "variant"],
        {"peephole": True},
    )
    assert parse_override("name=my run") == (["name"], "my run")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_override("train.lr")
    raw = apply_overrides({"train": {"lr": 1.0}}, ["train.lr=2", "data.bptt=20"])
    assert raw == {"train": {"lr": 2}, "data": {"bptt": 20}}


def test_unknown_key_lists_the_valid_ones():
    with pytest.raises(
        ConfigError, match=r"unknown key train\.lrr; valid keys in \[train\]: .*\blr\b"
    ):
        build_run_config({"task": "lm", "train": {"lrr": 0.1}})
    with pytest.raises(ConfigError, match="valid tasks"):
        build_run_config({"task": "nope"})
    with pytest.raises(ConfigError, match="unknown task 'nope'; valid tasks"):
        build_run_config({"task": "digits"}, task="nope")  # not "this config is for digits"


def test_wrong_type_is_refused_and_ints_become_floats():
    with pytest.raises(ConfigError, match=r"train\.epochs = 'ten': expected int"):
        build_run_config({"task": "lm", "train": {"epochs": "ten"}})
    with pytest.raises(ConfigError, match="one of"):
        build_run_config({"task": "lm", "train": {"optimizer": "lion"}})
    cfg = build_run_config({"task": "lm", "train": {"lr": 1}})
    assert isinstance(cfg.train.lr, float) and cfg.train.lr == 1.0
    with pytest.raises(ConfigError, match="tie_weights"):
        build_run_config(
            {"task": "lm", "model": {"tie_weights": True, "embed_size": 10, "hidden_size": 20}}
        )


def test_resolved_config_round_trips_through_toml(tmp_path):
    cfg = build_run_config(
        {"task": "lm", "name": "x", "model": {"variant": {"reset": "before"}, "cell": "gru"}}
    )
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    assert load_run_config(path).to_dict() == cfg.to_dict()
    assert tomllib.loads(dumps_toml({"a": [1, 2], "s": 'q"uote'}))["s"] == 'q"uote'


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_run_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("task = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_run_config(bad)
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match=r"UTF-8|TOML"):
        load_run_config(latin)


def test_model_recurrent_init_reaches_the_stack():
    import torch

    from rnnlab.models.stack_config import StackConfig

    stack = StackConfig(cell="rnn", hidden_size=5, recurrent_init="orthogonal").build_stack(3)
    W = stack.weight_hh_l0.detach()
    torch.testing.assert_close(W @ W.T, torch.eye(5), rtol=0, atol=1e-5)
    with pytest.raises(ConfigError, match=r"\[model\]: unknown recurrent_init 'identity'"):
        StackConfig(cell="rnn", recurrent_init="identity").build_stack(3)


@pytest.mark.parametrize(
    "task, data",
    [
        ("music", {"dataset": "jsb-chorales", "path": "/nonexistent/rolls.mat"}),
        ("classify", {"dataset": "sst2", "path": "/nonexistent"}),
        ("lm", {"dataset": "embedded", "path": "/nonexistent.txt"}),
        ("caption", {"dataset": "shapes", "json": "dataset_flickr8k.json"}),
    ],
)
def test_a_data_setting_the_dataset_never_reads_is_refused(task, data):
    # Before: data.path with a built-in dataset was ignored and a full run started on the
    # built-in data.
    with pytest.raises(ConfigError, match=r"read only with data\.dataset"):
        build_run_config({"task": task, "data": data})
