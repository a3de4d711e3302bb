"""Sequence classification (many to one): inputs -> recurrent stack -> one vector -> C outputs.

Dimension letters: T time, B batch, D input features, E embedding, H hidden, K directions (1 or 2),
C outputs, V vocabulary.

The input is either token ids ``(T, B)`` (embedded, E wide) or feature vectors ``(T, B, D)`` (read
directly: digit rows, the adding problem's two channels). Variable lengths are handled by packing
(``lengths``): padded steps never change the state, never enter a pooled vector and never reach
the loss. The sequence is summarised by

- ``last``: the top layer's final state (for a bidirectional stack, the forward direction's state
  after the last real step and the backward direction's after step 0, concatenated);
- ``mean``: the mean of the top layer's outputs over the real steps;
- ``max``: their element-wise maximum over the real steps;
- ``max+mean`` and ``last+max+mean``: those vectors concatenated (``(B, 2*K*H)`` and
  ``(B, 3*K*H)``; the second is the "concat pooling" of ULMFiT, Howard & Ruder 2018).

A linear layer maps that vector to C outputs: class logits, or with C = 1 a single
regression value (the adding problem).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.errors import ConfigError
from rnnlab.models.stack_config import StackConfig


@dataclass
class EncoderConfig(StackConfig):
    """The recurrent part shared by :class:`ClassifierConfig` and the tagger's config: the
    stack's fields (:class:`rnnlab.models.stack_config.StackConfig`; ``dropout`` also applies to
    the embeddings and before the output layer) and:

    Attributes:
        embed_size: E, for token inputs (feature inputs enter the recurrent stack directly).
        bidirectional: read the sequence both ways (K = 2).
    """

    embed_size: int = 128
    bidirectional: bool = False

    def validate(self) -> None:
        super().validate()
        if self.embed_size < 1:
            raise ConfigError(f"model.embed_size must be >= 1, got {self.embed_size}")


@dataclass
class ClassifierConfig(EncoderConfig):
    """The ``[model]`` section of a sequence-classifier config (see :class:`EncoderConfig`).

    Attributes:
        pooling: last, mean, max, max+mean or last+max+mean (see the module docstring).
    """

    pooling: Literal["last", "mean", "max", "max+mean", "last+max+mean"] = "last"


class SequenceEncoder(nn.Module):
    """Embedding (token inputs) -> dropout -> recurrent stack, with packing for lengths.

    Args:
        cfg: the recurrent settings.
        vocab_size: V for token inputs, or None for feature inputs.
        input_size: D for feature inputs (ignored with ``vocab_size``).
        pad_id: the padding id of token inputs (its embedding stays zero), or None.
        subwords: for token inputs, ``(table, num_ngrams, unk_id)`` to add character n-gram
            embeddings (:class:`rnnlab.models.subword_embedding.WordSubwordEmbedding`), or None.
    """

    def __init__(
        self,
        cfg: EncoderConfig,
        vocab_size: int | None = None,
        input_size: int | None = None,
        pad_id: int | None = None,
        subwords: tuple | None = None,
    ):
        super().__init__()
        if (vocab_size is None) == (input_size is None):
            raise ValueError("give exactly one of vocab_size (token inputs) or input_size")
        self.cfg = cfg
        if vocab_size is not None and subwords is not None:
            from rnnlab.models.subword_embedding import WordSubwordEmbedding

            table, num_ngrams, unk_id = subwords
            self.embedding = WordSubwordEmbedding(
                vocab_size, cfg.embed_size, table, num_ngrams, pad_id, unk_id
            )
            rnn_input = cfg.embed_size
        elif vocab_size is not None:
            self.embedding = nn.Embedding(vocab_size, cfg.embed_size, padding_idx=pad_id)
            rnn_input = cfg.embed_size
        else:
            self.embedding = None
            rnn_input = input_size
        self.input_size = rnn_input
        self.rnn = cfg.build_stack(rnn_input, cfg.bidirectional)
        self.drop = nn.Dropout(cfg.dropout)
        self.output_size = cfg.hidden_size * (2 if cfg.bidirectional else 1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``(T, B)`` ids -> ``(T, B, E)``, or ``(T, B, D)`` features unchanged (before dropout)."""
        if self.embedding is None:
            if x.dim() != 3 or x.shape[-1] != self.input_size:
                raise ValueError(
                    f"expected (T, B, {self.input_size}) features, got {tuple(x.shape)}"
                )
            return x
        if x.dim() != 2:
            raise ValueError(f"expected (T, B) token ids, got shape {tuple(x.shape)}")
        return self.embedding(x)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None):
        """Run the stack.

        Args:
            x: ``(T, B)`` ids or ``(T, B, D)`` features, padded after each sequence's end.
            lengths: ``(B,)`` real lengths (1..T), or None when every sequence has T steps.

        Returns:
            ``(out, last)``: ``out: (T, B, K*H)`` the top layer's outputs (zero where padded) and
            ``last: (B, K*H)`` its final state per direction (see the module docstring).
        """
        T, B = x.shape[:2]
        inp = self.drop(self.embed(x))  # (T, B, E or D)
        packed = lengths is not None and bool((lengths < T).any())
        if packed:
            # lengths go to pack_padded_sequence on the CPU, as torch requires
            seq = pack_padded_sequence(inp, lengths.cpu(), enforce_sorted=False)
            out, state = self.rnn(seq)
            out, _ = pad_packed_sequence(out, total_length=T)  # (T, B, K*H)
        else:
            out, state = self.rnn(inp)
        h_n = state[0] if isinstance(state, tuple) else state  # (L*K, B, H)
        K = 2 if self.cfg.bidirectional else 1
        top = h_n[-K:]  # (K, B, H): the top layer's directions
        last = top.transpose(0, 1).reshape(B, K * self.cfg.hidden_size)  # (B, K*H)
        return out, last


