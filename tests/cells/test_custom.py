"""User-defined cells: write the forward step, train with the torch engines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnlab
from rnnlab.cells import define_cell


def gru_after_step(xp, P, xg, state):
    """torch.nn.GRU's equations, written as a user would."""
    (h,) = state
    H = h.shape[1]
    hg = h @ P["W_hh"] + P["b_hh"]
    r = xp.sigmoid(xg[:, :H] + hg[:, :H])
    z = xp.sigmoid(xg[:, H : 2 * H] + hg[:, H : 2 * H])
    n = xp.tanh(xg[:, 2 * H :] + r * hg[:, 2 * H :])
    return (n + z * (h - n),)


define_cell("user-gru", gates=3, step=gru_after_step)


def test_user_cell_matches_torch_gru_on_every_torch_engine():
    torch.manual_seed(0)
    ref = torch.nn.GRU(4, 5, num_layers=2, bidirectional=True).double()
    x = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)
    out_ref, h_ref = ref(x)
    g_ref = torch.autograd.grad(out_ref.sum() + h_ref.pow(2).sum(), [x, *ref.parameters()])
    for engine in ("fused", "autograd"):
        m = rnnlab.Recurrent("user-gru", 4, 5, 2, bidirectional=True, engine=engine).double()
        m.load_state_dict(ref.state_dict())
        assert m.resolved_engine() == engine
        out, h = m(x)
        torch.testing.assert_close(out, out_ref)
        g = torch.autograd.grad(out.sum() + h.pow(2).sum(), [x, *m.parameters()])
        for a, b in zip(g, g_ref):
            torch.testing.assert_close(a, b)


def test_auto_engine_is_fused_and_reference_needs_a_backward():
    m = rnnlab.Recurrent("user-gru", 3, 4)
    assert not m.has_builtin and m.resolved_engine() == "fused"
    with pytest.raises(ValueError, match="without step_backward"):
        m.engine = "reference"


def test_hand_written_backward_enables_the_reference_engine():
    def step(xp, P, xg, state):
        return (xp.tanh(xg + state[0] @ P["W_hh"] + P["b_hh"]),)

    def backward(xp, P, cache, dstate):
        h = step(xp, P, cache.xg, cache.state)[0]
        da = xp.tanh_backward(dstate[0], h)
        return (da @ xp.T(P["W_hh"]),), {
            "dxg": da,
            "P.W_hh": xp.T(cache.state[0]) @ da,
            "P.b_hh": xp.sum0(da),
        }

    define_cell("user-rnn", gates=1, step=step, step_backward=backward)
    torch.manual_seed(0)
    m = rnnlab.Recurrent("user-rnn", 3, 4).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    outs = {}
    for engine in ("reference", "fused"):
        m.engine = engine
        out, h = m(x)
        outs[engine] = (out, torch.autograd.grad(out.sum(), [x, *m.parameters()]))
    torch.testing.assert_close(outs["reference"][0], outs["fused"][0])
    for a, b in zip(outs["reference"][1], outs["fused"][1]):
        torch.testing.assert_close(a, b)
    ref = torch.nn.RNN(3, 4).double()
    ref.load_state_dict(m.state_dict())
    torch.testing.assert_close(ref(x)[0], outs["fused"][0])
    assert np.isfinite(outs["fused"][0].detach().numpy()).all()


def test_names_are_checked():
    with pytest.raises(ValueError, match="built-in"):
        define_cell("lstm", gates=4, step=gru_after_step)
    with pytest.raises(ValueError, match="user-gru"):
        rnnlab.Recurrent("no-such-cell", 2, 3)  # the error lists custom cells too
