"""The search-space file: parsing, scales, grids, suggestions and the mistakes it refuses."""

from __future__ import annotations

import optuna
import pytest

from rnnlab.errors import ConfigError
from rnnlab.search.space import load_space, parse_space
from rnnlab.search.study import check_space

SPACE = {
    "search": {"grid_points": 3},
    "train": {
        "lr": {"scale": "log", "low": 1e-4, "high": 1e-2},
        "weight_decay": {"scale": "log", "low": 1e-6, "high": 1e-3},
    },
    "model": {
        "dropout": {"scale": "linear", "low": 0.0, "high": 0.5},
        "hidden_size": {"scale": "linear", "low": 32, "high": 128, "step": 32},
        "cell": {"choices": ["lstm", "gru"]},
    },
}


def test_parse_kinds_and_scales():
    space = parse_space(SPACE)
    assert list(space.params) == [
        "train.lr",
        "train.weight_decay",
        "model.dropout",
        "model.hidden_size",
        "model.cell",
    ]
    p = space.params
    assert (p["train.lr"].kind, p["train.lr"].log) == ("float", True)
    assert (p["model.dropout"].kind, p["model.dropout"].log) == ("float", False)
    assert p["model.hidden_size"].kind == "int" and p["model.cell"].kind == "categorical"
    assert (space.metric, space.direction, space.grid_points) == ("loss", "minimize", 3)
    assert p["train.lr"].describe() == "train.lr: log [0.0001, 0.01]"


def test_grid_values_follow_the_scale():
    grid = parse_space(SPACE).grid()
    assert grid["train.lr"] == pytest.approx([1e-4, 1e-3, 1e-2])  # log: one per decade
    assert grid["model.dropout"] == pytest.approx([0.0, 0.25, 0.5])  # linear
    # 4 allowed sizes (32, 64, 96, 128), 3 points: the allowed values nearest 32, 80, 128
    assert grid["model.hidden_size"] == [32, 64, 128]
    assert grid["model.cell"] == ["lstm", "gru"]
    assert parse_space(SPACE).grid_size() == 3 * 3 * 3 * 3 * 2


def test_suggestions_stay_in_range():
    space = parse_space(SPACE)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        v = {n: p.suggest(trial) for n, p in space.params.items()}
        assert 1e-4 <= v["train.lr"] <= 1e-2
        assert 0.0 <= v["model.dropout"] <= 0.5
        assert v["model.hidden_size"] in (32, 64, 96, 128)
        assert v["model.cell"] in ("lstm", "gru")
        study.tell(trial, 0.0)
    lrs = [t.params["train.lr"] for t in study.trials]
    # log-uniform: about as many draws below 1e-3 as above (uniform would put 91% above)
    below = sum(lr < 1e-3 for lr in lrs)
    assert 4 <= below <= 16


def test_digest_changes_with_the_space():
    a = parse_space(SPACE)
    other = {
        **SPACE,
        "train": {**SPACE["train"], "lr": {"scale": "log", "low": 1e-5, "high": 1e-2}},
    }
    assert a.digest() == parse_space(SPACE).digest()
    assert a.digest() != parse_space(other).digest()


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"train": {"lr": {"low": 1e-4, "high": 1e-2}}}, 'needs scale = "log" or "linear"'),
        ({"train": {"lr": {"scale": "log", "low": 0.0, "high": 1e-2}}}, "low must be > 0"),
        ({"train": {"lr": {"scale": "log", "low": 1e-2, "high": 1e-4}}}, "needs low < high"),
        ({"train": {"lr": {"scale": "cubic", "low": 1, "high": 2}}}, 'expected "log" or "linear"'),
        ({"train": {"lr": {"scale": "log", "low": 1e-4}}}, "needs low and high"),
        ({"train": {"lr": {"scale": "log", "lo": 1e-4, "high": 1}}}, "unknown keys ['lo']"),
        ({"train": {"lr": 0.01}}, "a parameter is a table"),
        (
            {"model": {"h": {"scale": "linear", "low": 1.0, "high": 8.0, "step": 2}}},
            "must be integers",
        ),
        ({"model": {"cell": {"choices": []}}}, "non-empty list"),
        ({"search": {"metric": "acc"}, "train": {"lr": {"choices": [1]}}}, "say search.direction"),
        ({"search": {"bogus": 1}, "train": {"lr": {"choices": [1]}}}, "unknown keys ['bogus']"),
        ({"search": {"grid_points": 3}}, "no parameters to search"),
    ],
)
def test_mistakes_are_refused(raw, message):
    with pytest.raises(ConfigError) as e:
        parse_space(raw)
    assert message in str(e.value)


def test_space_must_fit_the_config(tmp_path):
    base = {"task": "lm", "data": {"dataset": "hello"}}
    check_space(base, parse_space({"train": {"lr": {"scale": "log", "low": 1e-3, "high": 1e-1}}}))
    with pytest.raises(ConfigError, match="the search space does not fit the config"):
        check_space(base, parse_space({"train": {"lrr": {"scale": "log", "low": 1e-3, "high": 1}}}))
    with pytest.raises(ConfigError, match=r"model\.dropout"):
        check_space(
            base, parse_space({"model": {"dropout": {"scale": "linear", "low": 0.0, "high": 1.5}}})
        )


def test_shipped_configs_and_spaces_fit_each_other():
    from pathlib import Path

    from rnnlab.config import read_toml
    from rnnlab.tasks.base import load_run_config

    root = Path(__file__).resolve().parents[2] / "configs" / "search"
    spaces = sorted(root.glob("*space*.toml"))
    configs = sorted(set(root.glob("*.toml")) - set(spaces))
    assert len(spaces) >= 2 and len(configs) >= 2
    for path in configs:
        assert load_run_config(path).task == "lm"
    for path in spaces:
        space = load_space(path)
        for p in space.params.values():
            if p.name in ("train.lr", "train.weight_decay"):
                assert p.log, f"{path}: {p.name} should be log-uniform (the sources' advice)"
        # each space searches the config of the same name (lm-space.toml -> lm-small.toml...)
        for config in configs:
            if config.stem.split("-")[0] == path.stem.split("-")[0]:
                check_space(read_toml(config), space)
