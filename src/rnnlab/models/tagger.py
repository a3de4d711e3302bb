"""Per-step tagging (many to many, aligned): one label for every input step.

Dimension letters: T time, B batch, D input features, E embedding, H hidden, K directions (1 or 2),
C classes, V vocabulary.

``inputs -> recurrent stack (optionally bidirectional) -> dropout -> linear`` at every step: a
unidirectional tagger labels step t from steps ``0..t``; a bidirectional one from the whole
sequence (its backward direction has read steps ``t..T-1``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from rnnlab.models.classifier import EncoderConfig, SequenceEncoder


@dataclass
class TaggerConfig(EncoderConfig):
    """The ``[model]`` section of a tagger config: the fields of
    :class:`rnnlab.models.classifier.EncoderConfig`."""


class SequenceTagger(nn.Module):
    """``forward(x, lengths=None) -> (T, B, C)`` logits, one row of C per step.

    Args:
        cfg: model settings.
        num_classes: C.
        vocab_size: V for token inputs (``x: (T, B)`` ids), or None.
        input_size: D for feature inputs (``x: (T, B, D)``), or None.
        pad_id: padding id of token inputs (None: no padding token).

    Outputs at padded steps (``t >= lengths[b]``) are meaningless: mask them out of the loss.
    """

    def __init__(
        self,
        cfg: TaggerConfig,
        num_classes: int,
        vocab_size: int | None = None,
        input_size: int | None = None,
        pad_id: int | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        self.encoder = SequenceEncoder(cfg, vocab_size, input_size, pad_id)
        self.head = nn.Linear(self.encoder.output_size, num_classes)

    def output(self, h: torch.Tensor) -> torch.Tensor:
        """``(..., K*H)`` hidden states -> ``(..., C)`` logits (dropout, then the linear layer)."""
        return self.head(self.encoder.drop(h))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        out, _ = self.encoder(x, lengths)  # (T, B, K*H)
        return self.output(out)  # (T, B, C)
