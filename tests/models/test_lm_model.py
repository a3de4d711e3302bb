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


def test_forward_and_generate_refuse_what_would_be_silently_wrong():
    m = LanguageModel(11, LMConfig(hidden_size=8, num_layers=1, embed_size=8))
    idx = torch.randint(0, 11, (5, 3))
    with pytest.raises(ValueError, match=r"targets must have idx's shape \(T, B\) = \(5, 3\)"):
        m(idx, targets=torch.randint(0, 11, (3, 5)))  # transposed: same size, wrong pairs
    m.train()
    for bad in (dict(prime=torch.tensor([], dtype=torch.long)), dict(temperature=float("nan"))):
        args = {"prime": torch.tensor([1, 2]), "length": 3, **bad}
        with pytest.raises(ValueError):
            m.generate(**args)
        assert m.training  # left as it was
    with pytest.raises(ConfigError, match="tie_weights"):
        LanguageModel(11, LMConfig(hidden_size=8, embed_size=6, tie_weights=True))
