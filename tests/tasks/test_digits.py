"""Digits read row by row or pixel by pixel."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.data import load_digits
from rnnlab.tasks.base import build_run_config
from rnnlab.tasks.digits import as_sequences
from rnnlab.train.trainer import Trainer

pytest.importorskip("sklearn")


def test_rows_and_pixels_are_the_image_read_in_order():
    images, _ = load_digits("valid")
    rows, pixels = as_sequences(images, "rows"), as_sequences(images, "pixels")
    N = len(images)
    assert rows.shape == (8, N, 8) and pixels.shape == (64, N, 1)
    assert torch.equal(rows[3, 5], torch.from_numpy(images[5, 3]))  # step 3 = row 3
    assert torch.equal(pixels[8 * 2 + 7, 5, 0], torch.tensor(images[5, 2, 7]))  # row-major
    assert np.array_equal(pixels[:, 5, 0].numpy(), images[5].reshape(-1))


def _trainer(tmp_path, mode, **model):
    raw = {
        "task": "digits",
        "data": {"mode": mode},
        "model": {"cell": "gru", "hidden_size": 32, **model},
        "train": {
            "batch_size": 32,
            "lr": 1e-2,
            "clip_norm": 1.0,
            "threads": 1,
            "epochs": 3,
            "log_every": 10,
            "checkpoint_minutes": 0.0,
        },
    }
    return Trainer.start(build_run_config(raw), root=tmp_path, quiet=True)


def test_row_reader_learns_the_digits(tmp_path):
    trainer = _trainer(tmp_path, "rows")
    assert trainer.task.splits == ("valid", "test")
    assert trainer.evaluate("valid")["loss"] == pytest.approx(np.log(10), abs=0.3)
    final = trainer.fit()
    assert final["test"]["acc"] > 0.8, final  # chance is 0.1
    assert {"loss", "acc"} <= set(final["valid"])


def test_pixel_reader_has_64_steps_of_one_pixel(tmp_path):
    trainer = _trainer(tmp_path, "pixels", pooling="max")
    x, y = trainer.task.train_loader(0)[0]
    assert x.shape == (64, 32, 1) and y.shape == (32,)
    assert trainer.model.encoder.rnn.input_size == 1
