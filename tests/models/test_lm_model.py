"""LanguageModel: shapes, weight tying, init, and the same results on every engine."""

from __future__ import annotations

import pytest
import torch

from rnnlab.errors import ConfigError
from rnnlab.models.lm import LanguageModel, LMConfig


def test_shapes_loss_and_hidden():
    torch.manual_seed(0)
    m = LanguageModel(11, LMConfig(embed_size=6, hidden_size=6, num_layers=2, tie_weights=True))
    assert m.decoder.weight is m.embedding.weight
    idx = torch.randint(0, 11, (5, 3))
    logits, loss, (h, c) = m(idx, targets=idx)
    assert logits.shape == (5, 3, 11) and h.shape == c.shape == (2, 3, 6)
    expected = torch.nn.functional.cross_entropy(logits.view(15, 11), idx.view(15))
    torch.testing.assert_close(loss, expected)


def test_init_range():
    m = LanguageModel(7, LMConfig(embed_size=4, hidden_size=4, init_range=0.05))
    assert all(p.abs().max() <= 0.05 for p in m.parameters())


@pytest.mark.parametrize(
    "cell,variant", [("gru", {"reset": "before"}), ("lstm", {"peephole": True}), ("mut1", {})]
)
def test_engines_give_the_same_model(cell, variant):
    torch.manual_seed(0)
    m = LanguageModel(9, LMConfig(cell=cell, variant=variant, embed_size=5, hidden_size=5)).double()
    idx = torch.randint(0, 9, (6, 2))
    outs = []
    for engine in ("fused", "autograd", "reference"):
        m.rnn.engine = engine
        outs.append(m(idx, targets=idx)[1])
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0])


def test_bad_model_config():
    with pytest.raises(ConfigError, match="unknown arguments"):
        LanguageModel(5, LMConfig(cell="gru", variant={"peephole": True}))
