"""Multi-layer, bidirectional stacks of the reference engine against central differences."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.reference.gradcheck import numerical_gradient, rel_error
from rnnlab.reference.stack import StackSpec, init_stack, stack_backward, stack_forward

CASES = [
    ("lstm", 1, False, {}),
    ("lstm", 2, True, {"peephole": True}),
    ("gru", 3, False, {"reset": "before"}),
    ("gru", 2, True, {}),
    ("rnn", 3, True, {}),
    ("lstm", 2, False, {"layer_norm": True}),
    ("mut2", 2, True, {}),
]


@pytest.mark.parametrize(("kind", "layers", "bidir", "variant"), CASES)
def test_stack_gradients(kind, layers, bidir, variant):
    rng = np.random.default_rng(0)
    T, B, D, H = 4, 3, 3, 4
    spec = StackSpec(kind, D, H, layers, bidir, variant=variant)
    params = init_stack(spec, rng)
    K = spec.directions
    n_states = 2 if kind == "lstm" else 1
    X = rng.normal(size=(T, B, D))
    hx = tuple(rng.normal(size=(layers * K, B, H)) for _ in range(n_states))
    lengths = np.array([4, 2, 3])
    drop = [(rng.random((T, B, K * H)) > 0.25) / 0.75 for _ in range(layers - 1)]
    wY = rng.normal(size=(T, B, K * H))
    wS = [rng.normal(size=(layers * K, B, H)) for _ in range(n_states)]

    def loss():
        Y, h_n, _ = stack_forward(spec, params, X, hx, lengths, drop)
        return float((Y * wY).sum() + sum((s * w).sum() for s, w in zip(h_n, wS)))

    _, _, cache = stack_forward(spec, params, X, hx, lengths, drop)
    grads, dX, dhx = stack_backward(spec, params, cache, wY, tuple(wS))
    assert list(grads) != [] and set(grads) == set(params)
    assert list(params) == spec.all_param_names()
    worst = max(rel_error(grads[k], numerical_gradient(loss, params[k])) for k in params)
    assert worst < 1e-6
    assert rel_error(dX, numerical_gradient(loss, X)) < 1e-6
    for s, d in zip(hx, dhx):
        assert rel_error(d, numerical_gradient(loss, s)) < 1e-6


def test_float32_runs_in_float32():
    spec = StackSpec("lstm", 5, 6, 2)
    params = init_stack(spec, np.random.default_rng(0), np.float32)
    X = np.random.default_rng(1).normal(size=(7, 2, 5)).astype(np.float32)
    Y, (h, c), cache = stack_forward(spec, params, X)
    assert Y.dtype == h.dtype == np.float32
    grads, dX, _ = stack_backward(spec, params, cache, np.ones_like(Y))
    assert dX.dtype == np.float32 and all(g.dtype == np.float32 for g in grads.values())


def test_bad_lengths_are_refused():
    spec = StackSpec("rnn", 2, 3)
    params = init_stack(spec, np.random.default_rng(0))
    with pytest.raises(ValueError, match="lengths"):
        stack_forward(spec, params, np.zeros((4, 2, 2)), lengths=[5, 1])


def test_reference_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, rnnlab.reference; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(("kind", "layers", "bidir", "variant"), CASES)
def test_orthogonal_recurrent_init(kind, layers, bidir, variant):
    H = 5
    spec = StackSpec(kind, 3, H, layers, bidir, variant=variant)
    uniform = init_stack(spec, np.random.default_rng(0))
    orth = init_stack(spec, np.random.default_rng(0), recurrent_init="orthogonal")
    assert orth.keys() == uniform.keys()
    for name, value in orth.items():
        if name.startswith("weight_hh"):  # (G*H, H): every (H, H) gate block orthogonal
            for block in np.split(value, value.shape[0] // H):
                np.testing.assert_allclose(block @ block.T, np.eye(H), atol=1e-12)
        elif name.endswith("_l0"):  # drawn before the first orthogonal block: unchanged
            np.testing.assert_array_equal(value, uniform[name])
    with pytest.raises(
        ValueError, match="unknown recurrent_init 'eye'; valid: uniform, orthogonal"
    ):
        init_stack(spec, np.random.default_rng(0), recurrent_init="eye")


def test_shapes_that_would_broadcast_or_be_ignored_are_errors():
    spec = StackSpec("lstm", 3, 4, 1, False)
    P = init_stack(spec, 0)  # a seed works as the generator
    X = np.random.default_rng(1).standard_normal((5, 2, 3))
    z = np.zeros((1, 2, 4))
    Y, h_n, cache = stack_forward(spec, P, X, hx=(z, z))
    with pytest.raises(ValueError, match=r"X must be \(T, B, D=3\)"):
        stack_forward(spec, P, X[..., :2])
    with pytest.raises(ValueError, match="hx must be a tuple of 2 arrays"):
        stack_forward(spec, P, X, hx=z)
    with pytest.raises(ValueError, match=r"hx: h must have shape \(1, 2, 4\)"):
        stack_forward(spec, P, X, hx=(np.zeros((2, 2, 4)), z))  # a second layer that is not
    with pytest.raises(ValueError, match=r"hx: c must have shape \(1, 2, 4\)"):
        stack_forward(spec, P, X, hx=(z, np.zeros((1, 1, 4))))  # batch 1, not broadcast
    with pytest.raises(ValueError, match="whole numbers"):
        stack_forward(spec, P, X, lengths=[2.5, 5])
    with pytest.raises(ValueError, match=r"dY must have the output's shape \(5, 2, 4\)"):
        stack_backward(spec, P, cache, np.ones((5, 2, 5)))
    with pytest.raises(ValueError, match="dh_n must be a tuple"):
        stack_backward(spec, P, cache, np.ones_like(Y), dh_n=h_n[0])
    with pytest.raises(ValueError, match="floating-point"):
        init_stack(spec, 0, dtype=np.int64)
