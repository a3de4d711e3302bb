"""The copy-memory task: exact layout, the baseline's value, and a cell that learns a short copy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rnnlab.tasks.base import build_run_config
from rnnlab.tasks.copy import copy_baseline, make_copy
from rnnlab.train.trainer import Trainer


def test_layout_follows_arjovsky_et_al():
    T, S, A = 7, 3, 4
    x, y = make_copy(np.random.default_rng(0), 50, T, S, A)
    assert x.shape == y.shape == (T + 2 * S, 50)
    data = x[:S]
    assert ((data >= 1) & (data <= A)).all()
    assert (x[S : S + T - 1] == 0).all()  # T - 1 blanks
    assert (x[S + T - 1] == A + 1).all()  # the delimiter
    assert (x[S + T :] == 0).all()  # S blanks while the model writes
    assert (y[: T + S] == 0).all()
    assert torch.equal(y[T + S :], data)  # the symbols, in order, after the delimiter


def test_the_memoryless_solution_scores_the_baseline_exactly():
    T, S, A = 30, 10, 8
    x, y = make_copy(np.random.default_rng(1), 64, T, S, A)
    # blank with certainty until the delimiter, then uniform over the A data symbols
    logits = torch.full((T + 2 * S, 64, A + 1), -1e9)
    logits[: T + S, :, 0] = 0.0
    logits[T + S :, :, 1:] = 0.0
    ce = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    assert float(ce) == pytest.approx(copy_baseline(T, S, A), rel=1e-6)
    assert copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)


def test_an_lstm_learns_a_short_copy(tmp_path):
    raw = {
        "task": "copy",
        "data": {
            "length": 4,
            "copy_length": 2,
            "alphabet": 4,
            "train_size": 64 * 25,
            "valid_size": 300,
            "test_size": 300,
        },
        "model": {"cell": "lstm", "embed_size": 8, "hidden_size": 32},
        "train": {
            "batch_size": 64,
            "lr": 1e-2,
            "clip_norm": 1.0,
            "threads": 1,
            "epochs": 8,
            "log_every": 25,
            "checkpoint_minutes": 0.0,
        },
    }
    trainer = Trainer.start(build_run_config(raw), root=tmp_path, quiet=True)
    final = trainer.fit()["test"]
    assert final["baseline"] == pytest.approx(2 * math.log(4) / 8)
    # chance on the copied symbols is 1/4: most of them remembered, loss far below the baseline
    assert final["acc"] > 0.9, final
    assert final["loss"] < 0.3 * final["baseline"], final
