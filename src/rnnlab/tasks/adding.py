"""The adding problem: a long-term dependency a tanh RNN cannot bridge and gated cells can.

Dimension letters: T time (the sequence length, ``data.length``), B batch.

Definition (Hochreiter & Schmidhuber 1997, experiment 4, in the two-channel form of Le, Jaitly &
Hinton 2015 and Arjovsky et al. 2016). Each example is T steps of two channels, ``x: (T, 2)``:

- channel 0: T values drawn independently from U(0, 1);
- channel 1: the markers, zero everywhere except two ones: the first at a step drawn uniformly
  from ``0 .. T//2 - 1``, the second uniformly from ``T//2 .. T - 1``.

The target is the sum of the two marked values (in [0, 2]). The model reads all T steps and
outputs one number after the last (:class:`rnnlab.models.classifier.SequenceClassifier` with one
output and ``pooling = "last"``). The error is the mean squared error over the examples (``loss``).

Baseline: always predicting 1 (the target's mean) scores the target's variance,
``Var(u1 + u2) = 2 / 12 = 0.1667``; a model that has not found the dependency stays there. A model
that solves the task goes far below (an error of 0.01 is a typical "solved" level).

Data: generated, deterministic from ``data.seed``. The validation and test sets are fixed
(``valid_size`` and ``test_size`` examples drawn from the seed streams ``(seed, 1)`` and
``(seed, 2)``); training batch i of epoch e is drawn fresh from the stream ``(seed, 0, e, i)``,
so training never sees a validation or test example and a resumed run sees the same batches.

:class:`GeneratedTask` is the shared machinery of the generated tasks (adding, copy, tagging).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError
from rnnlab.models.classifier import ClassifierConfig, SequenceClassifier
from rnnlab.tasks.base import StepOutput, Task

#: the error of always predicting 1: Var(u1 + u2) for u1, u2 ~ U(0, 1) independent
ADDING_BASELINE = 1.0 / 6.0

_STREAMS = {"train": 0, "valid": 1, "test": 2}


def stream_rng(seed: int, split: str, *more: int) -> np.random.Generator:
    """The generator of split ``split`` (and, for training, of epoch and batch ``more``)."""
    return np.random.default_rng([seed % 2**32, _STREAMS[split], *more])


@dataclass
class GeneratedDataConfig:
    """The ``[data]`` fields every generated task has.

    Attributes:
        length: T, the length of the dependency (see the task for what it means exactly).
        seed: the seed of every generated example (the run's ``seed`` sets the model's init).
        train_size: training examples per epoch (fresh ones every epoch).
        valid_size: examples in the fixed validation set.
        test_size: examples in the fixed test set.
    """

    length: int = 100
    seed: int = 0
    train_size: int = 20000
    valid_size: int = 1000
    test_size: int = 1000

    def validate(self) -> None:
        if self.length < 2:
            raise ConfigError(f"data.length must be >= 2, got {self.length}")
        for name in ("train_size", "valid_size", "test_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"data.{name} must be >= 1, got {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError("data.seed must be >= 0")


class GeneratedBatches(Sequence):
    """The training batches of one epoch, generated on access: batch i of epoch e comes from
    ``stream_rng(seed, "train", e, i)``, so any batch can be rebuilt alone (exact resume)."""

    def __init__(self, task: GeneratedTask, epoch: int):
        d, B = task.cfg.data, task.cfg.train.batch_size
        self.task, self.epoch = task, epoch
        self.sizes = [min(B, d.train_size - i) for i in range(0, d.train_size, B)]

    def __len__(self) -> int:
        return len(self.sizes)

    def __getitem__(self, i: int):
        d = self.task.cfg.data
        rng = stream_rng(d.seed, "train", self.epoch, i)
        return self.task.to_device(self.task.generate(rng, self.sizes[i]))


class GeneratedTask(Task):
    """A task whose examples come from :meth:`generate` (a function of a NumPy generator)."""

    splits = ("valid", "test")

    def generate(self, rng: np.random.Generator, n: int) -> tuple[torch.Tensor, ...]:
        """``n`` examples as a tuple of time-major tensors (``x: (T, n, ...)`` first)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def prepare(self, state: dict | None = None) -> None:
        d = self.cfg.data
        self.sets = {
            split: self.generate(stream_rng(d.seed, split), getattr(d, f"{split}_size"))
            for split in self.splits
        }

    def to_device(self, batch: tuple) -> tuple:
        return tuple(t.to(self.device) for t in batch)

    def train_loader(self, epoch: int) -> GeneratedBatches:
        return GeneratedBatches(self, epoch)

    def eval_batches(self, split: str):
        """The fixed ``split`` in evaluation batches (every tensor has the batch in dimension 1)."""
        data = self.sets[split]
        B = self.cfg.train.eval_batch_size or self.cfg.train.batch_size
        n = data[0].shape[1]
        for i in range(0, n, B):
            yield self.to_device(tuple(t[:, i : i + B] for t in data))

    def count_items(self, batch) -> int:
        return batch[0].shape[1]


