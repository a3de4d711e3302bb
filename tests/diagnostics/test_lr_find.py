"""The learning-rate range test: the reading rule on synthetic curves, and real runs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from rnnlab.diagnostics.lr_find import ema, lr_range_test, smooth, suggest
from rnnlab.errors import UserError
from rnnlab.tasks.base import load_run_config
from tests.train.conftest import TEXT, tiny_config
from tests.train.conftest import rnnlab as run_cli

LRS = np.geomspace(1e-5, 1.0, 101)  # 20 steps per decade


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def text_file(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text(TEXT)
    return p


def typical_curve(lrs):
    """Flat at 4 below 1e-3, falls to 1 around 1e-2, lowest at 1e-1, then blows up."""
    x = np.log10(lrs)
    fall = 3.0 / (1 + np.exp(-(x + 2.5) * 4))  # the fall, centred at lr ~ 3e-3
    rise = np.where(x > -1, 20 * (x + 1) ** 2, 0.0)  # past 1e-1 the steps are too large
    return 4.0 - fall + rise


def test_suggestion_is_a_tenth_of_the_minimum():
    s = suggest(LRS, typical_curve(LRS))
    assert s.verdict == "ok"
    assert s.min_lr == pytest.approx(0.1, rel=0.13)  # the grid point nearest the minimum
    assert s.lr == pytest.approx(s.min_lr / 10)
    # the fall is steepest at its centre, log10(lr) = -2.5
    assert math.log10(s.steepest_lr) == pytest.approx(-2.5, abs=0.1)
    assert s.fall == pytest.approx(0.75, abs=0.02)  # from 4 to ~1


def test_no_fall_gives_no_suggestion():
    s = suggest(LRS, np.full(len(LRS), 4.0) + 0.01 * np.sin(np.arange(len(LRS))))
    assert s.lr is None and s.verdict == "no-fall"
    assert "rnnlab check overfit" in s.note


def test_still_falling_at_the_top_says_widen_the_range():
    lrs = LRS[:60]  # stops at 1e-2, in the middle of the fall
    s = suggest(lrs, typical_curve(lrs))
    assert s.verdict == "still-falling" and "--max-lr" in s.note
    assert s.lr == pytest.approx(lrs[-1] / 10, rel=0.01)


def test_smoothers():
    x = [2.0] * 10
    assert np.allclose(ema(x, 0.9), 2.0)  # bias correction: no pull towards 0
    line = np.linspace(0, 1, 50)
    assert np.allclose(smooth(line)[5:-5], line[5:-5])  # centred: no lag on a line
    assert ema(line, 0.9)[-1] < line[-1] - 0.1  # the EMA lags


def test_range_test_on_the_lm(tmp_path, text_file):
    cfg = load_run_config(tiny_config(tmp_path / "c.toml", text_file))
    r = lr_range_test(cfg, min_lr=1e-4, max_lr=10.0, iters=60)
    assert r.lrs[0] == pytest.approx(1e-4) and np.all(np.diff(r.lrs) > 0)
    assert len(r.losses) == len(r.smoothed) == len(r.records) == len(r.lrs)
    # the loss starts at ln V and falls somewhere in four decades of Adam rates
    assert r.losses[0] == pytest.approx(math.log(len(set(TEXT))), abs=0.1)
    # within 1e-4..10 Adam's loss falls, then turns up: the minimum is inside the range
    assert r.suggestion.verdict == "ok", r.lines()
    assert 1e-4 < r.suggestion.min_lr < r.lrs[-1]
    assert r.suggestion.lr == pytest.approx(r.suggestion.min_lr / 10)
    assert any(line.startswith("suggested learning rate:") for line in r.lines())


def test_range_test_stops_when_the_loss_diverges(tmp_path, text_file):
    relu = 'cell = "rnn"\nvariant = { nonlinearity = "relu" }'
    path = tiny_config(tmp_path / "c.toml", text_file, relu, optimizer="sgd", clip_norm=0.0)
    r = lr_range_test(load_run_config(path), min_lr=1e-3, max_lr=1e6, iters=90)
    assert len(r.lrs) < 90 and r.stopped.startswith("diverged")
    assert r.lrs[-1] < 1e6


def test_range_test_argument_errors(tmp_path, text_file):
    cfg = load_run_config(tiny_config(tmp_path / "c.toml", text_file))
    with pytest.raises(UserError, match="--min-lr < --max-lr"):
        lr_range_test(cfg, min_lr=1.0, max_lr=0.1)
    with pytest.raises(UserError, match="--iters"):
        lr_range_test(cfg, iters=5)


def test_lr_find_command(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, threads=1)
    r = run_cli(
        "lr-find", "--config", str(cfg), "--iters", "40", "--min-lr", "1e-4", "--max-lr", "10",
        "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert (
        "suggested learning rate:" in r.stdout and "rule: a tenth of the learning rate" in r.stdout
    )
    (out,) = (tmp_path / "runs" / "diagnostics").iterdir()
    found = json.loads((out / "lr_find.json").read_text())
    assert f"suggested learning rate: {found['suggested']:.3g}" in r.stdout
    assert found["suggested"] == pytest.approx(found["min_loss_lr"] / 10)
    assert (out / "plots" / "lr_find.png").stat().st_size > 5000
    assert len((out / "metrics.jsonl").read_text().splitlines()) <= 40