def step_mask(lengths: torch.Tensor | None, T: int, B: int, device) -> torch.Tensor | None:
    """``(T, B)`` bool mask of real steps, or None when every sequence has T steps."""
    if lengths is None:
        return None
    return torch.arange(T, device=device)[:, None] < lengths.to(device)[None, :]


class SequenceClassifier(nn.Module):
    """Many to one: ``forward(x, lengths=None) -> (B, C)`` outputs.

    Args:
        cfg: model settings (:class:`ClassifierConfig`).
        num_outputs: C, the number of classes (or 1 for a regression value).
        vocab_size: V for token inputs (``x: (T, B)`` ids), or None.
        input_size: D for feature inputs (``x: (T, B, D)``), or None.
        pad_id: padding id of token inputs (None: no padding token).
        subwords: character n-gram embeddings for token inputs (see :class:`SequenceEncoder`).

    Example:
        >>> m = SequenceClassifier(ClassifierConfig(hidden_size=8), 3, input_size=2)
        >>> m(torch.randn(5, 4, 2)).shape
        torch.Size([4, 3])
    """

    def __init__(
        self,
        cfg: ClassifierConfig,
        num_outputs: int,
        vocab_size: int | None = None,
        input_size: int | None = None,
        pad_id: int | None = None,
        subwords: tuple | None = None,
    ):
        super().__init__()
        self.cfg = cfg
        self.encoder = SequenceEncoder(cfg, vocab_size, input_size, pad_id, subwords)
        self.poolings = cfg.pooling.split("+")
        self.head = nn.Linear(len(self.poolings) * self.encoder.output_size, num_outputs)

    def pool(self, out: torch.Tensor, last: torch.Tensor, lengths: torch.Tensor | None):
        """``(T, B, K*H)`` outputs and ``(B, K*H)`` final states -> the ``(B, P*K*H)`` summary
        (P = 1, or the number of poolings concatenated)."""
        parts = [self._pool_one(kind, out, last, lengths) for kind in self.poolings]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def _pool_one(self, kind: str, out, last, lengths):
        if kind == "last":
            return last
        T, B, _ = out.shape
        mask = step_mask(lengths, T, B, out.device)
        if kind == "mean":
            if mask is None:
                return out.mean(0)
            # padded outputs are zero already: sum and divide by each sequence's own length
            return out.sum(0) / lengths.to(out.device, out.dtype)[:, None]
        if mask is None:
            return out.max(0).values
        return out.masked_fill(~mask[..., None], float("-inf")).max(0).values

    def output(self, summary: torch.Tensor) -> torch.Tensor:
        """``(B, K*H)`` summary -> ``(B, C)`` outputs (dropout, then the linear layer)."""
        return self.head(self.encoder.drop(summary))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        out, last = self.encoder(x, lengths)
        return self.output(self.pool(out, last, lengths))