@dataclass
class AddingDataConfig(GeneratedDataConfig):
    """The ``[data]`` section of the adding problem (see :class:`GeneratedDataConfig`); T is
    the number of steps."""


def make_adding(rng: np.random.Generator, n: int, T: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` adding-problem examples of length T (see the module docstring).

    Returns:
        ``x: (T, n, 2)`` float32 (values, markers) and ``y: (1, n)`` float32 targets (kept 2-D
        so that every tensor of a batch has the batch in dimension 1).
    """
    values = rng.random((T, n), dtype=np.float32)
    first = rng.integers(0, T // 2, size=n)
    second = rng.integers(T // 2, T, size=n)
    markers = np.zeros((T, n), dtype=np.float32)
    cols = np.arange(n)
    markers[first, cols] = 1.0
    markers[second, cols] = 1.0
    y = values[first, cols] + values[second, cols]
    x = np.stack([values, markers], axis=-1)  # (T, n, 2)
    return torch.from_numpy(x), torch.from_numpy(y[None, :])


class AddingTask(GeneratedTask):
    name = "adding"
    DataConfig = AddingDataConfig
    ModelConfig = ClassifierConfig
    baseline = ADDING_BASELINE

    def generate(self, rng, n):
        return make_adding(rng, n, self.cfg.data.length)

    def build_model(self) -> SequenceClassifier:
        return SequenceClassifier(self.cfg.model, 1, input_size=2)

    def predict(self, model, x: torch.Tensor) -> torch.Tensor:
        """``x: (T, B, 2)`` -> ``(B,)`` predicted sums."""
        return model(x)[:, 0]

    def last_step_loss(self, output: torch.Tensor, batch) -> torch.Tensor:
        """Per-example loss ``(B,)`` of the model's ``(B, 1)`` output after the last step (the
        whole loss of this task; :mod:`rnnlab.diagnostics.gradflow` differentiates it)."""
        return (output[:, 0] - batch[1][0]) ** 2

    def loss(self, model, batch, carry=None) -> StepOutput:
        x, y = batch
        return StepOutput(F.mse_loss(self.predict(model, x), y[0]), x.shape[1])

    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        total, n = 0.0, 0
        for x, y in self.eval_batches(split):
            total += float(F.mse_loss(self.predict(model, x), y[0], reduction="sum"))
            n += x.shape[1]
        mse = total / n
        return {"loss": mse, "baseline": self.baseline, "vs_baseline": mse / self.baseline}

    def headline(self, metrics: dict) -> str:
        return f"mse {metrics['loss']:.4f} (baseline {self.baseline:.4f})"

    def expected_initial_loss(self):
        return (
            1.0 + ADDING_BASELINE,
            "an untrained model outputs about 0: E[y^2] = E[y]^2 + Var(y) = 1 + 1/6",
        )
