"""Every engine against every other, for every cell variant (outputs, states, all gradients)."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import rnnlab

VARIANTS = [
    ("lstm", {}),
    ("lstm", {"peephole": True, "forget_bias": 1.0}),
    ("lstm", {"layer_norm": True}),
    ("gru", {"reset": "after"}),
    ("gru", {"reset": "before"}),
    ("rnn", {}),
    ("mut1", {}),
    ("mut2", {}),
    ("mut3", {}),
]
IDS = [k + "".join(f"-{a}={b}" for a, b in v.items()) for k, v in VARIANTS]
LOOP_ENGINES = ["fused", "autograd", "reference"]
TOL = {torch.float64: 1e-8, torch.float32: 1e-4}


def _randomise(module, seed):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.5)


def _outputs_and_grads(module, x, hx, lengths, seed):
    torch.manual_seed(seed)  # the same dropout masks for every engine
    inp = pack_padded_sequence(x, lengths, enforce_sorted=False) if lengths is not None else x
    out, h = module(inp, hx)
    out = out.data if hasattr(out, "batch_sizes") else out
    h = list(h) if isinstance(h, tuple) else [h]
    gen = torch.Generator().manual_seed(7)
    loss = sum((t * torch.randn(t.shape, generator=gen, dtype=t.dtype)).sum() for t in [out, *h])
    hx_list = list(hx) if isinstance(hx, tuple) else [hx]
    grads = torch.autograd.grad(loss, [x, *hx_list, *module.parameters()])
    return [out, *h], list(grads)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("kind", "variant"), VARIANTS, ids=IDS)
def test_engines_agree(kind, variant, dtype):
    T, B, D, H, L = 5, 3, 4, 4, 2  # D == H: the MUTs' bare-x form in layer 0
    mod = rnnlab.Recurrent(
        kind, D, H, L, bidirectional=True, dropout=0.3, recurrent_dropout=0.2, **variant
    ).to(dtype)
    _randomise(mod, 0)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, D, generator=gen, dtype=dtype, requires_grad=True)
    hx = tuple(
        torch.randn(2 * L, B, H, generator=gen, dtype=dtype, requires_grad=True)
        for _ in range(mod.n_states)
    )
    hx = hx if mod.n_states == 2 else hx[0]
    lengths = torch.tensor([5, 2, 4])
    results = {}
    for engine in LOOP_ENGINES + (["builtin"] if mod.has_builtin else []):
        mod.engine = engine
        mod.train(engine != "builtin")  # builtin has no recurrent dropout: compare it in eval
        results[engine] = _outputs_and_grads(mod, x, hx, lengths, seed=3)
    tol = TOL[dtype]
    for a, b in itertools.combinations(LOOP_ENGINES, 2):
        for u, v in zip(results[a][0] + results[a][1], results[b][0] + results[b][1]):
            torch.testing.assert_close(u, v, rtol=tol, atol=tol, msg=f"{a} vs {b}")
    if "builtin" in results:
        mod.engine = "fused"
        mod.eval()
        fused_eval = _outputs_and_grads(mod, x, hx, lengths, seed=3)
        for u, v in zip(
            results["builtin"][0] + results["builtin"][1], fused_eval[0] + fused_eval[1]
        ):
            torch.testing.assert_close(u, v, rtol=tol, atol=tol)


@pytest.mark.parametrize(("kind", "variant"), VARIANTS, ids=IDS)
def test_fused_passes_torch_gradcheck(kind, variant):
    torch.manual_seed(0)
    mod = rnnlab.Recurrent(kind, 3, 4, bidirectional=True, engine="fused", **variant).double()
    _randomise(mod, 2)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 4, dtype=torch.float64, requires_grad=True)
    params = list(mod.parameters())

    def f(x, h0, *ps):
        state = dict(zip([n for n, _ in mod.named_parameters()], ps))
        hx = (h0, torch.zeros_like(h0)) if mod.n_states == 2 else h0
        out, h = torch.func.functional_call(mod, state, (x, hx))
        return out, h[0] if isinstance(h, tuple) else h

    assert torch.autograd.gradcheck(f, (x, h0, *params), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize(("kind", "variant"), VARIANTS, ids=IDS)
def test_fused_second_derivatives_pass_gradgradcheck(kind, variant):
    # create_graph=True makes the fused backward replay the steps under autograd: exact Hessians.
    mod = rnnlab.Recurrent(kind, 3, 3, bidirectional=True, engine="fused", **variant).double()
    _randomise(mod, 3)
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(3, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    hx = (h0, torch.zeros_like(h0)) if mod.n_states == 2 else h0
    assert torch.autograd.gradgradcheck(lambda x, h0: mod(x, hx)[0], (x, h0), eps=1e-6, atol=1e-7)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_fused_gradient_penalty_matches_autograd_engine(kind):
    """The gradient of a gradient penalty (packed lengths, dropout, two layers, both directions)
    is the autograd engine's, for the parameters, the input and the initial state."""
    results = []
    for engine in ("fused", "autograd"):
        mod = rnnlab.Recurrent(
            kind, 3, 4, 2, bidirectional=True, dropout=0.3, recurrent_dropout=0.2, engine=engine
        ).double()
        _randomise(mod, 5)
        gen = torch.Generator().manual_seed(6)
        x = torch.randn(5, 3, 3, generator=gen, dtype=torch.float64, requires_grad=True)
        h0 = torch.randn(4, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
        hx = (h0, torch.zeros_like(h0)) if kind == "lstm" else h0
        wrt = [x, h0, *mod.parameters()]
        torch.manual_seed(8)  # the same dropout masks for both engines
        packed = pack_padded_sequence(x, [5, 2, 4], enforce_sorted=False)
        out = mod(packed, hx)[0].data
        grads = torch.autograd.grad(out.pow(2).sum(), wrt, create_graph=True)
        penalty = sum(g.pow(2).sum() for g in grads)
        results.append(torch.autograd.grad(penalty, wrt))
    for u, v in zip(*results):
        torch.testing.assert_close(u, v, rtol=1e-8, atol=1e-8)


def test_auto_engine_resolution():
    assert rnnlab.LSTM(2, 3).resolved_engine() == "builtin"
    assert rnnlab.LSTM(2, 3, peephole=True).resolved_engine() == "fused"
    assert rnnlab.GRU(2, 3, reset="before").resolved_engine() == "fused"
    m = rnnlab.GRU(2, 3, recurrent_dropout=0.1)
    assert m.resolved_engine() == "fused"
    assert m.eval().resolved_engine() == "builtin"  # no recurrent dropout at evaluation
    m = rnnlab.LSTM(2, 3, layer_norm=True)
    m.engine = "autograd"
    assert m.resolved_engine() == "autograd"


def test_clear_errors():
    with pytest.raises(ValueError, match="torch has no kernel"):
        rnnlab.LSTM(2, 3, peephole=True, engine="builtin")
    with pytest.raises(ValueError, match="valid engines"):
        rnnlab.LSTM(2, 3, engine="cudnn")
    with pytest.raises(ValueError, match="valid cells"):
        rnnlab.Recurrent("lstmx", 2, 3)
    with pytest.raises(ValueError, match="unknown arguments"):
        rnnlab.Recurrent("gru", 2, 3, peephole=True)
    m = rnnlab.LSTM(2, 3)
    with pytest.raises(ValueError, match="input_size=2"):
        m(torch.zeros(4, 1, 5))
    with pytest.raises(ValueError, match="hidden state of shape"):
        m(torch.zeros(4, 1, 2), (torch.zeros(1, 2, 3), torch.zeros(1, 2, 3)))
    with pytest.raises(ValueError, match="2-D"):
        m(torch.zeros(4))
    with pytest.raises(ValueError, match="dropout"):
        rnnlab.GRU(2, 3, dropout=1.0)
    with pytest.raises(ValueError, match="floating-point"):
        m(torch.zeros(4, 1, 2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"parameters are torch\.float32"):
        m(torch.zeros(4, 1, 2, dtype=torch.float64))


def test_engine_switch_keeps_parameters_and_results():
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4, num_layers=2).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    outs = []
    for engine in ("builtin", "fused", "autograd", "reference", "auto"):
        m.engine = engine
        outs.append(m(x)[0])
    for o in outs[1:]:
        torch.testing.assert_close(o, outs[0])


def test_fused_engine_under_autocast_runs_in_float32():
    """Mixed precision: the fused recurrence runs in float32 inside autocast (here the CPU's
    bfloat16 autocast, the same decorators as on CUDA) and matches the float32 result."""
    torch.manual_seed(0)
    m = rnnlab.LSTM(6, 5, peephole=True)
    x = torch.randn(7, 3, 6, requires_grad=True)
    ref, _ = m(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, (h, c) = m(x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref)
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
