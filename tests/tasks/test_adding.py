"""The adding problem: exact definition, determinism, baseline, and a cell that learns it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.tasks.adding import ADDING_BASELINE, make_adding, stream_rng
from rnnlab.tasks.base import build_run_config
from rnnlab.train.trainer import Trainer


def test_examples_follow_the_definition():
    T, n = 12, 500
    x, y = make_adding(np.random.default_rng(0), n, T)
    assert x.shape == (T, n, 2) and y.shape == (1, n)
    values, markers = x[..., 0], x[..., 1]
    assert ((values >= 0) & (values < 1)).all()
    assert set(markers.unique().tolist()) == {0.0, 1.0}
    assert (markers[: T // 2].sum(0) == 1).all()  # exactly one marker in the first half
    assert (markers[T // 2 :].sum(0) == 1).all()  # and one in the second
    torch.testing.assert_close(y[0], (values * markers).sum(0))
    # both halves' positions are used (uniform placement, not a fixed step)
    assert len(set(markers[: T // 2].argmax(0).tolist())) == T // 2


def test_baseline_is_the_error_of_predicting_one():
    _, y = make_adding(np.random.default_rng(1), 200_000, 4)
    mse_of_one = float(((y - 1.0) ** 2).mean())
    # standard error of this mean: sqrt(Var((y-1)^2) / n) = sqrt((1/15 - 1/36) / 2e5) = 4.4e-4
    assert mse_of_one == pytest.approx(ADDING_BASELINE, abs=2e-3)
    assert ADDING_BASELINE == pytest.approx(2 / 12)


def _task(tmp_path, **train):
    raw = {
        "task": "adding",
        "seed": 0,
        "data": {"length": 10, "train_size": 64 * 30, "valid_size": 500, "test_size": 500},
        "model": {"cell": "lstm", "hidden_size": 16},
        "train": {
            "batch_size": 64,
            "lr": 1e-2,
            "clip_norm": 1.0,
            "threads": 1,
            "epochs": 8,
            "log_every": 10,
            "checkpoint_minutes": 0.0,
            **train,
        },
    }
    return Trainer.start(build_run_config(raw), root=tmp_path, quiet=True)


def test_data_is_deterministic_and_splits_are_separate(tmp_path):
    a, b = _task(tmp_path / "a").task, _task(tmp_path / "b").task
    for split in ("valid", "test"):
        for u, v in zip(a.sets[split], b.sets[split]):
            assert torch.equal(u, v)
    assert torch.equal(a.train_loader(3)[5][0], b.train_loader(3)[5][0])
    assert not torch.equal(a.train_loader(3)[5][0], a.train_loader(4)[5][0])  # fresh each epoch
    v = a.sets["valid"][0][:, :, 0]
    t = a.sets["test"][0][:, :, 0]
    assert not any(torch.equal(v[:, i], t[:, j]) for i in range(20) for j in range(20))
    s0 = stream_rng(0, "valid").random(3)
    assert not np.array_equal(s0, stream_rng(0, "test").random(3))


def test_an_lstm_learns_the_adding_problem_at_t10(tmp_path):
    trainer = _task(tmp_path)
    first = trainer.evaluate("valid")
    assert first["baseline"] == pytest.approx(1 / 6)
    final = trainer.fit()
    # well below the error of answering 1: the model found the two marked values
    assert final["test"]["loss"] < 0.3 * ADDING_BASELINE, final
    assert final["test"]["vs_baseline"] == pytest.approx(final["test"]["loss"] * 6)


def test_a_killed_run_resumes_exactly(tmp_path):
    """Generated batches are a function of (seed, epoch, batch): a resumed run sees the same ones."""
    import json
    import signal

    from tests.train.conftest import rnnlab

    cfg = tmp_path / "c.toml"
    cfg.write_text(
        'task = "adding"\nname = "tiny"\n[data]\nlength = 8\ntrain_size = 64\nvalid_size = 32\n'
        "test_size = 32\n[model]\nhidden_size = 8\n[train]\nepochs = 3\nbatch_size = 16\n"
        "eval_every = 5\nlog_every = 2\nthreads = 1\ncheckpoint_minutes = 0.0\n"
    )
    args = ("train", "adding", "--config", str(cfg), "--no-report", "--runs-dir")
    rnnlab(*args, str(tmp_path / "ref"), check=True)
    cut = rnnlab(*args, str(tmp_path / "cut"), env={"RNNLAB_FAULT": "checkpoint-write:3"})
    assert cut.returncode == -signal.SIGKILL
    (killed,) = (tmp_path / "cut" / "adding").iterdir()
    rnnlab("train", "--resume", str(killed), "--no-report", check=True)
    (ref,) = (tmp_path / "ref" / "adding").iterdir()
    a, b = (json.loads((r / "final.json").read_text()) for r in (ref, killed))
    assert a.pop("train_seconds") >= 0 and b.pop("train_seconds") >= 0
    assert a == b and a["steps"] == 12
