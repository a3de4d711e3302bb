"""The moving average of the weights: its arithmetic, its evaluation and its checkpoints."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from rnnlab.train.averaging import WeightAverage
from rnnlab.train.cli import load_trained
from tests.train.conftest import rnnlab, tiny_config
from tests.train.test_resume import (
    _assert_same,
    _final_state,
    _only_run,
    killed_in_checkpoint_write,
    train_args,
)


def test_average_follows_the_ramped_recurrence():
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    avg = WeightAverage(model, decay=0.5)
    expected = [p.detach().clone() for p in model.parameters()]
    for t in range(4):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        avg.update()
        d = min(0.5, (1 + t) / (10 + t))  # 0.1, 0.18.., 0.25, 0.3077 then capped at 0.5
        expected = [e + (1 - d) * (p.detach() - e) for e, p in zip(expected, model.parameters())]
    for s, e in zip(avg.shadow, expected):
        torch.testing.assert_close(s, e, rtol=0, atol=1e-6)


def test_swapped_holds_the_average_and_restores_the_online_weights_even_on_error():
    model = nn.Linear(2, 2)
    avg = WeightAverage(model, decay=0.9)
    online = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for s in avg.shadow:
            s.fill_(7.0)
    with pytest.raises(RuntimeError), avg.swapped():
        assert all(bool((p == 7.0).all()) for p in model.parameters())
        raise RuntimeError("evaluation failed")
    for p, o in zip(model.parameters(), online):
        assert torch.equal(p, o)


def test_bad_decay_is_refused(tmp_path, text_file):
    with pytest.raises(ValueError, match="decay"):
        WeightAverage(nn.Linear(1, 1), decay=1.0)
    cfg = tiny_config(tmp_path / "c.toml", text_file, ema=1.5)
    out = rnnlab("train", "lm", "--config", str(cfg), "--runs-dir", str(tmp_path / "r"))
    assert out.returncode != 0
    assert "train.ema must be in [0, 1)" in out.stderr
    assert "Traceback" not in out.stderr


def test_averaged_run_evaluates_the_average_and_resumes_exactly(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, ema=0.9)
    ref_root, cut_root = tmp_path / "ref", tmp_path / "cut"
    rnnlab(*train_args(cfg, ref_root), check=True)
    ref_run = _only_run(ref_root)
    reference = _final_state(ref_run)

    # The checkpoint offers the average for evaluation and keeps the online weights apart.
    tensors = reference[0]
    online = {k: v for k, v in tensors.items() if k.startswith("online.")}
    assert online and all(not torch.equal(v, tensors["model." + k[7:]]) for k, v in online.items())
    # What `rnnlab eval` measures from the best checkpoint is what training reported for it.
    final = json.loads((ref_run / "final.json").read_text())
    _, _, task, model = load_trained(str(ref_run))
    with torch.no_grad():
        loss = task.evaluate(model, "valid")["loss"]
    assert loss == pytest.approx(final["valid"]["loss"], rel=1e-6)

    # Killed inside a checkpoint write, resumed: bit for bit the uninterrupted run (average too).
    run = killed_in_checkpoint_write(cfg, cut_root)
    rnnlab("train", "--resume", str(run), "--no-report", check=True)
    _assert_same(_final_state(run), reference)
