"""Attention modules: masking, weights, context, and the published score functions."""

from __future__ import annotations

import pytest
import torch

from rnnlab.nn.attention import make_attention


@pytest.mark.parametrize("kind", ["bahdanau", "luong-dot", "luong-general"])
def test_padding_gets_zero_weight_and_context_is_the_weighted_sum(kind):
    torch.manual_seed(0)
    att = make_attention(kind, 6, 6, 5)
    q, k = torch.randn(3, 6), torch.randn(3, 4, 6)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    c, a = att(q, k, k, mask)
    assert torch.equal(a[~mask], torch.zeros(int((~mask).sum())))
    torch.testing.assert_close(a.sum(-1), torch.ones(3))
    torch.testing.assert_close(c, torch.einsum("bs,bsv->bv", a, k))
    assert torch.equal(a[2], torch.tensor([1.0, 0, 0, 0]))


def test_score_functions_match_their_equations():
    torch.manual_seed(1)
    q, k = torch.randn(2, 3), torch.randn(2, 5, 3)
    add = make_attention("bahdanau", 3, 3, 4)
    e = add.scores(q, add.prepare(k))
    expected = (torch.tanh(add.W(q)[:, None] + add.U(k)) @ add.v.weight.T).squeeze(-1)
    torch.testing.assert_close(e, expected)
    dot = make_attention("luong-dot", 3, 3)
    torch.testing.assert_close(dot.scores(q, k), (q[:, None] * k).sum(-1))
    gen = make_attention("luong-general", 3, 3)
    torch.testing.assert_close(
        gen.scores(q, gen.prepare(k)), torch.einsum("bq,qk,bsk->bs", q, gen.W.weight, k)
    )
    with pytest.raises(ValueError, match="equal query and key"):
        make_attention("luong-dot", 3, 4)
