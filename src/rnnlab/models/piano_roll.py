"""The piano-roll model: frames in -> recurrent stack -> 88 sigmoid outputs for the next frame.

Dimension letters: T time (frames), B batch (pieces), K = 88 keys, H hidden.

Each output unit is an independent Bernoulli over one key of the next frame, so the negative
log-likelihood of a frame is the sum over its K keys of the binary cross-entropy (in nats); this is
the model of Boulanger-Lewandowski et al. (2012, "RNN" baseline) and Chung et al. (2014).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.errors import ConfigError
from rnnlab.models.stack_config import StackConfig

K = 88  # piano keys


@dataclass
class PianoRollConfig(StackConfig):
    """The ``[model]`` section of a music config: the stack's fields
    (:class:`rnnlab.models.stack_config.StackConfig`; ``dropout`` also applies to the last
    layer's output before the 88-way layer) and:

    Attributes:
        input_dropout: dropout on the input frames (each key of each frame dropped independently).
        output_bias: ``zero`` (every key starts at probability 1/2) or ``marginal`` (each key's
            bias starts at the log-odds of its frequency in the training frames).
    """

    cell: str = "gru"
    hidden_size: int = 46
    input_dropout: float = 0.0
    output_bias: Literal["zero", "marginal"] = "zero"

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.input_dropout < 1:
            raise ConfigError(f"model.input_dropout must be in [0, 1), got {self.input_dropout}")


class PianoRollModel(nn.Module):
    """Next-frame model of binary piano rolls.

    ``forward(x, hidden=None) -> (logits, hidden)``: ``x: (T, B, K)`` input frames (frame t-1 at
    step t), ``logits: (T, B, K)`` the log-odds of every key of frame t, ``hidden`` the final
    recurrent state.
    """

    def __init__(self, cfg: PianoRollConfig, keys: int = K):
        super().__init__()
        self.cfg, self.keys = cfg, keys
        self.rnn = cfg.build_stack(keys)
        self.in_drop = nn.Dropout(cfg.input_dropout)
        self.drop = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(cfg.hidden_size, keys)
        with torch.no_grad():
            self.output.bias.zero_()

    def init_output_bias(self, key_freq: torch.Tensor) -> None:
        """Start each key's output at its training frequency ``key_freq: (K,)`` (clamped away
        from 0 and 1): the model then starts at the independent-keys NLL, not at ``K ln 2``."""
        p = key_freq.clamp(1e-4, 1 - 1e-4)
        with torch.no_grad():
            self.output.bias.copy_(torch.log(p) - torch.log1p(-p))

    def forward(self, x: torch.Tensor, hidden=None):
        T, B, _ = x.shape
        out, hidden = self.rnn(self.in_drop(x), hidden)  # (T, B, H)
        logits = self.output(self.drop(out))  # (T, B, K)
        return logits, hidden

    def parameter_counts(self) -> dict[str, int]:
        """Every trained tensor and its size, plus ``recurrent``, ``output`` and ``total``.

        The recurrent part includes both of torch's bias vectors (``bias_ih`` and ``bias_hh``,
        one of which is redundant for the tanh RNN, the LSTM and the reset-before GRU) and the
        peephole weights; the output part is the ``H x K`` matrix and its ``K`` biases.
        """
        counts = {name: p.numel() for name, p in self.named_parameters()}
        rec = sum(n for name, n in counts.items() if name.startswith("rnn."))
        out = sum(n for name, n in counts.items() if name.startswith("output."))
        return {**counts, "recurrent": rec, "output": out, "total": rec + out}


def frame_nll(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of every frame: the sum over keys of the Bernoulli NLL, in nats.

    Args:
        logits: ``(T, B, K)`` log-odds.
        target: ``(T, B, K)`` 0/1 frames.

    Returns:
        ``(T, B)``.
    """
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none").sum(-1)


def count_parameters(cfg: PianoRollConfig, keys: int = K) -> int:
    """The total parameter count of the model ``cfg`` describes (built on the meta device,
    so it costs nothing)."""
    with torch.device("meta"):
        return PianoRollModel(cfg, keys).parameter_counts()["total"]


def uniform_nll(keys: int = K) -> float:
    """NLL of a frame when every key has probability 1/2 (a zero-bias output layer at init)."""
    return keys * math.log(2)
