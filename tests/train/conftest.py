"""Tiny language-model runs for the trainer tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TEXT = "the quick brown fox jumps over the lazy dog. " * 60


def tiny_config(path: Path, text_file: Path, model: str = 'cell = "lstm"', **train) -> Path:
    settings = {
        "epochs": 3,
        "batch_size": 4,
        "optimizer": "adam",
        "lr": 0.01,
        "clip_norm": 1.0,
        "eval_every": 7,
        "log_every": 3,
        "checkpoint_minutes": 0.0,
    }
    settings.update(train)
    lines = [
        'task = "lm"',
        'name = "tiny"',
        "seed = 3",
        "[data]",
        'dataset = "text"',
        f'path = "{text_file}"',
        "bptt = 8",
        "eval_batch_size = 2",
        "[model]",
        model,
        "embed_size = 8",
        "hidden_size = 16",
        "num_layers = 2",
        "dropout = 0.1",
        "[train]",
    ]
    for k, v in settings.items():
        lines.append(
            f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
        )
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def text_file(tmp_path) -> Path:
    p = tmp_path / "corpus.txt"
    p.write_text(TEXT)
    return p


def rnnlab(*args, env=None, check=False, cwd=None):
    """Run the CLI in a fresh process (like a user would)."""
    full_env = {**os.environ, "RNNLAB_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "rnnlab", *args],
        capture_output=True,
        text=True,
        env=full_env,
        check=check,
        cwd=cwd,
    )
