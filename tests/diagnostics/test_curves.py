"""Reading learning curves: synthetic runs of every shape, each named exactly, and the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from rnnlab.diagnostics.curves import diagnose, pick_metric, smooth
from tests.train.conftest import rnnlab

S = 2000  # steps of every synthetic run


def make_run(train, valid=None, lr=lambda s: 1e-3, noise=0.02, log_every=20, eval_every=200):
    """``metrics.jsonl``-style records of a synthetic run: ``train(s)``/``valid(s)`` give the loss
    at step s, plus Gaussian noise (std ``noise``, half of it on validation)."""
    rng = np.random.default_rng(0)
    records = []
    for s in range(log_every, S + 1, log_every):
        loss = train(s) + noise * rng.standard_normal()
        records.append({"step": s, "time": s / 100, "split": "train", "loss": loss, "lr": lr(s)})
    if valid is not None:
        for s in range(0, S + 1, eval_every):
            loss = valid(s) + noise / 2 * rng.standard_normal()
            records.append({"step": s, "time": s / 100, "split": "valid", "loss": loss, "acc": 0.5})
    return records


def step_decay(at, before=1e-3, after=1e-4):
    return lambda s: before if s < at else after


def exp_fall(s, start, end, tau, at=0):
    return end + (start - end) * math.exp(-max(0, s - at) / tau)


def healthy_train(s):
    # falls, flattens, then the learning-rate cut at 1400 gives a last small drop
    extra = 0.1 * (1 - math.exp(-(s - 1400) / 50)) if s >= 1400 else 0.0
    return exp_fall(s, 4.0, 1.0, 400) - extra


SHAPES = {
    "healthy": (
        make_run(healthy_train, lambda s: healthy_train(s) + 0.1, step_decay(1400)),
        [],
    ),
    "flat-start": (
        make_run(
            lambda s: 4.0 if s < 600 else exp_fall(s, 4.0, 1.0, 200, at=600),
            lambda s: (4.0 if s < 600 else exp_fall(s, 4.0, 1.0, 200, at=600)) + 0.1,
            step_decay(1600),
        ),
        ["flat-start"],
    ),
    "plateau": (
        make_run(lambda s: exp_fall(s, 4.0, 1.0, 200), lambda s: exp_fall(s, 4.0, 1.0, 200) + 0.1),
        ["plateau"],
    ),
    "decay-too-early": (
        make_run(
            lambda s: (
                exp_fall(s, 4.0, 1.0, 300)
                if s < 300
                else exp_fall(300, 4.0, 1.0, 300)
                - 0.3 * (1 - math.exp(-(s - 300) / 100))
                - 0.5 * (s - 300) / 1700
            ),
            lr=step_decay(300, 1e-2, 1e-3),
        ),
        ["decay-too-early"],
    ),
    "overfitting": (
        make_run(
            lambda s: 3.5 * math.exp(-s / 700) + 0.05,
            lambda s: exp_fall(s, 3.5, 1.0, 300) + 0.0004 * max(0, s - 700),
        ),
        ["overfitting"],
    ),
    "underfitting": (
        make_run(
            lambda s: exp_fall(s, 4.0, 2.0, 200),
            lambda s: exp_fall(s, 4.0, 2.0, 200) + 0.01,
            step_decay(1000),
        ),
        ["underfitting"],
    ),
    "still-improving": (
        make_run(lambda s: 1 + 3 * (1 - s / 2500), lambda s: 1.2 + 3 * (1 - s / 2500)),
        ["still-improving"],
    ),
    "diverging": (
        make_run(lambda s: exp_fall(s, 4.0, 1.0, 200) if s < 1000 else 1.05 + 0.003 * (s - 1000)),
        ["diverging"],
    ),
    "no-progress": (make_run(lambda s: 4.0, lambda s: 4.05), ["no-progress"]),
}


@pytest.mark.parametrize("shape", list(SHAPES))
def test_each_shape_is_named_and_only_it(shape):
    records, expected = SHAPES[shape]
    found = diagnose(records)
    assert [f.name for f in found] == expected, [f.text() for f in found]
    for f in found:
        assert f.evidence and f.advice and f.title


def test_evidence_carries_the_numbers():
    records, _ = SHAPES["decay-too-early"]
    (f,) = diagnose(records)
    assert f.steps == [300]
    assert "0.01 -> 0.001" in f.evidence and "at step 300" in f.evidence
    records, _ = SHAPES["overfitting"]
    (f,) = diagnose(records)
    # the valid minimum of 1 + 2.5 exp(-s/300) + 0.0004 (s-700)+ sits near step 800
    assert 600 <= f.steps[0] <= 1000
    assert "best checkpoint is the one at step" in f.advice
    records, _ = SHAPES["flat-start"]
    (f,) = diagnose(records)
    # 10% of the way down from 4.0 towards 1.0 is 3.7: reached ~21 steps after 600
    assert 600 <= f.steps[0] <= 700


def test_target_decides_whether_no_gap_is_poor():
    records, _ = SHAPES["underfitting"]  # ends at a validation loss of ~2.01
    assert [f.name for f in diagnose(records, target=1.5)] == ["underfitting"]
    assert diagnose(records, target=2.5) == []


def test_smooth_keeps_a_line_and_shrinks_at_the_ends():
    y = np.arange(30, dtype=float)
    assert np.allclose(smooth(y)[2:-2], y[2:-2])
    assert smooth(np.array([1.0, 5.0])).tolist() == [1.0, 5.0]  # too short to smooth


def test_too_few_points_say_nothing_and_metric_is_picked():
    records = make_run(lambda s: 1.0, lambda s: 1.0)[:3]
    assert diagnose(records) == []
    assert pick_metric(SHAPES["plateau"][0]) == "acc"
    assert pick_metric([{"split": "valid", "loss": 1.0, "ppl": 2.7, "step": 0}]) == "ppl"


def _fake_run(folder, records):
    folder.mkdir(parents=True)
    (folder / "config.toml").write_text('task = "lm"\n')
    (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_curves_command_plots_and_names(tmp_path):
    a = _fake_run(tmp_path / "lm" / "20260101-000000-a", SHAPES["overfitting"][0])
    b = _fake_run(tmp_path / "lm" / "20260101-000001-b", SHAPES["plateau"][0])
    out = tmp_path / "both.png"
    r = rnnlab("curves", str(a), str(b), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "overfitting: the train/validation gap grows" in r.stdout
    assert "plateau: the loss stopped improving" in r.stdout
    assert out.stat().st_size > 10_000
    r = rnnlab("curves", str(a), "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert [f["name"] for f in data["runs"][str(a)]] == ["overfitting"]
    assert (a / "plots" / "curves.png").is_file()  # one run: its own plots folder


def test_curves_command_user_errors(tmp_path, capsys, monkeypatch):
    from rnnlab.cli import main

    monkeypatch.setenv("RNNLAB_RUNS", str(tmp_path))
    empty = tmp_path / "lm" / "20260101-000000-e"
    empty.mkdir(parents=True)
    (empty / "config.toml").write_text('task = "lm"\n')
    assert main(["curves", str(empty)]) == 2
    assert "no metrics.jsonl records" in capsys.readouterr().err
    assert main(["curves", str(tmp_path / "nowhere")]) == 2
    assert "no run at" in capsys.readouterr().err
    run = _fake_run(tmp_path / "lm" / "20260101-000002-p", SHAPES["plateau"][0])
    assert main(["curves", str(run), "--metric", "bleu"]) == 2
    assert "no run logs a metric named 'bleu'" in capsys.readouterr().err


def test_the_final_evaluations_are_not_on_the_learning_curves():
    from rnnlab.diagnostics.curves import series as curve_series
    from rnnlab.report.plots import series as plot_series

    records = [
        {"step": 10, "split": "train", "loss": 30.0, "acc": 0.1},
        {"step": 20, "split": "train", "loss": 28.6, "acc": 0.2},
        # what the trainer logs when it finishes: the chosen model evaluated on the train split
        {"step": 20, "split": "train", "loss": 28.1, "acc": 0.3, "best_step": 10},
    ]
    assert plot_series(records, "train", "loss") == ([10, 20], [30.0, 28.6])
    assert plot_series(records, "train", "acc") == ([10, 20], [0.1, 0.2])
    x, y = curve_series(records, "train")
    assert x.tolist() == [10, 20] and y.tolist() == [30.0, 28.6]
