"""Mistakes and edge cases of the torch modules: torch.nn's answer or a clearer one, on every engine."""

from __future__ import annotations

import warnings

import pytest
import torch

import rnnlab

ENGINES = ("builtin", "fused", "autograd", "reference")


def _gru(engine, **kw):
    torch.manual_seed(0)
    return rnnlab.GRU(3, 4, engine=engine, **kw)


@pytest.mark.parametrize("engine", ENGINES)
def test_empty_batch_gives_empty_outputs_and_no_steps_is_an_error(engine):
    m, ref = _gru(engine, num_layers=2), torch.nn.GRU(3, 4, num_layers=2)
    y, h = m(torch.randn(5, 0, 3))
    y_ref, h_ref = ref(torch.randn(5, 0, 3))
    assert y.shape == y_ref.shape == (5, 0, 4) and h.shape == h_ref.shape == (2, 0, 4)
    with pytest.raises((ValueError, RuntimeError), match="sequence length"):
        m(torch.randn(0, 2, 3))


@pytest.mark.parametrize("engine", ENGINES)
def test_hx_of_another_dtype_is_refused_by_every_engine(engine):
    m = _gru(engine)
    with pytest.raises(ValueError, match=r"hx is torch\.float64 but the input is torch\.float32"):
        m(torch.randn(5, 2, 3), torch.zeros(1, 2, 4, dtype=torch.float64))


def test_unbatched_input_with_a_batched_hx_says_so():
    with pytest.raises(ValueError, match=r"unbatched \(T, D\) input, hx must be 2-D \(1, 4\)"):
        _gru("fused")(torch.randn(5, 3), torch.zeros(1, 1, 4))


def test_constructor_types_dropout_warning_and_torch_attributes():
    for bad, error in (
        (dict(dropout="0.5"), ValueError),
        (dict(bias=0), TypeError),
        (dict(batch_first=None), TypeError),
        (dict(bidirectional=1), TypeError),
    ):
        with pytest.raises(error):
            rnnlab.GRU(3, 4, **bad)
    with pytest.raises(ValueError, match="forget_bias must be a finite number"):
        rnnlab.LSTM(3, 4, forget_bias=float("inf"))
    with pytest.raises(ValueError, match="forget_bias must be a number, got 'x'"):
        rnnlab.LSTM(3, 4, forget_bias="x")
    # a string switch would be true even for "false": refused, from the module and from a config
    for kw in (dict(peephole="false"), dict(layer_norm="yes"), dict(layer_norm=2)):
        name = next(iter(kw))
        with pytest.raises(ValueError, match=f"{name} must be true or false"):
            rnnlab.LSTM(3, 4, **kw)
        with pytest.raises(ValueError, match=f"{name} must be true or false"):
            rnnlab.Recurrent("lstm", 3, 4, **kw)
    with pytest.warns(UserWarning, match="num_layers=1 does nothing"):
        rnnlab.LSTM(3, 4, dropout=0.2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rnnlab.LSTM(3, 4, num_layers=2, dropout=0.2)  # between layers: no warning
    for ours, theirs in (
        (rnnlab.LSTM(3, 4), torch.nn.LSTM(3, 4)),
        (rnnlab.GRU(3, 4), torch.nn.GRU(3, 4)),
        (rnnlab.RNN(3, 4), torch.nn.RNN(3, 4)),
        (rnnlab.RNN(3, 4, nonlinearity="relu"), torch.nn.RNN(3, 4, nonlinearity="relu")),
    ):
        assert ours.mode == theirs.mode
    assert rnnlab.LSTM(3, 4).proj_size == 0 and rnnlab.RNN(3, 4).nonlinearity == "tanh"


def test_reference_engine_catches_in_place_changes_and_a_second_backward():
    x = torch.randn(5, 2, 3)
    m = rnnlab.LSTM(3, 4, engine="reference")
    out, _ = m(x)
    with torch.no_grad():
        m.weight_hh_l0.mul_(0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    m = rnnlab.LSTM(3, 4, engine="reference")
    loss = m(x)[0].sum()
    loss.backward(retain_graph=True)  # retained: a second backward is allowed and adds the same
    g = m.weight_hh_l0.grad.clone()
    loss.backward()
    torch.testing.assert_close(m.weight_hh_l0.grad, 2 * g)
    loss = m(x)[0].sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


@pytest.mark.parametrize("engine", ["fused", "reference"])
def test_fused_and_reference_refuse_a_backward_after_any_weight_changed_in_place(engine):
    x = torch.randn(5, 2, 3)
    for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
        m = rnnlab.LSTM(3, 4, engine=engine)
        out, _ = m(x)
        with torch.no_grad():
            getattr(m, name).add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            out.sum().backward()


def test_autograd_engine_differentiates_the_weights_its_forward_used():
    # docs/api.md: it multiplies by a copy of weight_hh and never reads the biases, so an in-place
    # change to those after the forward pass leaves the gradients those of the forward's weights.
    torch.manual_seed(0)
    x = torch.randn(5, 2, 3, requires_grad=True)
    m = rnnlab.LSTM(3, 4, engine="autograd")
    expected = torch.autograd.grad(m(x)[0].sum(), [x, *m.parameters()])
    out, _ = m(x)
    with torch.no_grad():
        m.weight_hh_l0.add_(1.0)
        m.bias_ih_l0.add_(1.0)
    got = torch.autograd.grad(out.sum(), [x, *m.parameters()])
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e, rtol=0, atol=0)
    out, _ = m(x)
    with torch.no_grad():
        m.weight_ih_l0.add_(1.0)  # the input GEMM saves weight_ih itself: refused
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()


def test_reference_engine_refuses_dtypes_numpy_lacks():
    m = rnnlab.GRU(3, 4, engine="reference").bfloat16()
    with pytest.raises(ValueError, match="reference engine runs NumPy"):
        m(torch.randn(5, 2, 3).bfloat16())


@pytest.mark.parametrize("kw", [dict(engine="fused", peephole=True), dict(engine="builtin")])
def test_torch_compile_runs_the_stack_eagerly_with_the_same_result(kw):
    torch.manual_seed(0)
    m = rnnlab.LSTM(3, 4, **kw)
    x = torch.randn(4, 2, 3, requires_grad=True)
    out, _ = torch.compile(m, backend="eager")(x)
    out.sum().backward()
    g = x.grad.clone()
    x.grad = None
    ref, _ = m(x)
    ref.sum().backward()
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(g, x.grad)
