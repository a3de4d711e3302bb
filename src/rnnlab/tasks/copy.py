"""The copy-memory task: remember S symbols across T steps of blanks, then write them out.

Dimension letters: T the delay (``data.length``), S symbols to copy (``data.copy_length``, 10),
A the alphabet (``data.alphabet``, 8), B batch, C output classes (A + 1).

Definition (Arjovsky, Shah & Bengio 2016, after Hochreiter & Schmidhuber 1997). Symbols: 0 is the
blank, 1..A the data symbols, A + 1 the delimiter. An example has ``T + 2S`` steps:

- input: S data symbols drawn uniformly from 1..A, then T - 1 blanks, the delimiter, S blanks;
- target: ``T + S`` blanks, then the S data symbols in their original order.

So the model must hold the S symbols for T steps and write them out after the delimiter. A
:class:`rnnlab.models.tagger.SequenceTagger` reads the symbols (embedded) and outputs C = A + 1
logits at every step (blank or a data symbol). The loss is the cross-entropy averaged over all
``T + 2S`` steps of every example (``loss``); ``acc`` is the fraction of the S copied symbols
predicted correctly (argmax).

Baseline: a model that outputs blanks until the delimiter and then a uniform guess over the A data
symbols scores ``S ln A / (T + 2S)`` (``10 ln 8 / (T + 20)`` with the defaults): the memoryless
solution every cell finds first. Only a model that remembers goes below it.

Data: generated, deterministic from ``data.seed`` (see :mod:`rnnlab.tasks.adding`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError
from rnnlab.models.tagger import SequenceTagger, TaggerConfig
from rnnlab.tasks.adding import GeneratedDataConfig, GeneratedTask
from rnnlab.tasks.base import StepOutput

BLANK = 0


@dataclass
class CopyDataConfig(GeneratedDataConfig):
    """The ``[data]`` section of the copy-memory task (and :class:`GeneratedDataConfig`'s fields,
    where ``length`` is the delay T).

    Attributes:
        copy_length: S, symbols to remember.
        alphabet: A, the number of data symbols.
    """

    copy_length: int = 10
    alphabet: int = 8

    def validate(self) -> None:
        super().validate()
        if self.copy_length < 1 or self.alphabet < 2:
            raise ConfigError("data.copy_length must be >= 1 and data.alphabet >= 2")


def copy_baseline(T: int, S: int = 10, A: int = 8) -> float:
    """Cross-entropy per step of the memoryless solution: ``S ln A / (T + 2S)``."""
    return S * math.log(A) / (T + 2 * S)


def make_copy(
    rng: np.random.Generator, n: int, T: int, S: int = 10, A: int = 8
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` copy-memory examples (see the module docstring).

    Returns:
        ``x: (T + 2S, n)`` int64 input symbols and ``y: (T + 2S, n)`` int64 targets.
    """
    data = rng.integers(1, A + 1, size=(S, n))  # (S, n)
    x = np.zeros((T + 2 * S, n), dtype=np.int64)
    y = np.zeros((T + 2 * S, n), dtype=np.int64)
    x[:S] = data
    x[S + T - 1] = A + 1  # the delimiter
    y[T + S :] = data
    return torch.from_numpy(x), torch.from_numpy(y)


class CopyTask(GeneratedTask):
    name = "copy"
    DataConfig = CopyDataConfig
    ModelConfig = TaggerConfig

    @property
    def baseline(self) -> float:
        d = self.cfg.data
        return copy_baseline(d.length, d.copy_length, d.alphabet)

    def generate(self, rng, n):
        d = self.cfg.data
        return make_copy(rng, n, d.length, d.copy_length, d.alphabet)

    def build_model(self) -> SequenceTagger:
        A = self.cfg.data.alphabet
        return SequenceTagger(self.cfg.model, A + 1, vocab_size=A + 2)

    def last_step_loss(self, output: torch.Tensor, batch) -> torch.Tensor:
        """Per-example cross-entropy ``(B,)`` of the ``(B, C)`` logits at the last step (what
        :mod:`rnnlab.diagnostics.gradflow` differentiates)."""
        return F.cross_entropy(output, batch[1][-1], reduction="none")

    def loss(self, model, batch, carry=None) -> StepOutput:
        x, y = batch
        logits = model(x)  # (T + 2S, B, C)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        correct, copied = self._copied(logits, y)
        return StepOutput(loss, x.shape[1], extra={"acc": correct / copied})

    def _copied(self, logits, y) -> tuple[torch.Tensor, int]:
        """(symbols copied correctly, symbols to copy) over the last S steps of a batch."""
        S = self.cfg.data.copy_length
        correct = (logits[-S:].argmax(-1) == y[-S:]).sum()
        return correct, y[-S:].numel()

    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        total, steps, correct, copied = 0.0, 0, 0, 0
        for x, y in self.eval_batches(split):
            logits = model(x)
            total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
            steps += y.numel()
            c, k = self._copied(logits, y)
            correct, copied = correct + int(c), copied + k
        loss = total / steps
        return {
            "loss": loss,
            "acc": correct / copied,
            "baseline": self.baseline,
            "vs_baseline": loss / self.baseline,
        }

    def headline(self, metrics: dict) -> str:
        acc = f" acc {metrics['acc']:.3f}" if "acc" in metrics else ""
        return f"loss {metrics['loss']:.4f}{acc} (baseline {self.baseline:.4f})"

    def expected_initial_loss(self):
        C = self.cfg.data.alphabet + 1
        return math.log(C), f"uniform prediction over C = {C} output symbols gives ln C"
