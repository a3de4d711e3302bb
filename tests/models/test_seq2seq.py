"""Seq2Seq: padding, attention weights, the decoders' paths and engines, greedy and beam search."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError
from rnnlab.models.seq2seq import DecoderCell, Seq2Seq, Seq2SeqConfig, gnmt_length_penalty

ATTN = ["none", "bahdanau", "luong-dot", "luong-general"]
V_SRC, V_TGT = 13, 11


def _model(attention="bahdanau", seed=0, **kw) -> Seq2Seq:
    torch.manual_seed(seed)
    cfg = {"embed_size": 6, "hidden_size": 8, "attention": attention, "dropout": 0.0, **kw}
    return Seq2Seq(V_SRC, V_TGT, Seq2SeqConfig(**cfg)).double().eval()


def _batch(seed=1, lens=(5, 2, 4), T=4):
    g = torch.Generator().manual_seed(seed)
    S, B = max(lens), len(lens)
    src = torch.randint(4, V_SRC, (S, B), generator=g)
    for b, n in enumerate(lens):
        src[n:, b] = 0
    tgt = torch.randint(4, V_TGT, (T, B), generator=g)
    tgt[0] = 2  # <start>
    out = torch.cat([tgt[1:], torch.full((1, B), 3)])  # ... <end>
    return src, torch.tensor(lens), tgt, out


@pytest.mark.parametrize("attention", ATTN)
def test_loss_is_cross_entropy_over_real_tokens_only(attention):
    m = _model(attention)
    src, lens, tgt_in, tgt_out = _batch()
    tgt_out[2:, 1] = 0  # sentence 1 has a shorter target: padding from step 2
    loss, nll, n = m.loss(src, lens, tgt_in, tgt_out)
    o, _ = m(src, lens, tgt_in)
    logits = m.generator(o)  # (T, B, V)
    keep = tgt_out != 0
    expected = F.cross_entropy(logits[keep], tgt_out[keep])
    assert n == int(keep.sum()) == 10
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(nll, expected.detach() * n)
    smooth, nll2, _ = m.loss(src, lens, tgt_in, tgt_out, label_smoothing=0.1)
    torch.testing.assert_close(
        smooth, F.cross_entropy(logits[keep], tgt_out[keep], label_smoothing=0.1)
    )
    torch.testing.assert_close(nll2, nll)  # the NLL is reported without smoothing


@pytest.mark.parametrize("attention", ATTN)
def test_padding_changes_nothing(attention):
    """Ids at padded source positions (and the batch's longest sentence) do not change a
    sentence's outputs: the encoder runs packed and attention masks padding."""
    m = _model(attention)
    src, lens, tgt_in, _ = _batch()
    o, a = m(src, lens, tgt_in)
    noisy = src.clone()
    noisy[2:, 1] = 7  # sentence 1 has length 2
    o2, _ = m(noisy, lens, tgt_in)
    torch.testing.assert_close(o2, o)
    alone, _ = m(src[:2, 1:2], lens[1:2], tgt_in[:, 1:2])  # the same sentence in a batch of one
    torch.testing.assert_close(alone[:, 0], o[:, 1])
    if attention != "none":
        T, B, S = a.shape
        assert (T, B, S) == (4, 3, 5)
        torch.testing.assert_close(a.sum(-1), torch.ones(T, B, dtype=a.dtype))
        assert a[:, 1, 2:].abs().max() == 0  # exactly zero weight on padding
        assert a[:, 2, 4].abs().max() == 0


def test_the_no_attention_fast_path_equals_the_step_loop():
    m = _model("none")
    src, lens, tgt_in, _ = _batch()
    o, a = m(src, lens, tgt_in)  # one recurrent call over all steps
    assert a is None
    mem = m.encode(src, lens)
    state = m.initial_state(mem)
    steps = []
    for t in range(tgt_in.size(0)):
        o_t, state, _ = m.step(tgt_in[t], state, mem)
        steps.append(o_t)
    torch.testing.assert_close(torch.stack(steps), o)


@pytest.mark.parametrize(
    "cell,variant", [("gru", {}), ("lstm", {}), ("rnn", {"nonlinearity": "relu"})]
)
def test_decoder_engines_agree(cell, variant):
    torch.manual_seed(0)
    cells = {
        e: DecoderCell(cell, 5, 4, variant, e).double()
        for e in ("cell", "builtin", "fused", "autograd")
    }
    for c in cells.values():
        c.load_state_dict(cells["cell"].state_dict())
    assert cells["cell"].kernel is not None and cells["fused"].kernel is None
    x = torch.randn(3, 5, dtype=torch.float64)
    state = tuple(torch.randn(3, 4, dtype=torch.float64) for _ in range(cells["cell"].n_states))
    ref = cells["cell"](x, state)
    for e in ("builtin", "fused", "autograd"):
        for got, want in zip(cells[e](x, state), ref):
            torch.testing.assert_close(got, want)


@pytest.mark.parametrize(
    "cell,variant", [("lstm", {}), ("gru", {"reset": "before"}), ("mut1", {}), ("rnn", {})]
)
@pytest.mark.parametrize("attention", ["none", "bahdanau", "luong-general"])
def test_every_cell_trains_and_every_parameter_gets_a_gradient(cell, variant, attention):
    m = _model(attention, cell=cell, variant=variant).train()
    src, lens, tgt_in, tgt_out = _batch()
    loss, _, _ = m.loss(src, lens, tgt_in, tgt_out)
    loss.backward()
    for name, p in m.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_initial_loss_is_near_ln_V():
    m = _model("bahdanau", embed_size=16, hidden_size=32)
    src, lens, tgt_in, tgt_out = _batch()
    loss, _, _ = m.loss(src, lens, tgt_in, tgt_out)
    assert loss.item() == pytest.approx(math.log(V_TGT), abs=0.05)


def test_teacher_forcing_zero_feeds_the_model_its_own_guesses():
    m = _model("bahdanau").train()  # dropout is 0: training mode only switches sampling on
    src, lens, tgt_in, _ = _batch()
    other = tgt_in.clone()
    other[1:] = (other[1:] + 1 - 4) % (V_TGT - 4) + 4  # different reference tokens after <start>
    torch.manual_seed(0)
    o_free, _ = m(src, lens, tgt_in, teacher_forcing=0.0)
    o_free2, _ = m(src, lens, other, teacher_forcing=0.0)
    torch.testing.assert_close(o_free, o_free2)  # only <start> is read
    o_forced, _ = m(src, lens, tgt_in, teacher_forcing=1.0)
    o_forced2, _ = m(src, lens, other, teacher_forcing=1.0)
    torch.testing.assert_close(o_forced[0], o_forced2[0])
    assert not torch.allclose(o_forced[1:], o_forced2[1:])


def test_parameter_count_by_hand():
    """E=6, H=8, bidirectional GRU encoder 2 x 4 (K=8), Bahdanau A=8, O=E tied."""
    m = _model("bahdanau")
    E, H, He, K, A = 6, 8, 4, 8, 8
    gru = lambda d, h: 3 * h * d + 3 * h * h + 6 * h  # noqa: E731
    expected = (
        V_SRC * E
        + V_TGT * E  # target embedding = softmax matrix
        + 2 * gru(E, He)  # encoder, two directions
        + (K * H + H)  # bridge
        + (H * A + K * A + A + A)  # W, U (with bias), v
        + gru(E + K, H)  # decoder cell
        + ((H + K + E) * E + E)  # out_proj
        + V_TGT  # softmax bias
    )
    assert m.num_parameters() == expected
    assert m.generator.weight is m.tgt_embedding.weight


@pytest.mark.parametrize("attention", ATTN)
def test_beam_of_one_is_greedy(attention):
    m = _model(attention, seed=3)
    src, lens, _, _ = _batch(seed=4, lens=(6, 3, 1, 5))
    greedy = m.greedy(src, lens, max_len=9)
    beam = m.beam_search(src, lens, beam_size=1, length_penalty=0.0, max_len=9)
    for g, b in zip(greedy, beam):
        assert g.tokens == b.tokens
        assert g.score == pytest.approx(b.score, abs=1e-9)
        if attention != "none":
            torch.testing.assert_close(g.attention, b.attention)
    L = [len(h.tokens) for h in greedy]
    assert all(n <= 8 for n in L)  # max_len counts <end>
    if attention != "none":
        for h, n in zip(greedy, lens.tolist()):
            assert h.attention.shape == (len(h.tokens) + 1, n)


@pytest.mark.parametrize("alpha", [0.0, 1.0])
def test_a_wide_beam_finds_the_exact_best_sequence(alpha):
    """With 2 words, at most 3 of them before <end>, and 8 beams (every prefix), beam search
    is exhaustive: it must return the best length-normalised score over all 15 sentences."""
    torch.manual_seed(5)
    cfg = Seq2SeqConfig(embed_size=6, hidden_size=8, attention="bahdanau", dropout=0.0)
    m = Seq2Seq(9, 6, cfg).double().eval()  # target words: ids 4 and 5
    src = torch.tensor([[4], [7], [8]])
    lens = torch.tensor([3])
    best, best_seq = -math.inf, None
    for n in range(4):
        for words in itertools.product([4, 5], repeat=n):
            tgt_in = torch.tensor([2, *words]).view(-1, 1)
            with torch.no_grad():
                o, _ = m(src, lens, tgt_in)
                logp = F.log_softmax(m.generator(o[:, 0]), -1)  # (n + 1, V)
            score = float(logp[torch.arange(n + 1), torch.tensor([*words, 3])].sum())
            score /= gnmt_length_penalty(n + 1, alpha)
            if score > best:
                best, best_seq = score, list(words)
    (hyp,) = m.beam_search(src, lens, beam_size=8, length_penalty=alpha, max_len=4)
    assert hyp.tokens == best_seq
    assert hyp.score == pytest.approx(best, abs=1e-9)


def test_banned_tokens_are_never_emitted():
    m = _model("luong-general", seed=2)
    src, lens, _, _ = _batch(seed=6)
    free = m.greedy(src, lens, max_len=12)
    banned = sorted({t for h in free for t in h.tokens})[:2]
    for hyps in (
        m.greedy(src, lens, 12, ban=tuple(banned)),
        m.beam_search(src, lens, 3, 1.0, 12, ban=tuple(banned)),
    ):
        assert not any(t in banned or t < 4 for h in hyps for t in h.tokens)


def test_config_errors():
    with pytest.raises(ConfigError, match="luong-dot"):
        Seq2SeqConfig(hidden_size=8, encoder_hidden_size=8, attention="luong-dot").validate()
    with pytest.raises(ConfigError, match="tie_embeddings"):
        Seq2SeqConfig(embed_size=8, output_size=16).validate()
    with pytest.raises(ConfigError, match="cell kernel"):
        Seq2Seq(
            5, 5, Seq2SeqConfig(cell="mut1", decoder_engine="cell", embed_size=4, hidden_size=4)
        )
    with pytest.raises(ConfigError, match="teacher_forcing"):
        Seq2SeqConfig(teacher_forcing=1.5).validate()
    Seq2SeqConfig(hidden_size=8, attention="luong-dot").validate()  # 2 x 4 == 8: fine
