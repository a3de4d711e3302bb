"""The hand-written BPTT of every cell against central differences (float64)."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.cells import make_cell
from rnnlab.ops import NumpyOps as xp
from rnnlab.reference.bptt import layer_backward, layer_forward
from rnnlab.reference.gradcheck import numerical_gradient, rel_error

CELLS = [
    ("rnn", {}),
    ("rnn", {"nonlinearity": "relu"}),
    ("lstm", {}),
    ("lstm", {"peephole": True, "forget_bias": 1.0}),
    ("lstm", {"layer_norm": True}),
    ("lstm", {"layer_norm": True, "peephole": True}),
    ("gru", {"reset": "after"}),
    ("gru", {"reset": "before"}),
    ("mut1", {}),
    ("mut2", {}),
    ("mut3", {}),
]
IDS = [k + "".join(f"-{a}={b}" for a, b in v.items()) for k, v in CELLS]


def _random_params(cell, rng):
    params = cell.init_params(rng)
    # Variant parameters start at 0 or 1; randomise them so their gradients are exercised.
    for spec in cell.extra_param_specs():
        params[spec.name] = params[spec.name] + rng.normal(scale=0.5, size=spec.shape)
    return params


def _check_layer(kind, variant, D, H, T=4, B=3, lengths=None, reverse=False, rmask=False, seed=0):
    rng = np.random.default_rng(seed)
    cell = make_cell(kind, D, H, **variant)
    stored = _random_params(cell, rng)
    X = rng.normal(size=(T, B, D))
    state0 = tuple(rng.normal(size=(B, H)) for _ in cell.states)
    mask = None
    if lengths is not None:
        mask = (np.arange(T)[:, None] < np.asarray(lengths)[None, :]).astype(np.float64)[..., None]
    rm = (rng.random((B, H)) > 0.3) / 0.7 if rmask else None
    # A random linear functional of every output makes every gradient path matter.
    wY = rng.normal(size=(T, B, H))
    wS = [rng.normal(size=(B, H)) for _ in cell.states]

    def loss():
        P = cell.equation_params(stored)
        Y, state, _ = layer_forward(xp, cell, P, X, state0, mask, reverse, rm, keep_tape=False)
        return float((Y * wY).sum() + sum((s * w).sum() for s, w in zip(state, wS)))

    P = cell.equation_params(stored)
    _, _, tape = layer_forward(xp, cell, P, X, state0, mask, reverse, rm)
    dP, dX, dstate0 = layer_backward(xp, cell, P, tape, wY, tuple(wS))
    grads = cell.stored_grads(dP)
    assert set(grads) == set(stored)
    for name, value in stored.items():
        assert grads[name].shape == value.shape, name
        err = rel_error(grads[name], numerical_gradient(loss, value))
        assert err < 1e-6, f"{name}: rel error {err:.2e}"
    assert rel_error(dX, numerical_gradient(loss, X)) < 1e-6
    for s, ds in zip(state0, dstate0):
        assert rel_error(ds, numerical_gradient(loss, s)) < 1e-6


@pytest.mark.parametrize(("kind", "variant"), CELLS, ids=IDS)
def test_layer_gradients(kind, variant):
    _check_layer(kind, variant, D=3, H=4)


@pytest.mark.parametrize(("kind", "variant"), CELLS, ids=IDS)
def test_layer_gradients_with_lengths_reverse_and_recurrent_dropout(kind, variant):
    _check_layer(kind, variant, D=4, H=4, T=5, lengths=[5, 2, 1], reverse=True, rmask=True)


@pytest.mark.parametrize(("kind", "variant"), CELLS, ids=IDS)
def test_padded_steps_change_nothing(kind, variant):
    """A sequence padded with junk gives the same outputs and state as the sequence alone."""
    rng = np.random.default_rng(1)
    cell = make_cell(kind, 3, 5, **variant)
    P = cell.equation_params(cell.init_params(rng))
    X = rng.normal(size=(6, 2, 3))
    mask = np.ones((6, 2, 1))
    mask[4:, 1] = 0.0
    state0 = cell.zero_state(xp, 2, X)
    Y, state, _ = layer_forward(xp, cell, P, X, state0, mask)
    Y1, state1, _ = layer_forward(xp, cell, P, X[:4, 1:], tuple(s[1:] for s in state0))
    np.testing.assert_allclose(Y[:4, 1:], Y1, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(Y[4:, 1], 0.0)
    for s, s1 in zip(state, state1):
        np.testing.assert_allclose(s[1:], s1, rtol=1e-12, atol=1e-12)
