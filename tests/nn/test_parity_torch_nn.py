"""rnnlab modules against torch.nn after load_state_dict: outputs, states and gradients."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnlab

PAIRS = [
    (rnnlab.LSTM, torch.nn.LSTM, {}),
    (rnnlab.GRU, torch.nn.GRU, {}),
    (rnnlab.RNN, torch.nn.RNN, {}),
    (rnnlab.RNN, torch.nn.RNN, {"nonlinearity": "relu"}),
]
ENGINES = ["builtin", "fused", "autograd", "reference"]
TOL = {torch.float64: 1e-8, torch.float32: 1e-4}


def _flat(h):
    return list(h) if isinstance(h, tuple) else [h]


def _run(module, x, hx):
    out, h = module(x, hx)
    data = out.data if hasattr(out, "batch_sizes") else out
    return data, _flat(h)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("ours", "theirs", "kw"), PAIRS, ids=["lstm", "gru", "rnn", "rnn-relu"])
@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_matches_torch_nn(ours, theirs, kw, engine, dtype, packed):
    torch.manual_seed(0)
    T, B, D, H = 6, 3, 4, 5
    ref = theirs(D, H, num_layers=2, bidirectional=True, **kw).to(dtype)
    mod = ours(D, H, num_layers=2, bidirectional=True, engine=engine, **kw).to(dtype)
    mod.load_state_dict(ref.state_dict())
    assert [n for n, _ in mod.named_parameters()] == [n for n, _ in ref.named_parameters()]
    x = torch.randn(T, B, D, dtype=dtype, requires_grad=True)
    n_states = 2 if ours is rnnlab.LSTM else 1
    hx = [torch.randn(4, B, H, dtype=dtype, requires_grad=True) for _ in range(n_states)]
    h_arg = tuple(hx) if n_states == 2 else hx[0]
    inp = pack_padded_sequence(x, torch.tensor([6, 2, 4]), enforce_sorted=False) if packed else x
    (o1, h1), (o2, h2) = _run(ref, inp, h_arg), _run(mod, inp, h_arg)
    tol = TOL[dtype]
    torch.testing.assert_close(o2, o1, rtol=tol, atol=tol)
    for a, b in zip(h2, h1):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)
    # A random functional of every output, so every gradient path is exercised.
    gen = torch.Generator().manual_seed(1)
    w = [torch.randn(t.shape, generator=gen, dtype=dtype) for t in [o1, *h1]]

    def grads(module, outs):
        loss = sum((o * wi).sum() for o, wi in zip(outs, w))
        return torch.autograd.grad(loss, [x, *hx, *module.parameters()], retain_graph=True)

    for a, b in zip(grads(mod, [o2, *h2]), grads(ref, [o1, *h1])):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("engine", ENGINES)
def test_batch_first_and_unbatched_like_torch_nn(engine):
    torch.manual_seed(0)
    ref = torch.nn.LSTM(3, 4, batch_first=True).double()
    mod = rnnlab.LSTM(3, 4, batch_first=True, engine=engine).double()
    mod.load_state_dict(ref.state_dict())
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(mod(x)[0], ref(x)[0])
    x1 = torch.randn(5, 3, dtype=torch.float64)  # unbatched (T, D)
    (o1, (h1, c1)), (o2, (h2, c2)) = ref(x1), mod(x1)
    assert o2.shape == o1.shape == (5, 4) and h2.shape == h1.shape == (1, 4)
    torch.testing.assert_close(o2, o1)
    torch.testing.assert_close(c2, c1)


def test_torch_nn_loads_rnnlab_state_dict_back():
    mod = rnnlab.GRU(3, 4, num_layers=2)
    ref = torch.nn.GRU(3, 4, num_layers=2)
    ref.load_state_dict(mod.state_dict())
    x = torch.randn(4, 2, 3)
    torch.testing.assert_close(ref(x)[0], mod(x)[0])


def test_forget_bias_initialisation():
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4, forget_bias=1.0)
    b = m.bias_ih_l0.detach()
    assert bool((b[4:8] > 0.5).all())  # 1 + U(-1/2, 1/2)
    assert bool((b[:4].abs() <= 0.5).all())
    assert m.has_builtin and m.resolved_engine() == "builtin"  # an initialisation only


def test_all_weights_and_flatten_parameters_like_torch_nn():
    theirs = torch.nn.LSTM(3, 4, 2, bidirectional=True)
    ours = rnnlab.LSTM(3, 4, 2, bidirectional=True)
    ours.load_state_dict(theirs.state_dict())
    ours.flatten_parameters()  # code written for torch.nn calls it; a no-op here
    assert len(ours.all_weights) == len(theirs.all_weights) == 4
    for a, b in zip(ours.all_weights, theirs.all_weights):
        assert [tuple(p.shape) for p in a] == [tuple(p.shape) for p in b]
        for p, q in zip(a, b):
            torch.testing.assert_close(p, q, rtol=0, atol=0)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "mut1", "mut2", "mut3"])
def test_orthogonal_recurrent_init(cell):
    torch.manual_seed(0)
    H = 6
    variant = {"forget_bias": 1.0} if cell == "lstm" else {}
    m = rnnlab.Recurrent(
        cell, 3, H, num_layers=2, bidirectional=True, recurrent_init="orthogonal", **variant
    )
    k = 1.0 / H**0.5
    for layer, d in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        sfx = f"_l{layer}" + ("_reverse" if d else "")
        W = getattr(m, "weight_hh" + sfx).detach()
        assert W.shape[0] % H == 0 and W.shape[0] >= H
        for block in W.split(H):  # one (H, H) block per gate, each orthogonal
            torch.testing.assert_close(block @ block.T, torch.eye(H), rtol=0, atol=1e-5)
        assert getattr(m, "weight_ih" + sfx).abs().max().item() <= k  # torch.nn's init kept
    if cell == "lstm":  # the cell's own adjustment still follows
        assert bool((m.bias_ih_l0.detach()[H : 2 * H] > 1 - k).all())
    assert "recurrent_init='orthogonal'" in repr(m)
    assert float(rnnlab.Recurrent(cell, 3, H).weight_hh_l0.detach().abs().max()) <= k


def test_recurrent_init_rejects_an_unknown_name():
    with pytest.raises(
        ValueError, match="unknown recurrent_init 'xavier'; valid: uniform, orthogonal"
    ):
        rnnlab.LSTM(3, 4, recurrent_init="xavier")
