"""``train.flush_denormal``: subnormal floats flush to zero while a run trains, and only then."""

from __future__ import annotations

import pytest
import torch

from rnnlab.tasks.base import load_run_config
from rnnlab.train.trainer import Trainer
from tests.train.conftest import tiny_config

SUBNORMAL = 1e-39  # below float32's smallest normal number, 1.18e-38


def _survives() -> bool:
    return (torch.tensor([SUBNORMAL]) * 1.0).item() != 0.0


@pytest.mark.parametrize("flush", [True, False])
def test_subnormals_flush_during_training_only(tmp_path, text_file, flush):
    if flush and not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormals")
    cfg = tiny_config(tmp_path / "c.toml", text_file, max_steps=7, flush_denormal=flush)
    trainer = Trainer.start(load_run_config(cfg), root=tmp_path, quiet=True)
    seen = []
    trainer.on_eval = lambda t, metrics: seen.append(_survives())
    assert _survives()
    trainer.fit()
    assert seen == [not flush]  # one evaluation, at step 7
    assert _survives()  # the process is left as it was
