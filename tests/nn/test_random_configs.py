"""rnnlab's modules against torch.nn on random configurations, every engine, outputs and gradients.

The hand-picked cases of test_parity_torch_nn.py cover each option once; this draws 150 seeded
combinations of all of them at once (cell, layers, directions, batch_first, bias, dtype, padded or
packed with sorted or unsorted lengths, unbatched input, given or default initial state), as an
outside checker would.
"""

from __future__ import annotations

import random

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnlab

ENGINES = ("auto", "builtin", "fused", "autograd", "reference")
CONFIGS = 150


def _draw(seed: int) -> dict:
    rng = random.Random(seed)
    c = {
        "kind": rng.choice(["lstm", "gru", "tanh", "relu"]),
        "L": rng.randint(1, 3),
        "bidirectional": rng.random() < 0.5,
        "batch_first": rng.random() < 0.5,
        "bias": rng.random() < 0.8,
        "dtype": rng.choice([torch.float64, torch.float32]),
        "D": rng.randint(1, 6),
        "H": rng.randint(1, 5),
        "B": rng.randint(1, 4),
        "packed": rng.random() < 0.5,
        "sorted": rng.random() < 0.5,
        "hx": rng.random() < 0.5,
    }
    T = rng.randint(1, 5)
    c["lengths"] = [rng.randint(1, T) for _ in range(c["B"])]
    if c["packed"] and c["sorted"]:
        c["lengths"].sort(reverse=True)
    c["T"] = max(c["lengths"]) if c["packed"] else T
    c["unbatched"] = not c["packed"] and rng.random() < 0.2
    return c


def _modules(c: dict):
    args = (c["D"], c["H"], c["L"])
    kw = {"bias": c["bias"], "batch_first": c["batch_first"], "bidirectional": c["bidirectional"]}
    if c["kind"] == "lstm":
        return torch.nn.LSTM(*args, **kw), lambda e: rnnlab.LSTM(*args, **kw, engine=e)
    if c["kind"] == "gru":
        return torch.nn.GRU(*args, **kw), lambda e: rnnlab.GRU(*args, **kw, engine=e)
    nl = c["kind"]
    return (
        torch.nn.RNN(*args, nonlinearity=nl, **kw),
        lambda e: rnnlab.RNN(*args, nonlinearity=nl, **kw, engine=e),
    )


def _inputs(c: dict):
    dt, K = c["dtype"], 2 if c["bidirectional"] else 1
    B, T, D, H = c["B"], c["T"], c["D"], c["H"]
    x = torch.randn((B, T, D) if c["batch_first"] else (T, B, D), dtype=dt)
    if c["unbatched"]:
        x = x[0] if c["batch_first"] else x[:, 0]
    hx = None
    if c["hx"]:
        shape = (c["L"] * K, H) if c["unbatched"] else (c["L"] * K, B, H)
        hx = torch.randn(shape, dtype=dt)
        if c["kind"] == "lstm":
            hx = (hx, torch.randn(shape, dtype=dt))
    return x, hx


def _run(module, c: dict, x, hx) -> list:
    """Outputs, final states and the gradients of a fixed loss w.r.t. input, state and weights."""
    x = x.clone().requires_grad_(True)
    states = (
        []
        if hx is None
        else [h.clone().requires_grad_(True) for h in (hx if isinstance(hx, tuple) else (hx,))]
    )
    given = None if hx is None else (tuple(states) if c["kind"] == "lstm" else states[0])
    inp = x
    if c["packed"]:
        inp = pack_padded_sequence(
            x, c["lengths"], batch_first=c["batch_first"], enforce_sorted=c["sorted"]
        )
    out, final = module(inp, given)
    if c["packed"]:
        out, _ = pad_packed_sequence(out, batch_first=c["batch_first"])
    finals = list(final) if isinstance(final, tuple) else [final]
    loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum()
    loss = loss + sum((f * f).sum() for f in finals)
    loss.backward()
    return [out, *finals, x.grad, *(s.grad for s in states), *(p.grad for p in module.parameters())]


@pytest.mark.parametrize("seed", range(CONFIGS))
def test_random_configuration_matches_torch_nn_on_every_engine(seed):
    c = _draw(seed)
    torch.manual_seed(seed)
    theirs, ours = _modules(c)
    theirs = theirs.to(c["dtype"])
    x, hx = _inputs(c)
    expected = _run(theirs, c, x, hx)
    tol = 1e-8 if c["dtype"] == torch.float64 else 1e-4
    for engine in ENGINES:
        module = ours(engine).to(c["dtype"])
        module.load_state_dict(theirs.state_dict())
        got = _run(module, c, x, hx)
        assert len(got) == len(expected)
        for j, (a, b) in enumerate(zip(expected, got)):
            assert b.shape == a.shape, (engine, j, c)
            torch.testing.assert_close(
                b, a, rtol=tol, atol=tol, msg=lambda m, e=engine, j=j: f"{e} #{j} {c}: {m}"
            )
