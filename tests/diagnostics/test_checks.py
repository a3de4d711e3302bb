"""Sanity checks: the initial loss and overfitting a tiny subset, on the LM and on a small fake
classification task of our own (so the checks are shown to work through the task protocol)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import rnnlab
from rnnlab.diagnostics.checks import (
    check_initial_loss,
    check_overfit,
    describe_changes,
    regularisation_off,
)
from rnnlab.tasks import TASKS
from rnnlab.tasks.base import StepOutput, Task, build_run_config
from tests.train.conftest import TEXT, tiny_config
from tests.train.conftest import rnnlab as run_cli


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread (and far faster on a busy machine)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def text_file(tmp_path):
    p = tmp_path / "corpus.txt"
    p.write_text(TEXT)
    return p


# ---------------------------------------------------------------------- a fake task
@dataclass
class FakeData:
    n: int = 32  # sequences
    T: int = 6
    D: int = 4
    classes: int = 5


@dataclass
class FakeModel:
    hidden_size: int = 32
    dropout: float = 0.0
    init_scale: float = 1.0  # multiplies the output layer's initial weights
    frozen: bool = False  # only the output bias can learn: the model cannot memorise
    expected: bool = True  # the task knows its expected initial loss


class FakeNet(nn.Module):
    def __init__(self, D, C, m: FakeModel):
        super().__init__()
        self.rnn = rnnlab.GRU(D, m.hidden_size)
        self.drop = nn.Dropout(m.dropout)
        self.out = nn.Linear(m.hidden_size, C)
        with torch.no_grad():
            self.out.weight.mul_(m.init_scale)
            self.out.bias.zero_()
        if m.frozen:
            for p in [*self.rnn.parameters(), self.out.weight]:
                p.requires_grad_(False)

    def forward(self, x):  # x: (T, B, D) -> logits (B, C)
        out, _ = self.rnn(x)
        return self.out(self.drop(out[-1]))


class FakeClassifyTask(Task):
    """Random sequences with random labels: memorisable, and nothing to generalise."""

    name = "fake"
    DataConfig = FakeData
    ModelConfig = FakeModel

    def prepare(self, state=None):
        d = self.cfg.data
        g = torch.Generator().manual_seed(self.cfg.seed)
        self.x = torch.randn(d.T, d.n, d.D, generator=g)
        self.y = torch.randint(d.classes, (d.n,), generator=g)

    def build_model(self):
        return FakeNet(self.cfg.data.D, self.cfg.data.classes, self.cfg.model)

    def train_loader(self, epoch):
        B = self.cfg.train.batch_size
        return [(self.x[:, i : i + B], self.y[i : i + B]) for i in range(0, self.cfg.data.n, B)]

    def loss(self, model, batch, carry=None):
        x, y = batch
        logits = model(x)
        acc = (logits.argmax(-1) == y).float().mean()
        return StepOutput(F.cross_entropy(logits, y), len(y), extra={"acc": acc})

    @torch.no_grad()
    def evaluate(self, model, split):
        return {"loss": float(F.cross_entropy(model(self.x), self.y))}

    def expected_initial_loss(self):
        C = self.cfg.data.classes
        return (math.log(C), f"uniform over C = {C} classes") if self.cfg.model.expected else None


def fake_cfg(monkeypatch, model=None, **train):
    monkeypatch.setitem(TASKS, "fake", "tests.diagnostics.test_checks:FakeClassifyTask")
    settings = {"batch_size": 8, "optimizer": "adam", "lr": 0.02, **train}
    return build_run_config({"task": "fake", "model": model or {}, "train": settings})


def lm_cfg(tmp_path, text_file, **train):
    from rnnlab.tasks.base import load_run_config

    return load_run_config(tiny_config(tmp_path / "lm.toml", text_file, **train))


# ---------------------------------------------------------------------- regularisation off
def test_regularisation_off_zeroes_and_reports(tmp_path, text_file):
    cfg = lm_cfg(tmp_path, text_file, weight_decay=1e-3, weight_noise=0.01)
    new, changes = regularisation_off(cfg)
    assert changes == [
        ("model.dropout", 0.1, 0),
        ("train.weight_decay", 1e-3, 0),
        ("train.weight_noise", 0.01, 0),
    ]
    assert (new.model.dropout, new.train.weight_decay, new.train.weight_noise) == (0, 0, 0)
    assert cfg.model.dropout == 0.1  # the original is untouched
    assert "model.dropout 0.1 -> 0" in describe_changes(changes)
    assert regularisation_off(new)[1] == []
    assert describe_changes([]) == "regularisation off (the config had none on)"


# ---------------------------------------------------------------------- initial loss
def test_initial_loss_of_the_lm_is_ln_v(tmp_path, text_file):
    r = check_initial_loss(lm_cfg(tmp_path, text_file), batches=4)
    V = len(set(text_file.read_text()))  # characters of the corpus (no <unk> needed)
    assert r.expected == pytest.approx(math.log(V))
    assert r.measured == pytest.approx(math.log(V), abs=0.05)
    assert r.verdict == "ok" and r.passed and r.batches == 4
    assert r.changes == [("model.dropout", 0.1, 0)]
    assert any(line.startswith("verdict: OK") for line in r.lines())


def test_initial_loss_of_a_fake_classifier(monkeypatch):
    r = check_initial_loss(fake_cfg(monkeypatch, {"dropout": 0.3}))
    assert r.expected == pytest.approx(math.log(5))
    assert r.measured == pytest.approx(math.log(5), rel=0.05)
    assert r.verdict == "ok" and r.batches == 4  # 32 sequences in batches of 8
    assert r.changes == [("model.dropout", 0.3, 0)]


def test_initial_loss_too_high_when_the_output_is_confident(monkeypatch):
    r = check_initial_loss(fake_cfg(monkeypatch, {"init_scale": 40.0}))
    assert r.verdict == "high" and not r.passed
    assert r.measured > 1.5 * math.log(5)
    assert "TOO HIGH" in r.lines()[-1] and "initial weights too large" in r.lines()[-1]


def test_initial_loss_unknown_expectation_is_said(monkeypatch):
    r = check_initial_loss(fake_cfg(monkeypatch, {"expected": False}))
    assert r.expected is None and r.verdict == "unknown" and r.passed
    text = "\n".join(r.lines())
    assert "expected_initial_loss() returns None" in text and "NOT CHECKED" in text


def test_initial_loss_too_low_is_flagged():
    from rnnlab.diagnostics.checks import InitialLoss

    r = InitialLoss(0.2, 0.01, 5, math.log(10), "ln 10", 0.1)
    assert r.verdict == "low" and "TOO LOW" in r.lines()[-1]


# ---------------------------------------------------------------------- overfit
def test_overfit_memorises_random_labels(monkeypatch):
    r = check_overfit(fake_cfg(monkeypatch, {"dropout": 0.5}), batches=2, steps=300)
    assert r.verdict == "passed", r.lines()
    assert r.accuracy == pytest.approx(1.0)
    assert r.batches == 2 and r.steps < 300  # stopped early once memorised
    assert r.final < 0.05 * r.initial
    assert r.records[0]["loss"] > r.records[-1]["loss"]
    assert all("acc" in rec for rec in r.records)
    assert r.changes == [("model.dropout", 0.5, 0)]


def test_overfit_fails_when_only_a_bias_can_learn(monkeypatch):
    r = check_overfit(fake_cfg(monkeypatch, {"frozen": True}), batches=2, steps=100)
    assert r.verdict == "failed" and not r.passed
    assert r.ratio > 0.5 and r.accuracy < 0.5
    assert "FAILED" in r.lines()[-1]


def test_overfit_reports_divergence(tmp_path, text_file):
    from rnnlab.tasks.base import load_run_config

    relu = 'cell = "rnn"\nvariant = { nonlinearity = "relu" }'
    path = tiny_config(
        tmp_path / "lm.toml", text_file, relu, optimizer="sgd", clip_norm=0.0, lr=1e4
    )
    r = check_overfit(load_run_config(path), batches=2, steps=50)
    assert r.verdict == "diverged" and r.diverged and math.isnan(r.final)
    assert r.steps < 50 and "DIVERGED" in r.lines()[-1]


def test_overfit_argument_errors(monkeypatch):
    from rnnlab.errors import UserError

    with pytest.raises(UserError, match="--steps"):
        check_overfit(fake_cfg(monkeypatch), steps=0)
    with pytest.raises(UserError, match="--lr"):
        check_overfit(fake_cfg(monkeypatch), lr=-1.0)
    with pytest.raises(UserError, match="number of batches"):
        check_overfit(fake_cfg(monkeypatch), batches=0)


# ---------------------------------------------------------------------- commands
def test_check_commands(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "lm.toml", text_file, weight_decay=1e-4, threads=1)
    r = run_cli("check", "initial-loss", "--config", str(cfg), "--batches", "3")
    assert r.returncode == 0, r.stderr
    assert "verdict: OK" in r.stdout
    assert "regularisation off for this check: model.dropout 0.1 -> 0" in r.stdout
    assert "train.weight_decay 0.0001 -> 0" in r.stdout
    r = run_cli(
        "check", "overfit", "--config", str(cfg), "--batches", "2", "--steps", "60",
        "--lr", "0.03", "--runs-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert r.returncode in (0, 1), r.stderr
    (out,) = (tmp_path / "runs" / "diagnostics").iterdir()
    summary = json.loads((out / "overfit.json").read_text())
    assert r.returncode == (0 if summary["verdict"] == "passed" else 1)
    said = {"passed": "PASSED", "partial": "NOT YET", "failed": "FAILED", "diverged": "DIVERGED"}
    assert f"verdict: {said[summary['verdict']]}" in r.stdout
    assert (out / "plots" / "overfit.png").stat().st_size > 5000
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert len(lines) >= 2 and json.loads(lines[0])["split"] == "train"
    assert "dropout = 0.0" in (out / "config.toml").read_text()


def test_check_command_user_errors(tmp_path, text_file, capsys):
    from rnnlab.cli import main

    cfg = tiny_config(tmp_path / "lm.toml", text_file)
    assert main(["check", "initial-loss", "--config", str(cfg), "--tolerance", "0"]) == 2
    assert "--tolerance must be > 0" in capsys.readouterr().err
    assert main(["check", "overfit", "--config", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().err
