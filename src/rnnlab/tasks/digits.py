"""Digit images read step by step (one to one, processed sequentially).

Dimension letters: T time, B batch, D input features per step, C classes (10).

scikit-learn's bundled 8x8 handwritten digits (:func:`rnnlab.data.load_digits`: 1,078 train /
359 valid / 360 test images, pixel values in [0, 1], no download) are read

- ``mode = "rows"``: row by row, T = 8 steps of D = 8 pixels;
- ``mode = "pixels"``: pixel by pixel in row-major order, T = 64 steps of D = 1 pixel (a small
  version of the sequential MNIST of Le et al. 2015: the label depends on the whole image, so the
  first pixels must be remembered for 64 steps).

The classifier (:class:`rnnlab.models.classifier.SequenceClassifier`, feature inputs) reads the
image and outputs 10 logits after the last step (or from the pooled outputs). Loss: mean
cross-entropy over the images; ``acc``: fraction classified correctly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError
from rnnlab.models.classifier import ClassifierConfig, SequenceClassifier
from rnnlab.tasks.base import StepOutput, Task
from rnnlab.tasks.classify import IndexBatches, accuracy, shuffled_batches

NUM_CLASSES = 10


@dataclass
class DigitsDataConfig:
    """The ``[data]`` section of a digits config.

    Attributes:
        mode: rows (T = 8, D = 8) or pixels (T = 64, D = 1).
        split_seed: the permutation that splits the images 60/20/20 (keep 0 to compare results).
    """

    mode: Literal["rows", "pixels"] = "rows"
    split_seed: int = 0

    def validate(self) -> None:
        if self.split_seed < 0:
            raise ConfigError("data.split_seed must be >= 0")


def as_sequences(images: np.ndarray, mode: str) -> torch.Tensor:
    """``images: (N, 8, 8)`` -> time-major ``(T, N, D)``: ``(8, N, 8)`` rows or ``(64, N, 1)``
    pixels."""
    N = images.shape[0]
    if mode == "rows":
        seq = images  # (N, 8, 8): step t is row t
    else:
        seq = images.reshape(N, 64, 1)  # (N, 64, 1): row-major pixel order
    return torch.from_numpy(np.ascontiguousarray(seq.transpose(1, 0, 2)))  # N x T x D -> T x N x D


class DigitsTask(Task):
    name = "digits"
    DataConfig = DigitsDataConfig
    ModelConfig = ClassifierConfig
    splits = ("valid", "test")

    def prepare(self, state: dict | None = None) -> None:
        from rnnlab.data import load_digits

        d = self.cfg.data
        self.data = {}
        for split in ("train", *self.splits):
            images, labels = load_digits(split, seed=d.split_seed)
            self.data[split] = (as_sequences(images, d.mode), torch.from_numpy(labels.copy()))

    def build_model(self) -> SequenceClassifier:
        D = self.data["train"][0].shape[-1]
        return SequenceClassifier(self.cfg.model, NUM_CLASSES, input_size=D)

    def _make(self, split: str):
        x, y = self.data[split]

        def make(idx: np.ndarray):
            i = torch.from_numpy(idx)
            return x[:, i].to(self.device), y[i].to(self.device)  # (T, B, D), (B,)

        return make

    def train_loader(self, epoch: int) -> IndexBatches:
        n = self.data["train"][1].numel()
        batches = shuffled_batches(n, self.cfg.train.batch_size, self.cfg.seed, epoch)
        return IndexBatches(batches, self._make("train"))

    def loss(self, model, batch, carry=None) -> StepOutput:
        x, y = batch
        logits = model(x)  # (B, C)
        return StepOutput(F.cross_entropy(logits, y), len(y), extra={"acc": accuracy(logits, y)})

    def count_items(self, batch) -> int:
        return len(batch[1])

    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        x, y = self.data[split]
        B = self.cfg.train.eval_batch_size or self.cfg.train.batch_size
        logits = torch.cat(
            [model(x[:, i : i + B].to(self.device)).float().cpu() for i in range(0, len(y), B)]
        )  # (N, C)
        return {"loss": float(F.cross_entropy(logits, y)), "acc": float(accuracy(logits, y))}

    def headline(self, metrics: dict) -> str:
        acc = f" acc {metrics['acc']:.4f}" if "acc" in metrics else ""
        return f"loss {metrics['loss']:.4f}{acc}"

    def expected_initial_loss(self):
        return math.log(NUM_CLASSES), "uniform prediction over 10 digits gives ln 10"
