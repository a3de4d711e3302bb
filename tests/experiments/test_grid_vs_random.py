"""``rnnlab experiment grid-vs-random`` on a tiny budget: the counts and the page it writes."""

from __future__ import annotations

import argparse

import optuna
import pytest
import torch

from rnnlab.errors import UserError
from rnnlab.experiments import grid_vs_random as gvr
from tests.train.conftest import TEXT, tiny_config


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def make_args(tmp_path, **kw):
    text = tmp_path / "corpus.txt"
    text.write_text(TEXT)
    config = tiny_config(tmp_path / "c.toml", text, epochs=1, max_steps=10, eval_every=10)
    p = argparse.ArgumentParser()
    gvr.add_arguments(p)
    args = p.parse_args(
        ["--config", str(config), "--runs-dir", str(tmp_path / "runs"), "--out",
         str(tmp_path / "docs" / "search.md")]
    )  # fmt: skip
    for k, v in kw.items():
        setattr(args, k, v)
    return args


def _study(tmp_path, name):
    url = f"sqlite:///{tmp_path / 'runs' / 'search' / name / 'study.db'}"
    return optuna.load_study(study_name=name, storage=url)


def test_grid_tries_fewer_values_of_the_important_parameter(tmp_path):
    args = make_args(tmp_path, trials=4, repeats=2, sweep=3)
    assert gvr.run(args) == 0
    grid = _study(tmp_path, "grid-4")
    lrs = [t.params["train.lr"] for t in grid.trials]
    assert len(grid.trials) == 4 and sorted(set(lrs)) == pytest.approx([1e-4, 1.0])
    for k in range(2):
        random = _study(tmp_path, f"random-4-s{k}")
        assert len({t.params["train.lr"] for t in random.trials}) == 4
    sweep = _study(tmp_path, "sweep-3")
    assert sorted(t.params["train.lr"] for t in sweep.trials) == pytest.approx([1e-4, 1e-2, 1.0])
    page = (tmp_path / "docs" / "search.md").read_text()
    assert (tmp_path / "docs" / "search-grid-vs-random.png").stat().st_size > 10_000
    assert "rnnlab experiment grid-vs-random --trials 4 --repeats 2 --sweep 3" in page
    best = min(t.value for t in grid.trials)
    assert f"| grid 2x2 | 4 | 2 | 2 | 0 | {best:.3g} |" in page
    r0 = _study(tmp_path, "random-4-s0")
    assert f"| random, seed 0 | 4 | 4 | 4 | 0 | {min(t.value for t in r0.trials):.3g} |" in page
    assert "![grid vs random](search-grid-vs-random.png)" in page
    # a second run reuses the finished studies (no new trial)
    assert gvr.run(args) == 0
    assert len(_study(tmp_path, "grid-4").trials) == 4


def test_summaries_and_spreads():
    trials = [
        {"lr": 0.1, "wd": 1e-6, "value": 2.0},
        {"lr": 0.1, "wd": 1e-4, "value": 2.1},
        {"lr": 0.001, "wd": 1e-6, "value": 3.0},
        {"lr": 0.001, "wd": 1e-4, "value": 3.2},
        {"lr": 1.0, "wd": 1e-6, "value": None},
    ]
    s = gvr.summarize_search(trials)
    assert s == {
        "trials": 5,
        "failed": 1,
        "distinct_lr": 3,
        "distinct_wd": 2,
        "best": 2.0,
        "best_lr": 0.1,
        "best_wd": 1e-6,
    }
    within, across = gvr.spreads(trials)
    assert within == pytest.approx((0.1 + 0.2) / 2)
    assert across == pytest.approx(3.1 - 2.05)


def test_budget_must_be_a_square(tmp_path):
    with pytest.raises(UserError, match="a square"):
        gvr.run(make_args(tmp_path, trials=6))
