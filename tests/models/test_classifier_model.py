"""SequenceClassifier and SequenceTagger: padding never matters, pooling and directions do what
they say."""

from __future__ import annotations

import pytest
import torch

from rnnlab.models.classifier import ClassifierConfig, SequenceClassifier, step_mask
from rnnlab.models.tagger import SequenceTagger, TaggerConfig


def _padded_batch(lengths, V=12, T=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, V, (T, len(lengths)), generator=g)
    L = torch.tensor(lengths)
    for b, n in enumerate(lengths):
        x[n:, b] = 0  # <pad>
    return x, L


@pytest.mark.parametrize("pooling", ["last", "mean", "max", "last+max+mean"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["lstm", "gru", "mut1"])
def test_a_padded_batch_gives_each_sentence_its_own_output(pooling, bidirectional, cell):
    torch.manual_seed(0)
    cfg = ClassifierConfig(
        cell=cell,
        embed_size=6,
        hidden_size=5,
        num_layers=2,
        bidirectional=bidirectional,
        pooling=pooling,
    )
    model = SequenceClassifier(cfg, 3, vocab_size=12, pad_id=0).eval()
    x, L = _padded_batch([7, 3, 1, 5])
    out = model(x, L)  # (B, C)
    assert out.shape == (4, 3)
    for b, n in enumerate(L.tolist()):
        alone = model(x[:n, b : b + 1])  # the sentence without any padding
        torch.testing.assert_close(out[b : b + 1], alone, atol=1e-6, rtol=1e-5)


def test_pooling_matches_its_definition():
    torch.manual_seed(1)
    x, L = _padded_batch([6, 2, 4], T=6)
    outs = {}
    for pooling in ("last", "mean", "max", "max+mean", "last+max+mean"):
        m = SequenceClassifier(
            ClassifierConfig(embed_size=4, hidden_size=3, pooling=pooling), 2, vocab_size=12
        ).eval()
        if outs:  # the same encoder for every pooling (the heads differ in width)
            m.encoder.load_state_dict(outs["encoder"])
        else:
            outs["encoder"] = m.encoder.state_dict()
        enc_out, last = m.encoder(x, L)  # (T, B, H), (B, H)
        summary = m.pool(enc_out, last, L)
        for b, n in enumerate(L.tolist()):
            steps = enc_out[:n, b]  # the real steps only
            one = {"last": steps[-1], "mean": steps.mean(0), "max": steps.max(0).values}
            want = torch.cat([one[kind] for kind in pooling.split("+")])
            torch.testing.assert_close(summary[b], want)
        assert m.head.in_features == 3 * len(pooling.split("+"))


def test_feature_inputs_and_regression_output():
    m = SequenceClassifier(ClassifierConfig(hidden_size=4), 1, input_size=2)
    assert m(torch.randn(9, 5, 2)).shape == (5, 1)
    with pytest.raises(ValueError, match="features"):
        m(torch.randn(9, 5, 3))
    with pytest.raises(ValueError, match="exactly one"):
        SequenceClassifier(ClassifierConfig(), 2)


def test_step_mask():
    mask = step_mask(torch.tensor([3, 1]), 4, 2, "cpu")
    assert mask.T.tolist() == [[True, True, True, False], [True, False, False, False]]
    assert step_mask(None, 4, 2, "cpu") is None


@pytest.mark.parametrize("bidirectional", [False, True])
def test_tagger_reads_the_future_only_when_bidirectional(bidirectional):
    torch.manual_seed(0)
    m = SequenceTagger(
        TaggerConfig(hidden_size=6, bidirectional=bidirectional), 4, input_size=1
    ).eval()
    x = torch.randn(10, 2, 1)
    y = x.clone()
    y[6:] += 1.0  # change only the steps from t = 6 on
    a, b = m(x), m(y)
    assert a.shape == (10, 2, 4)
    assert not torch.allclose(a[6:], b[6:])
    past_changed = not torch.allclose(a[:6], b[:6])
    assert past_changed == bidirectional  # steps before 6 see the change only through the future


def test_tagger_ignores_padding():
    torch.manual_seed(0)
    m = SequenceTagger(
        TaggerConfig(embed_size=4, hidden_size=5, bidirectional=True), 3, vocab_size=12, pad_id=0
    ).eval()
    x, L = _padded_batch([7, 4])
    out = m(x, L)  # (T, B, C)
    alone = m(x[:4, 1:2])
    torch.testing.assert_close(out[:4, 1:2], alone, atol=1e-6, rtol=1e-5)


def test_subword_embedding_is_word_plus_mean_of_ngrams_and_places_unseen_words():
    from rnnlab.data.subwords import char_ngrams, ngram_table, ngram_vocabulary
    from rnnlab.models.subword_embedding import WordSubwordEmbedding

    torch.manual_seed(0)
    vocab = ["<pad>", "<unk>", "fun", "film"]
    extra = ["unfun"]  # outside the vocabulary: id 4
    index = ngram_vocabulary(["fun", "film"], min_types=1)
    table = ngram_table(vocab + extra, index, no_ngrams=[0, 1])
    emb = WordSubwordEmbedding(4, 6, table, len(index), pad_id=0, unk_id=1)
    x = torch.tensor([[2, 4], [0, 1]])  # (T=2, B=2)
    out = emb(x)
    assert out.shape == (2, 2, 6)
    W, G = emb.words.weight, emb.ngrams.weight
    fun = [index[g] for g in char_ngrams("fun")]
    torch.testing.assert_close(out[0, 0], W[2] + G[fun].mean(0))
    known = [index[g] for g in char_ngrams("unfun") if g in index]
    torch.testing.assert_close(out[0, 1], W[1] + G[known].mean(0))  # <unk>'s word vector
    torch.testing.assert_close(out[1, 0], torch.zeros(6))  # padding: zero word, empty bag
    torch.testing.assert_close(out[1, 1], W[1])  # <unk> (word dropout) has no n-grams
    out.sum().backward()
    assert G.grad[known].abs().sum() > 0 and W.grad[0].abs().sum() == 0
    with pytest.raises(ValueError, match="token ids"):
        emb(torch.tensor([[5]]))
