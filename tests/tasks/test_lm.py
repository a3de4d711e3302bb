"""The language-model task through the trainer, on tiny data."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from rnnlab.config import tomllib  # tomli on Python 3.10
from rnnlab.demo import DEMO_CONFIG
from rnnlab.tasks.base import build_run_config, load_run_config
from rnnlab.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def test_hello_config_learns_the_toy(tmp_path):
    cfg = load_run_config(ROOT / "configs/lm/hello.toml")
    trainer = Trainer.start(cfg, root=tmp_path, quiet=True)
    final = trainer.fit()
    assert final["valid"]["loss"] < 0.01
    task, model = trainer.task, trainer.model
    x = torch.tensor(task.vocab.encode("hell")).view(-1, 1)
    logits, _, _ = model(x)
    assert task.vocab.decode(logits.argmax(-1).view(-1).tolist()) == "ello"
    first_valid = trainer.run.metrics()[0]
    assert first_valid["split"] == "valid" and first_valid["step"] == 0
    assert first_valid["loss"] == pytest.approx(math.log(4), abs=0.2)  # initial loss ~ ln V


def test_demo_config_file_is_the_demo():
    with open(ROOT / "configs/lm/demo.toml", "rb") as f:
        assert tomllib.load(f) == DEMO_CONFIG


def test_every_shipped_lm_config_is_valid():
    for path in sorted((ROOT / "configs/lm").glob("*.toml")):
        cfg = load_run_config(path)
        assert cfg.task == "lm", path


def _tiny_task(tmp_path, level="char", **train):
    tmp_path.mkdir(parents=True, exist_ok=True)
    text = tmp_path / "t.txt"
    text.write_text("a b c d e f g a b c d e f g\n" * 80)
    raw = {
        "task": "lm",
        "data": {"dataset": "text", "path": str(text), "level": level, "bptt": 6},
        "model": {"embed_size": 8, "hidden_size": 8, "num_layers": 1},
        "train": {"batch_size": 4, "epochs": 1, "log_every": 1, **train},
    }
    cfg = build_run_config(raw)
    trainer = Trainer.start(cfg, root=tmp_path, quiet=True)
    return trainer


def test_metrics_char_and_word(tmp_path):
    t = _tiny_task(tmp_path / "c", "char")
    m = t.evaluate("valid")
    assert m["bpc"] == pytest.approx(m["loss"] / math.log(2))
    assert m["ppl"] == pytest.approx(math.exp(m["loss"]))
    w = _tiny_task(tmp_path / "w", "word")
    assert "bpc" not in w.evaluate("valid")
    assert len(w.task.vocab) == 8  # a..g and <eos>


def test_sampling_is_seeded_and_respects_top_k(tmp_path):
    t = _tiny_task(tmp_path)
    a = t.task.sample(t.model, "a ", 30, temperature=1.0, seed=5)
    assert a == t.task.sample(t.model, "a ", 30, temperature=1.0, seed=5)
    assert len(a) == 30
    greedy = t.task.sample(t.model, "a ", 30, temperature=1.0, top_k=1, seed=1)
    assert greedy == t.task.sample(t.model, "a ", 30, temperature=1.0, top_k=1, seed=2)
    assert greedy == t.task.sample(t.model, "a ", 30, temperature=0.0, seed=3)  # 0: argmax


def test_grad_accumulation_equals_one_big_step(tmp_path):
    """Two accumulated half-batches give the mean gradient of both: one SGD step must match."""
    t = _tiny_task(tmp_path, optimizer="sgd", lr=0.5)
    loader = t.task.train_loader(0)
    b1, b2 = loader[0], loader[1]
    state = {k: v.clone() for k, v in t.model.state_dict().items()}
    t.train_step([b1, b2])
    after_accum = {k: v.clone() for k, v in t.model.state_dict().items()}
    t.model.load_state_dict(state)
    t.optimizer.zero_grad()
    _, l1, h = t.model(b1[0], targets=b1[1])
    h = tuple(x.detach() for x in h)  # truncated BPTT: the state carries on, the graph does not
    _, l2, _ = t.model(b2[0], h, targets=b2[1])
    ((l1 + l2) / 2).backward()
    with torch.no_grad():
        for p in t.model.parameters():
            p -= 0.5 * p.grad
    for k, v in t.model.state_dict().items():
        torch.testing.assert_close(v, after_accum[k])


def test_pre_clip_norm_is_logged_and_weight_noise_is_removed(tmp_path):
    t = _tiny_task(tmp_path, clip_norm=1e-3, weight_noise=0.5, optimizer="sgd", lr=1e-9)
    before = [p.detach().clone() for p in t.model.parameters()]
    out = t.train_step([t.task.train_loader(0)[0]])
    assert float(out["grad_norm"]) > 1e-3  # the norm before clipping, not after
    for p, q in zip(t.model.parameters(), before):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=0)  # noise gone, lr tiny
