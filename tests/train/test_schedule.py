"""Learning-rate schedules against hand-computed values."""

from __future__ import annotations

import math

import pytest

from rnnlab.train.config import TrainConfig
from rnnlab.train.optim import Schedule


def test_zaremba_step_decay_halves_after_epoch_4():
    s = Schedule(TrainConfig(lr=1.0, schedule="step", decay_start=4, decay_factor=0.5), 100)
    lrs = []
    for epoch in range(8):
        lrs.append(s.lr_at(0))
        s.epoch_end(epoch)
    assert lrs == [1.0, 1.0, 1.0, 1.0, 0.5, 0.25, 0.125, 0.0625]


def test_plateau_divides_by_four_when_validation_stops_improving():
    s = Schedule(TrainConfig(lr=20.0, schedule="plateau", plateau_factor=0.25), 100)
    for loss, lr in [(5.0, 20.0), (4.0, 20.0), (4.5, 5.0), (3.0, 5.0), (3.0, 1.25)]:
        s.eval(loss)
        assert s.lr_at(0) == lr


def test_cosine_with_warmup():
    s = Schedule(TrainConfig(lr=1.0, schedule="cosine", warmup_steps=10, min_lr=0.0), 110)
    assert s.lr_at(0) == pytest.approx(0.1)
    assert s.lr_at(9) == pytest.approx(1.0)
    assert s.lr_at(10) == pytest.approx(1.0)
    assert s.lr_at(60) == pytest.approx(0.5)
    assert s.lr_at(110) == pytest.approx(0.0, abs=1e-12)


def test_state_round_trip():
    s = Schedule(TrainConfig(lr=1.0, schedule="plateau"), 10)
    s.eval(2.0)
    s.eval(3.0)
    t = Schedule(TrainConfig(lr=1.0, schedule="plateau"), 10)
    t.load_state_dict(s.state_dict())
    assert t.lr == s.lr and t.best == s.best and t.bad_evals == s.bad_evals
    assert math.isinf(Schedule(TrainConfig(), 1).best)
