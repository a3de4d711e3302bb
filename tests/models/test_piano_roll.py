"""PianoRollModel: shapes, the frame NLL, exact parameter counts, output-bias init, engines."""

from __future__ import annotations

import math

import pytest
import torch

from rnnlab.errors import ConfigError
from rnnlab.models.piano_roll import (
    K,
    PianoRollConfig,
    PianoRollModel,
    count_parameters,
    frame_nll,
    uniform_nll,
)


def test_shapes_and_hidden():
    torch.manual_seed(0)
    m = PianoRollModel(PianoRollConfig(cell="lstm", variant={"peephole": True}, hidden_size=5))
    x = (torch.rand(7, 3, K) < 0.1).float()
    logits, (h, c) = m(x)
    assert logits.shape == (7, 3, K) and h.shape == c.shape == (1, 3, 5)


def test_frame_nll_is_the_sum_of_bernoulli_nll_over_keys():
    torch.manual_seed(0)
    logits = torch.randn(4, 2, K, dtype=torch.float64)
    y = (torch.rand(4, 2, K) < 0.3).double()
    p = torch.sigmoid(logits)
    expected = -(y * p.log() + (1 - y) * (1 - p).log()).sum(-1)
    torch.testing.assert_close(frame_nll(logits, y), expected)
    # all keys at probability 1/2: K ln 2 per frame, whatever the frame
    zero = frame_nll(torch.zeros(1, 1, K), y[:1, :1].float())
    assert float(zero) == pytest.approx(uniform_nll()) == pytest.approx(K * math.log(2))


@pytest.mark.parametrize(
    "cell,variant,H,expected",
    [
        # W_ih + W_hh + b_ih + b_hh (+ peepholes) + output layer H x 88 + 88
        ("rnn", {}, 100, 88 * 100 + 100 * 100 + 2 * 100 + 100 * 88 + 88),
        ("gru", {"reset": "before"}, 46, 3 * (88 * 46 + 46 * 46 + 2 * 46) + 46 * 88 + 88),
        ("lstm", {"peephole": True}, 36, 4 * (88 * 36 + 36 * 36 + 2 * 36) + 3 * 36 + 36 * 88 + 88),
    ],
)
def test_parameter_counts_are_exact(cell, variant, H, expected):
    cfg = PianoRollConfig(cell=cell, variant=variant, hidden_size=H)
    m = PianoRollModel(cfg)
    counts = m.parameter_counts()
    assert counts["total"] == expected == sum(p.numel() for p in m.parameters())
    assert counts["output"] == H * K + K
    assert counts["recurrent"] + counts["output"] == counts["total"]
    assert count_parameters(cfg) == expected  # built on the meta device, same count


def test_paper_sizes_exceed_the_paper_counts_and_are_reported_as_such():
    # The brief: 100 tanh units + output layer = 27,888 > 20.1K; GRU 46 = 22,904; LSTM 36 = 21,508.
    assert count_parameters(PianoRollConfig(cell="rnn", hidden_size=100)) == 27_888
    assert (
        count_parameters(PianoRollConfig(cell="gru", variant={"reset": "before"}, hidden_size=46))
        == 22_904
    )
    assert (
        count_parameters(PianoRollConfig(cell="lstm", variant={"peephole": True}, hidden_size=36))
        == 21_508
    )


def test_marginal_output_bias_starts_at_the_key_frequencies():
    m = PianoRollModel(PianoRollConfig(cell="rnn", hidden_size=4))
    freq = torch.linspace(0.0, 0.5, K)
    m.init_output_bias(freq)
    got = torch.sigmoid(m.output.bias.detach())
    torch.testing.assert_close(got, freq.clamp(1e-4, 1 - 1e-4), rtol=1e-4, atol=1e-6)


def test_fresh_model_starts_near_k_ln_2():
    torch.manual_seed(0)
    m = PianoRollModel(PianoRollConfig(cell="gru", hidden_size=8))
    y = (torch.rand(20, 4, K) < 0.05).float()
    with torch.no_grad():
        logits, _ = m(y)
    assert float(frame_nll(logits, y).mean()) == pytest.approx(K * math.log(2), rel=0.05)


@pytest.mark.parametrize(
    "cell,variant", [("gru", {"reset": "before"}), ("lstm", {"peephole": True})]
)
def test_fused_and_autograd_engines_agree_on_the_model(cell, variant):
    torch.manual_seed(0)
    m = PianoRollModel(PianoRollConfig(cell=cell, variant=variant, hidden_size=6)).double()
    x = (torch.rand(9, 3, K) < 0.1).double()
    grads = []
    for engine in ("fused", "autograd"):
        m.zero_grad()
        m.rnn.engine = engine
        loss = frame_nll(m(x)[0], x).mean()
        loss.backward()
        grads.append((loss.detach(), [p.grad.clone() for p in m.parameters()]))
    torch.testing.assert_close(grads[0][0], grads[1][0])
    for a, b in zip(grads[0][1], grads[1][1]):
        torch.testing.assert_close(a, b)


def test_bad_model_config():
    with pytest.raises(ConfigError, match="unknown arguments"):
        PianoRollModel(PianoRollConfig(cell="rnn", variant={"peephole": True}))
    with pytest.raises(ConfigError, match="input_dropout"):
        PianoRollConfig(input_dropout=1.0).validate()
