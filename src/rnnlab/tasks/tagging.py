"""Per-step tagging (many to many, aligned): label every frame of a noisy signal with its regime.

Dimension letters: T time (frames, ``data.length``), B batch, K regimes (``data.num_regimes``).

Definition (generated; a stand-in for frame-level video classification). A sequence of T frames
is cut into segments of ``min_segment .. max_segment`` frames (uniform integer lengths); the first
segment's regime is uniform over 0..K-1 and each next one uniform over the K - 1 others. In
regime k the signal is a sine of frequency ``f_k = (k + 1) / (4 (K + 1))`` cycles per frame,
whose phase runs on continuously across changes, plus Gaussian noise::

    phi_0 ~ U(0, 2 pi),  phi_t = phi_{t-1} + 2 pi f_{k_t},  x_t = sin(phi_t) + noise * e_t

and the label of frame t is its regime ``k_t``. One frame says nothing about the regime (every
regime passes through every value): the tagger must read the frequency from several frames, so a
unidirectional tagger lags behind each change, and a bidirectional one, which also sees the frames
after t, can place the change exactly.

Metrics: cross-entropy per frame (``loss``), per-frame accuracy (``acc``), and the accuracy on the
5 frames from each regime change on (``acc_change``), where reading ahead helps most. Baseline:
the regimes are equally frequent by symmetry, so chance is ``acc = 1 / K`` (loss ``ln K``).

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

#: frames from a regime change that ``acc_change`` counts
CHANGE_WINDOW = 5


@dataclass
class TaggingDataConfig(GeneratedDataConfig):
    """The ``[data]`` section of the regime-tagging task (and :class:`GeneratedDataConfig`'s
    fields, where ``length`` is the number of frames T).

    Attributes:
        num_regimes: K.
        min_segment: shortest segment, in frames.
        max_segment: longest segment, in frames.
        noise: standard deviation of the Gaussian noise (the sine has amplitude 1).
    """

    num_regimes: int = 3
    min_segment: int = 10
    max_segment: int = 30
    noise: float = 0.5

    def validate(self) -> None:
        super().validate()
        if self.num_regimes < 2:
            raise ConfigError("data.num_regimes must be >= 2")
        if not 1 <= self.min_segment <= self.max_segment:
            raise ConfigError("data.min_segment and data.max_segment need 1 <= min <= max")
        if self.noise < 0:
            raise ConfigError("data.noise must be >= 0")


def regime_frequencies(K: int) -> np.ndarray:
    """``(K,)`` frequencies in cycles per frame: ``(k + 1) / (4 (K + 1))``, all below 1/4."""
    return (np.arange(K) + 1) / (4 * (K + 1))


def make_regimes(
    rng: np.random.Generator,
    n: int,
    T: int,
    K: int = 3,
    min_segment: int = 10,
    max_segment: int = 30,
    noise: float = 0.5,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` regime-tagging sequences (see the module docstring).

    Returns:
        ``x: (T, n, 1)`` float32 signal and ``y: (T, n)`` int64 regimes.
    """
    y = np.empty((T, n), dtype=np.int64)
    for b in range(n):
        t, k = 0, int(rng.integers(K))
        while t < T:
            seg = int(rng.integers(min_segment, max_segment + 1))
            y[t : t + seg, b] = k
            t += seg
            k = (k + 1 + int(rng.integers(K - 1))) % K  # uniform over the K - 1 others
    phase0 = rng.uniform(0.0, 2 * np.pi, size=n)
    phase = phase0 + 2 * np.pi * np.cumsum(regime_frequencies(K)[y], axis=0)  # (T, n)
    x = np.sin(phase) + noise * rng.standard_normal((T, n))
    return torch.from_numpy(x.astype(np.float32)[..., None]), torch.from_numpy(y)


def change_mask(y: torch.Tensor, window: int = CHANGE_WINDOW) -> torch.Tensor:
    """``(T, B)`` bool: frames less than ``window`` frames after a regime change (the frame
    where the new regime starts included). The first segment has no change."""
    T = y.shape[0]
    changed = torch.zeros_like(y, dtype=torch.bool)
    changed[1:] = y[1:] != y[:-1]
    mask = changed.clone()
    for lag in range(1, window):
        mask[lag:] |= changed[: T - lag]
    return mask


class TaggingTask(GeneratedTask):
    name = "tagging"
    DataConfig = TaggingDataConfig
    ModelConfig = TaggerConfig

    def generate(self, rng, n):
        d = self.cfg.data
        return make_regimes(rng, n, d.length, d.num_regimes, d.min_segment, d.max_segment, d.noise)

    def build_model(self) -> SequenceTagger:
        return SequenceTagger(self.cfg.model, self.cfg.data.num_regimes, input_size=1)

    def loss(self, model, batch, carry=None) -> StepOutput:
        x, y = batch
        logits = model(x)  # (T, B, K)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        acc = (logits.argmax(-1) == y).float().mean()
        return StepOutput(loss, y.numel(), extra={"acc": acc})

    def count_items(self, batch) -> int:
        return batch[1].numel()

    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        total, frames, correct, near, near_correct = 0.0, 0, 0, 0, 0
        for x, y in self.eval_batches(split):
            logits = model(x)
            total += float(F.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum"))
            hit = logits.argmax(-1) == y
            mask = change_mask(y)
            frames += y.numel()
            correct += int(hit.sum())
            near += int(mask.sum())
            near_correct += int((hit & mask).sum())
        return {
            "loss": total / frames,
            "acc": correct / frames,
            "acc_change": near_correct / max(1, near),
            "chance_acc": 1.0 / self.cfg.data.num_regimes,
        }

    def headline(self, metrics: dict) -> str:
        acc = f" acc {metrics['acc']:.4f}" if "acc" in metrics else ""
        return f"loss {metrics['loss']:.4f}{acc}"

    def expected_initial_loss(self):
        K = self.cfg.data.num_regimes
        return math.log(K), f"uniform prediction over K = {K} regimes gives ln K"

    @torch.no_grad()
    def example_figure(self, models: dict, split: str = "test", index: int = 0):
        """A figure of one sequence of ``split``: the signal, its true regimes and the regimes
        predicted by each model of ``models`` (``{label: model}``)."""
        from rnnlab.report.plots import plt  # the Agg backend: files only

        x, y = (t[:, index : index + 1] for t in self.sets[split])
        fig, (a0, a1) = plt.subplots(2, 1, figsize=(9, 3.6), sharex=True)
        a0.plot(x[:, 0, 0].numpy(), lw=0.8, color="0.3")
        a0.set_ylabel("signal")
        steps = range(len(y))
        a1.step(steps, y[:, 0].numpy(), where="mid", label="true regime", lw=2.5, color="0.75")
        for n, (label, model) in enumerate(models.items()):
            was = model.training
            model.eval()
            pred = model(x.to(self.device)).argmax(-1)[:, 0].cpu()  # (T,)
            model.train(was)
            a1.step(steps, pred.numpy() + 0.06 * (n + 1), where="mid", label=label, lw=1)
        a1.set_yticks(range(self.cfg.data.num_regimes))
        a1.set_ylabel("regime")
        a1.set_xlabel("frame")
        a1.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
        fig.tight_layout()
        return fig

    def report_sections(self, model, run):
        from rnnlab.report.plots import to_data_uri

        fig = self.example_figure({"predicted": model})
        return [("A test sequence", f'<img src="{to_data_uri(fig)}" alt="regimes" width="760">')]
