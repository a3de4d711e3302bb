"""Word embeddings plus character n-gram embeddings (fastText-style, learned from scratch).

Dimension letters: T time, B batch, E embedding, V vocabulary, N word types (V known words, then
the types outside the vocabulary), G n-grams per type (padded), U distinct ids in a batch.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class WordSubwordEmbedding(nn.Module):
    """``(T, B)`` ids -> ``(T, B, E)``: a word's embedding plus the mean of its n-grams' embeddings.

    Ids below V are vocabulary words; every id from V on (the rows of ``table`` past V) stands
    for a word whose own vector is unknown: a word type outside the vocabulary (seen too rarely
    in training, or only in evaluation), or a vocabulary word under word dropout. Its word
    embedding is ``<unk>``'s, and its n-grams still place it (:mod:`rnnlab.data.subwords`).
    Padding and ``<unk>`` itself have no n-grams.

    Args:
        vocab_size: V.
        embed_size: E.
        table: ``(N', G)`` n-gram ids of every id, 0-padded (:func:`rnnlab.data.subwords.ngram_table`).
        num_ngrams: the n-gram vocabulary's size (ids 1..num_ngrams).
        pad_id: the padding word (its word embedding stays zero).
        unk_id: the ``<unk>`` word.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        table: np.ndarray,
        num_ngrams: int,
        pad_id: int,
        unk_id: int,
    ):
        super().__init__()
        self.vocab_size, self.unk_id = vocab_size, unk_id
        self.words = nn.Embedding(vocab_size, embed_size, padding_idx=pad_id)
        self.ngrams = nn.EmbeddingBag(num_ngrams + 1, embed_size, mode="mean", padding_idx=0)
        # derived from the task's data, rebuilt with the model: not part of a checkpoint
        self.register_buffer("table", torch.as_tensor(table, dtype=torch.long), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # each distinct type's bag once per batch, then scattered back to its positions
        uniq, inv = torch.unique(x, return_inverse=True)  # (U,) sorted, (T, B)
        lo, hi = int(uniq[0]), int(uniq[-1])  # the range check costs no extra pass over x
        if lo < 0 or hi >= self.table.shape[0]:
            raise ValueError(f"token ids must be in [0, {self.table.shape[0]}), got {lo}..{hi}")
        known = torch.where(x < self.vocab_size, x, torch.full_like(x, self.unk_id))
        sub = self.ngrams(self.table[uniq])  # (U, E); an all-padding bag gives zeros
        return self.words(known) + sub[inv]
