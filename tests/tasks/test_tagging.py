"""Regime tagging: the generated signal follows its definition; a bidirectional tagger beats a
unidirectional one where reading ahead helps (right after a change)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from rnnlab.tasks.base import build_run_config
from rnnlab.tasks.tagging import change_mask, make_regimes, regime_frequencies
from rnnlab.train.trainer import Trainer


def _segments(labels):
    """[(regime, length)] of one label sequence."""
    out = []
    for k in labels:
        if out and out[-1][0] == k:
            out[-1][1] += 1
        else:
            out.append([k, 1])
    return out


def test_signal_follows_the_definition():
    T, n, K = 200, 40, 3
    x, y = make_regimes(np.random.default_rng(0), n, T, K, 5, 9, noise=0.0)
    assert x.shape == (T, n, 1) and y.shape == (T, n)
    for b in range(n):
        segs = _segments(y[:, b].tolist())
        assert all(5 <= length <= 9 for _, length in segs[:-1])  # the last one is cut at T
        assert all(a[0] != c[0] for a, c in itertools.pairwise(segs))  # a change changes regime
    # noise 0: inside a regime the phase advances by w = 2 pi f_k per frame, so three frames in
    # one regime satisfy sin(p + w) + sin(p - w) = 2 cos(w) sin(p)
    w = 2 * np.pi * regime_frequencies(K)  # (K,)
    xs, ys = x[..., 0].numpy(), y.numpy()
    same = ys[1:-1] == ys[2:]  # frames t (1..T-2) whose next frame is in the same regime
    lhs = xs[2:] + xs[:-2]
    rhs = 2 * np.cos(w[ys[1:-1]]) * xs[1:-1]
    assert same.sum() > 0.8 * same.size
    np.testing.assert_allclose(lhs[same], rhs[same], atol=1e-5)
    counts = np.bincount(y.flatten().numpy(), minlength=K) / y.numel()
    assert counts == pytest.approx([1 / K] * K, abs=0.05)  # equally frequent by symmetry


def test_change_mask():
    y = torch.tensor([0, 0, 1, 1, 1, 1, 1, 1, 2, 2])[:, None]
    assert change_mask(y, window=3)[:, 0].tolist() == [
        False,
        False,
        True,
        True,
        True,
        False,
        False,
        False,
        True,
        True,
    ]


def _train(tmp_path, bidirectional: bool):
    raw = {
        "task": "tagging",
        "data": {"length": 60, "train_size": 32 * 30, "valid_size": 100, "test_size": 300},
        "model": {"cell": "gru", "hidden_size": 24, "bidirectional": bidirectional},
        "train": {
            "batch_size": 32,
            "lr": 1e-2,
            "clip_norm": 1.0,
            "threads": 1,
            "epochs": 2,
            "log_every": 20,
            "checkpoint_minutes": 0.0,
        },
    }
    return Trainer.start(build_run_config(raw), root=tmp_path, quiet=True).fit()["test"]


def test_taggers_learn_and_reading_ahead_helps_after_changes(tmp_path):
    uni, bi = _train(tmp_path / "uni", False), _train(tmp_path / "bi", True)
    assert uni["chance_acc"] == pytest.approx(1 / 3)
    assert uni["acc"] > 0.6 and bi["acc"] > 0.6, (uni, bi)  # chance is 1/3
    # the unidirectional tagger needs a few frames after a change to notice it
    assert bi["acc_change"] > uni["acc_change"] + 0.1, (uni, bi)
