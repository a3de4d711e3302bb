"""``rnnlab demo`` / ``make demo``: watch a character-level LSTM learn, offline, in minutes.

The torch demo trains the config ``configs/lm/demo.toml`` (kept identical to :data:`DEMO_CONFIG`, a
test checks it) on the embedded corpus, with a progress bar, validation bits per character before
and after, samples at three temperatures and a report. ``--engine reference`` trains the NumPy
reference engine instead: every gradient from the hand-written BPTT.
"""

from __future__ import annotations

import math
import time

from rich.console import Console

DEMO_CONFIG = {
    "task": "lm",
    "name": "demo",
    "seed": 0,
    "data": {"dataset": "embedded", "bptt": 64, "eval_batch_size": 16},
    "model": {
        "cell": "lstm",
        "embed_size": 64,
        "hidden_size": 256,
        "num_layers": 1,
        "dropout": 0.25,
    },
    "train": {
        "epochs": 50,
        "max_minutes": 1.75,
        "batch_size": 32,
        "optimizer": "adam",
        "lr": 3e-3,
        "clip_norm": 1.0,
        "eval_every": 300,
        "log_every": 25,
    },
}


def run_demo(engine: str = "torch", minutes: float | None = None, root=None) -> int:
    """Train the demo model for ``minutes`` (default: :data:`DEMO_CONFIG`'s budget), print samples."""
    if minutes is None:
        minutes = DEMO_CONFIG["train"]["max_minutes"]
    if engine == "reference":
        return _reference_demo(minutes)
    from rnnlab.report.html import write_report
    from rnnlab.tasks.base import build_run_config
    from rnnlab.train.trainer import Trainer

    console = Console()
    raw = {**DEMO_CONFIG, "train": {**DEMO_CONFIG["train"], "max_minutes": float(minutes)}}
    cfg = build_run_config(raw)
    console.print(
        f"[bold]rnnlab demo[/bold]: a character-level LSTM (H={cfg.model.hidden_size}) "
        f"on docstrings of the Python standard library, {minutes:g} minutes of training"
    )
    trainer = Trainer.start(cfg, root=root)
    before = trainer.evaluate("valid")
    final = trainer.fit()
    after = final["valid"]
    console.print(
        f"validation bits/char: before {before['bpc']:.3f} -> after {after['bpc']:.3f} "
        f"({final['steps']} steps, {final['train_seconds']:.0f} s)"
    )
    for t in (0.5, 0.8, 1.0):
        prime = trainer.task.prime_text()
        text = trainer.task.sample(trainer.model, prime, 240, temperature=t, seed=1)
        console.rule(f"sample, temperature {t}")
        console.print(prime + text, highlight=False, markup=False)
    path = write_report(trainer.run, model=trainer.model, task=trainer.task)
    console.rule()
    console.print(f"report: {path}")
    return 0


def _reference_demo(minutes: float) -> int:
    import numpy as np

    from rnnlab.data.text import load_embedded
    from rnnlab.reference.charlm import CharRNN, CharVocab, train_chars
    from rnnlab.reference.optim import Adam

    console = Console()
    train, valid = load_embedded("train"), load_embedded("valid")
    vocab = CharVocab.from_text(train + valid)
    model = CharRNN(len(vocab), 128, kind="lstm", seed=0, dtype=np.float32)
    console.print(
        f"[bold]rnnlab demo --engine reference[/bold]: NumPy LSTM (H=128), hand-written BPTT, "
        f"{len(train):,} training characters, {minutes:g} minutes"
    )
    ids, vids = vocab.encode(train), vocab.encode(valid[:20000])

    def valid_bpc():
        x, y = vids[:-1].reshape(-1, 1), vids[1:].reshape(-1, 1)
        loss, _, _ = model.loss(x[:2000], y[:2000])
        return loss / math.log(2)

    console.print(f"validation bits/char before: {valid_bpc():.3f}")
    start = time.monotonic()
    losses: list[float] = []
    steps = 0
    opt = Adam(lr=3e-3)
    while time.monotonic() - start < 60 * minutes:
        chunk = train_chars(model, ids, steps=25, seq_len=50, batch=32, seed=steps, opt=opt)
        losses += chunk
        steps += 25
        console.print(
            f"step {steps:5d}  train loss {np.mean(chunk):.3f} nats/char "
            f"({time.monotonic() - start:.0f} s)"
        )
    console.print(f"validation bits/char after: {valid_bpc():.3f}")
    for t in (0.5, 1.0):
        out = vocab.decode(model.sample(vocab.encode("The "), 200, temperature=t))
        console.rule(f"sample, temperature {t}")
        console.print("The " + out, highlight=False, markup=False)
    return 0
