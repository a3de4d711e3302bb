"""The sources' toy and the NumPy character model."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.reference.charlm import CharRNN, CharVocab, train_chars, train_hello
from rnnlab.reference.gradcheck import numerical_gradient, rel_error


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
def test_hello_predicts_ello(kind):
    model, vocab, losses = train_hello(kind=kind)
    assert vocab.decode(model.predict(vocab.encode("hell"))) == "ello"
    assert losses[0] == pytest.approx(np.log(4), abs=0.15)  # starts near log V
    assert losses[-1] < 0.05


def test_charrnn_gradients_match_finite_differences():
    model = CharRNN(5, 4, kind="gru", num_layers=2, seed=3)
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 5, size=(6, 2)), rng.integers(0, 5, size=(6, 2))
    _, grads, _ = model.loss(x, y)
    for name in ("W_hy", "b_y", "weight_hh_l1", "weight_ih_l0"):
        num = numerical_gradient(lambda: model.loss(x, y)[0], model.params[name])
        assert rel_error(grads[name], num) < 1e-6, name


def test_train_chars_lowers_the_loss_and_samples_known_characters():
    text = "the cat sat on the mat. " * 40
    vocab = CharVocab.from_text(text)
    model = CharRNN(len(vocab), 32, kind="lstm", seed=0, dtype=np.float32)
    losses = train_chars(model, vocab.encode(text), steps=60, seq_len=20, batch=8, lr=1e-2)
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:5])
    sample = vocab.decode(model.sample(vocab.encode("the "), 30, temperature=0.5))
    assert len(sample) == 30 and set(sample) <= set(vocab.chars)


def test_vocab_refuses_unknown_characters():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        CharVocab(list("ab")).encode("abc")
