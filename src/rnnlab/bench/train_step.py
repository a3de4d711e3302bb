"""Does the trainer add cost? One training step of the PTB 2x200 language model (tied weights,
dropout 0.2, batch 20, unroll 35, vocabulary 10,000, SGD lr 20, clip 0.25) through rnnlab's trainer,
against a plain PyTorch loop with torch.nn.LSTM doing the same work (pytorch/examples
word_language_model), timed in alternating blocks in the same run.

The token ids are random: the cost of a step does not depend on which words they are.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnlab.bench.harness import interleaved_medians
from rnnlab.models.lm import LanguageModel
from rnnlab.tasks.base import build_run_config
from rnnlab.tasks.lm import LanguageModelTask

V, E, H, L, B, T = 10_000, 200, 200, 2, 20, 35


def _config() -> dict:
    """The run config of the benchmarked model (read at call time, so tests can shrink it)."""
    return {
        "task": "lm",
        "name": "bench",
        "data": {"bptt": T},
        "model": {
            "cell": "lstm",
            "embed_size": E,
            "hidden_size": H,
            "num_layers": L,
            "dropout": 0.2,
            "tie_weights": True,
        },
        "train": {"optimizer": "sgd", "lr": 20.0, "clip_norm": 0.25, "batch_size": B},
    }


class _RandomTokensTask(LanguageModelTask):
    """The LM task on a random token stream (no data files)."""

    def prepare(self, state=None):
        gen = torch.Generator().manual_seed(0)
        self.level, self.splits = "word", ("valid",)
        self._ids = {"train": torch.randint(0, V, (B * T * 50 + 1,), generator=gen)}

    def build_model(self):
        return LanguageModel(V, self.cfg.model)


class PlainModel(nn.Module):
    """pytorch/examples' RNNModel: Embedding -> torch.nn.LSTM -> Dropout -> tied Linear."""

    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(V, E)
        self.rnn = nn.LSTM(E, H, L, dropout=0.2)
        self.decoder = nn.Linear(H, V)
        self.decoder.weight = self.encoder.weight

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden


def bench_train_step(quick: bool = False, device: str = "cpu") -> dict:
    import tempfile

    from rnnlab.train.run_dir import RunDir
    from rnnlab.train.trainer import Trainer

    torch.manual_seed(0)
    cfg = build_run_config(_config())
    with tempfile.TemporaryDirectory() as tmp:
        task = _RandomTokensTask(cfg)
        trainer = Trainer(cfg.replace_train(device=device), RunDir(tmp), task, quiet=True)
        task.prepare()
        trainer._build()
        loader = task.train_loader(0)
        state = {"i": 0}

        def ours():
            trainer.step_once([loader[state["i"] % len(loader)]])
            state["i"] += 1

        plain = PlainModel().to(device)
        criterion = nn.CrossEntropyLoss()
        hidden = [None]

        def baseline():
            x, y = loader[state["i"] % len(loader)]
            h = hidden[0]
            if h is not None:
                h = tuple(t.detach() for t in h)  # repackage_hidden
            plain.zero_grad()
            out, h = plain(x, h)
            loss = criterion(out.view(-1, V), y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(plain.parameters(), 0.25)
            for p in plain.parameters():
                p.data.add_(p.grad, alpha=-20.0)
            hidden[0] = h
            loss.item()  # both loops read the loss once per step

        reps, warmup = (8, 3) if quick else (20, 5)
        tc, tb = interleaved_medians(ours, baseline, reps, warmup, device, rounds=3)
    return {
        "name": "train step, PTB 2x200 LSTM LM (tied, dropout 0.2, B=20, T=35)",
        "engine": "rnnlab trainer",
        "baseline": "plain PyTorch loop with torch.nn.LSTM",
        "device": device,
        "median_ms": round(tc * 1e3, 2),
        "baseline_ms": round(tb * 1e3, 2),
        "ratio": round(tc / tb, 3),
    }
