"""Attention over a set of vectors: additive (Bahdanau), dot and general (Luong).

Dimension letters: B batch, S source positions (or image grid cells), Q query size, K key size,
V value size, A attention size.

Every module maps a query ``q: (B, Q)`` and keys/values ``(B, S, K)`` / ``(B, S, V)`` to scores
``e: (B, S)``, weights ``a = softmax(e)`` over the real positions (padding is set to ``-inf``
before the softmax, so it gets exactly zero weight) and the context ``c = sum_i a_i v_i: (B, V)``::

    additive (Bahdanau et al. 2015):  e_i = v^T tanh(W q + U k_i)
    dot (Luong et al. 2015):          e_i = q . k_i                 (needs Q == K)
    general (Luong et al. 2015):      e_i = q^T W k_i

``U k_i`` depends only on the keys, so :meth:`prepare` computes it once per sequence and every
decoder step reuses it. Everything is differentiable; the weights are returned so that they can be
plotted (alignment heatmaps, attention over an image).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Base class: ``forward(query, keys, values, mask=None, prepared=None) -> (context, weights)``."""

    def prepare(self, keys: torch.Tensor) -> torch.Tensor:
        """Per-sequence precomputation from ``keys: (B, S, K)`` (identity by default)."""
        return keys

    def scores(
        self, query: torch.Tensor, prepared: torch.Tensor
    ) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, query, keys, values, mask=None, prepared=None):
        """Args:
            query: ``(B, Q)``.
            keys: ``(B, S, K)``; values: ``(B, S, V)`` (often the same tensor).
            mask: ``(B, S)`` bool, True at real positions (None: all real).
            prepared: :meth:`prepare` of ``keys``, to reuse across decoder steps.

        Returns:
            ``(context (B, V), weights (B, S))``.
        """
        B, S, _ = keys.shape
        e = self.scores(query, self.prepare(keys) if prepared is None else prepared)  # (B, S)
        if mask is not None:
            e = e.masked_fill(~mask, float("-inf"))
        a = F.softmax(e, dim=-1)
        context = torch.bmm(a.unsqueeze(1), values).squeeze(1)  # (B, 1, S) @ (B, S, V) -> (B, V)
        return context, a


class AdditiveAttention(Attention):
    """Bahdanau attention: ``e_i = v^T tanh(W q + U k_i)`` (a one-hidden-layer MLP)."""

    def __init__(self, query_size: int, key_size: int, attn_size: int):
        super().__init__()
        self.W = nn.Linear(query_size, attn_size, bias=False)
        self.U = nn.Linear(key_size, attn_size)
        self.v = nn.Linear(attn_size, 1, bias=False)

    def prepare(self, keys):
        return self.U(keys)  # (B, S, A)

    def scores(self, query, prepared):
        return self.v(torch.tanh(prepared + self.W(query).unsqueeze(1))).squeeze(-1)  # (B, S)


class DotAttention(Attention):
    """Luong dot attention: ``e_i = q . k_i``."""

    def scores(self, query, prepared):
        return torch.bmm(prepared, query.unsqueeze(-1)).squeeze(-1)  # (B, S, K) @ (B, K, 1)


class GeneralAttention(Attention):
    """Luong general attention: ``e_i = q^T W k_i``."""

    def __init__(self, query_size: int, key_size: int):
        super().__init__()
        self.W = nn.Linear(key_size, query_size, bias=False)

    def prepare(self, keys):
        return self.W(keys)  # (B, S, Q)

    def scores(self, query, prepared):
        return torch.bmm(prepared, query.unsqueeze(-1)).squeeze(-1)


def make_attention(kind: str, query_size: int, key_size: int, attn_size: int = 0) -> Attention:
    """``kind``: ``bahdanau`` (additive), ``luong-dot`` or ``luong-general``."""
    if kind == "bahdanau":
        return AdditiveAttention(query_size, key_size, attn_size or query_size)
    if kind == "luong-dot":
        if query_size != key_size:
            raise ValueError(
                f"luong-dot attention needs equal query and key sizes, got {query_size} and {key_size}"
            )
        return DotAttention()
    if kind == "luong-general":
        return GeneralAttention(query_size, key_size)
    raise ValueError(f"unknown attention {kind!r}; valid: bahdanau, luong-dot, luong-general")
