"""Batches for language modelling with truncated BPTT (torch).

Dimension letters: N stream length, B batch (parallel streams), T time (``bptt``).

``batchify`` cuts one long id stream into B parallel streams, column by column; with the
alphabet as the stream and B = 4 (pytorch/examples word_language_model)::

    ┌ a g m s ┐
    │ b h n t │
    │ c i o u │
    │ d j p v │
    │ e k q w │
    └ f l r x ┘

The remainder ``y z`` (N mod B) is dropped. ``get_batch(source, i, bptt)`` with ``bptt = 2`` and
``i = 0`` then gives the inputs ``x`` and the targets ``y``, shifted by one step::

    ┌ a g m s ┐ ┌ b h n t ┐
    └ b h n t ┘ └ c i o u ┘

Streams are independent, so the hidden state is carried from one batch to the next down each
column (and detached in between: truncated BPTT).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch


def batchify(data, B: int) -> torch.Tensor:
    """Cut a stream into ``B`` parallel columns, dropping the remainder.

    Args:
        data: ``(N,)`` token ids: a tensor, or a list / NumPy array of ints (what
            :meth:`Vocab.encode <rnnlab.data.vocab.Vocab.encode>` returns), made an int64 tensor.
        B: number of streams.

    Returns:
        ``(N // B, B)``: column ``b`` is ``data[b * (N // B) : (b + 1) * (N // B)]``.

    Raises:
        ValueError: ``data`` is not 1-D, ``B < 1``, or ``N < B``.
    """
    if not isinstance(data, torch.Tensor):
        data = torch.as_tensor(data, dtype=torch.long)
    if data.dim() != 1:
        raise ValueError(f"batchify takes a 1-D stream, got shape {tuple(data.shape)}")
    N = data.size(0)
    if B < 1 or N < B:
        raise ValueError(f"cannot cut {N} tokens into {B} streams")
    n = N // B
    return data[: n * B].view(B, n).t().contiguous()  # (B, n) -> (n, B)


def get_batch(source: torch.Tensor, i: int, bptt: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-step targets of the chunk starting at row ``i``.

    Args:
        source: ``(N, B)`` from :func:`batchify`.
        i: first row, ``0 <= i < N - 1``.
        bptt: chunk length; the last chunk is shorter.

    Returns:
        ``x, y``: each ``(T, B)`` with ``T = min(bptt, N - 1 - i)``, ``y = source[i+1 : i+1+T]``.
    """
    T = min(bptt, source.size(0) - 1 - i)
    if T < 1:
        raise ValueError(f"no batch at row {i} of a {source.size(0)}-row source")
    return source[i : i + T], source[i + 1 : i + 1 + T]


class BPTTBatches:
    """The chunks of a batchified stream, in order: ``len()`` and iteration and indexing.

    Args:
        source: ``(N, B)`` from :func:`batchify`.
        bptt: chunk length T.

    Example:
        >>> batches = BPTTBatches(batchify(ids, 20), 35)
        >>> for x, y in batches:  # len(batches) chunks, x and y: (T, B)
        ...     pass
    """

    def __init__(self, source: torch.Tensor, bptt: int):
        if bptt < 1:
            raise ValueError(f"bptt must be >= 1, not {bptt}")
        self.source, self.bptt = source, bptt

    def __len__(self) -> int:
        # rows 0 .. N-2 are inputs (the last row is only a target)
        return max(0, math.ceil((self.source.size(0) - 1) / self.bptt))

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= k < len(self):
            raise IndexError(f"batch {k} of {len(self)}")
        return get_batch(self.source, k * self.bptt, self.bptt)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for k in range(len(self)):
            yield self[k]
