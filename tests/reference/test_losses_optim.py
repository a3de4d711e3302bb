"""Losses, optimizers and clipping of the reference engine."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rnnlab.reference.gradcheck import numerical_gradient, rel_error
from rnnlab.reference.losses import sigmoid_bce, softmax_cross_entropy
from rnnlab.reference.optim import SGD, Adam, RMSProp, clip_grad_norm, clip_grad_value


def test_softmax_cross_entropy_value_and_gradient():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 2, 5))
    targets = rng.integers(0, 5, size=(3, 2))
    mask = np.array([[1, 1], [1, 0], [0, 1]], dtype=float)
    loss, d = softmax_cross_entropy(logits, targets, mask)
    flat = logits.reshape(-1, 5)
    logp = flat - np.log(np.exp(flat).sum(1, keepdims=True))
    expected = -(logp[np.arange(6), targets.reshape(-1)] * mask.reshape(-1)).sum() / 4
    assert loss == pytest.approx(expected, rel=1e-12)
    num = numerical_gradient(lambda: softmax_cross_entropy(logits, targets, mask)[0], logits)
    assert rel_error(d, num) < 1e-7


def test_uniform_logits_give_log_v():
    loss, _ = softmax_cross_entropy(np.zeros((4, 10)), np.arange(4))
    assert loss == pytest.approx(math.log(10))


def test_sigmoid_bce_value_and_gradient():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 3, 6)) * 3
    targets = (rng.random((4, 3, 6)) > 0.5).astype(float)
    loss, d = sigmoid_bce(logits, targets)
    p = 1 / (1 + np.exp(-logits))
    expected = -(targets * np.log(p) + (1 - targets) * np.log(1 - p)).sum(-1).mean()
    assert loss == pytest.approx(expected, rel=1e-10)
    num = numerical_gradient(lambda: sigmoid_bce(logits, targets)[0], logits)
    assert rel_error(d, num) < 1e-7
    # Zero logits: each of the F features costs log 2.
    assert sigmoid_bce(np.zeros((2, 6)), np.ones((2, 6)))[0] == pytest.approx(6 * math.log(2))


def test_clip_grad_norm_scales_to_threshold_and_reports_pre_clip_norm():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([[4.0]])}
    norm = clip_grad_norm(grads, 1.0)
    assert norm == pytest.approx(5.0)
    assert np.sqrt(sum((g**2).sum() for g in grads.values())) == pytest.approx(1.0)
    np.testing.assert_allclose(grads["a"], [0.6, 0.0])
    small = {"a": np.array([0.3, 0.4])}
    assert clip_grad_norm(small, 1.0) == pytest.approx(0.5)
    np.testing.assert_allclose(small["a"], [0.3, 0.4])
    g = {"a": np.array([-3.0, 0.5, 2.0])}
    clip_grad_value(g, 1.0)
    np.testing.assert_allclose(g["a"], [-1.0, 0.5, 1.0])


def test_optimizers_known_steps():
    p = {"w": np.array([1.0])}
    SGD(lr=0.1).step(p, {"w": np.array([2.0])})
    assert p["w"][0] == pytest.approx(0.8)
    opt, p = SGD(lr=0.1, momentum=0.9), {"w": np.array([0.0])}
    opt.step(p, {"w": np.array([1.0])})
    opt.step(p, {"w": np.array([1.0])})
    assert p["w"][0] == pytest.approx(-0.1 - 0.19)
    # Adam's first step moves every weight by lr (times sign), whatever the gradient's size.
    p = {"w": np.array([0.0, 0.0])}
    Adam(lr=0.01).step(p, {"w": np.array([1e-3, -50.0])})
    np.testing.assert_allclose(p["w"], [-0.01, 0.01], rtol=1e-4)
    p = {"w": np.array([0.0])}
    RMSProp(lr=0.01, rho=0.9).step(p, {"w": np.array([2.0])})
    assert p["w"][0] == pytest.approx(-0.01 * 2.0 / (np.sqrt(0.1 * 4.0) + 1e-8))


def test_optimizers_minimise_a_quadratic():
    for opt in (SGD(lr=0.1, momentum=0.5), RMSProp(lr=0.05), Adam(lr=0.1)):
        p = {"w": np.array([3.0, -2.0])}
        for _ in range(300):
            opt.step(p, {"w": 2 * p["w"]})
        assert np.abs(p["w"]).max() < 0.05, type(opt).__name__


def test_losses_refuse_misaligned_targets_and_out_of_range_classes():
    logits = np.zeros((2, 3))
    with pytest.raises(ValueError, match=r"class ids in 0\.\.2"):
        softmax_cross_entropy(logits, np.array([-1, 0]))  # -1 would wrap to the last class
    with pytest.raises(ValueError, match=r"targets must have shape \(2,\)"):
        softmax_cross_entropy(logits, np.array([[0], [1]]))
    with pytest.raises(ValueError, match="integer class ids"):
        softmax_cross_entropy(logits, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 4\)"):
        softmax_cross_entropy(np.zeros((2, 4, 3)), np.zeros((2, 4), int), np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"targets must have shape \(2, 3\)"):
        sigmoid_bce(logits, np.ones(3))  # a (F,) target is not broadcast to every item


def test_optimisers_check_their_settings_and_gradient_shapes():
    for make in (lambda: SGD(lr=-1), lambda: RMSProp(rho=1.0), lambda: Adam(betas=(0.9, 1.5))):
        with pytest.raises(ValueError):
            make()
    p = {"w": np.zeros(3)}
    for opt in (SGD(), RMSProp(), Adam()):
        with pytest.raises(ValueError, match=r"gradient 'w' has shape \(1,\)"):
            opt.step(p, {"w": np.ones(1)})
    with pytest.raises(ValueError, match="eps must be > 0"):
        numerical_gradient(lambda: 0.0, np.zeros(2), eps=0)
