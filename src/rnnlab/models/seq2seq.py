"""Sequence to sequence: a recurrent encoder, a step-by-step recurrent decoder, with or without
attention (Sutskever et al. 2014; Cho et al. 2014; Bahdanau et al. 2015; Luong et al. 2015).

Dimension letters: S source length, T target length, B batch, E embedding, H decoder hidden,
K encoder output size (directions x encoder hidden), A attention size, O output-layer size,
V target vocabulary.

The encoder is embedding -> :class:`rnnlab.Recurrent` stack (any cell, bidirectional option) over
packed sequences, so padding never enters a state. Its outputs ``h_1..h_S: (B, S, K)`` are the
attention keys and values; its final state (the last layer's, both directions concatenated) is the
context ``c: (B, K)``. The decoder's initial state is ``s_0 = tanh(W_init c)`` (one layer per
state: h, and c for the LSTM). Three decoders, one per ``attention`` setting::

    none (Cho et al. 2014's "context" model: c is the only view of the source, at every step)
        s_t = cell([y_{t-1}; c], s_{t-1})
        o_t = tanh(W_o [s_t; c; y_{t-1}])

    bahdanau (additive scores from the previous state)
        e_ti = v^T tanh(W s_{t-1} + U h_i),  a_t = softmax(e_t) (padding -> -inf),  c_t = sum_i a_ti h_i
        s_t = cell([y_{t-1}; c_t], s_{t-1})
        o_t = tanh(W_o [s_t; c_t; y_{t-1}])

    luong-dot / luong-general (scores from the new state, with input feeding)
        s_t = cell([y_{t-1}; o_{t-1}], s_{t-1})         (o_{t-1} only with input_feeding)
        e_ti = s_t . h_i  or  s_t^T W h_i,  a_t, c_t as above
        o_t = tanh(W_o [s_t; c_t])                       (Luong's attentional hidden state)

and every decoder predicts ``p(y_t) = softmax(W_y o_t + b)`` where ``y_{t-1}`` is the previous
token's embedding (E) and, with ``tie_embeddings``, ``W_y`` *is* the target embedding matrix
(Press & Wolf 2017; needs O == E). The decoder cell runs one step at a time through torch's cell
kernels where torch has the cell (``torch.gru_cell``...), else as a ``Recurrent`` of length 1; the
parameters are those of a one-layer :class:`rnnlab.Recurrent` either way. Without attention and
with full teacher forcing nothing in the decoder's input depends on its own state, so training runs
the whole target sequence through the recurrent kernel in one call.

Decoding: :meth:`Seq2Seq.greedy` and :meth:`Seq2Seq.beam_search` (batched beams with the length
normalisation of Wu et al. 2016, ``lp(L) = ((5 + L) / 6)^alpha``), both returning the attention
weights of every output step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from rnnlab.errors import ConfigError
from rnnlab.nn import Recurrent
from rnnlab.nn.attention import make_attention

ATTENTIONS = ("none", "bahdanau", "luong-dot", "luong-general")


@dataclass
class Seq2SeqConfig:
    """The ``[model]`` section of a translation config.

    Attributes:
        cell: rnn, lstm, gru, mut1, mut2 or mut3 (encoder and decoder).
        variant: the cell's own options, e.g. ``{ reset = "before" }``.
        embed_size: E, source and target embeddings.
        hidden_size: H, the decoder state.
        encoder_hidden_size: per direction; 0 means ``hidden_size / directions`` (so K == H).
        encoder_layers: depth of the encoder stack.
        bidirectional: a bidirectional encoder (K = 2 x encoder_hidden_size).
        attention: none, bahdanau, luong-dot or luong-general (see the module docstring).
        attention_size: A of the additive (bahdanau) scorer; 0 means H.
        input_feeding: luong-*: feed o_{t-1} into the next step (Luong et al. 2015, sec. 3.3).
        output_size: O, the layer before the softmax; 0 means E.
        tie_embeddings: the softmax matrix is the target embedding matrix (needs O == E).
        dropout: on the embeddings, between encoder layers and on o_t.
        label_smoothing: epsilon of the training loss (evaluation reports the plain NLL).
        teacher_forcing: probability that a training step is fed the reference token rather
            than the model's own greedy guess (drawn once per step for the whole batch).
        engine: engine of the encoder's Recurrent stack (auto, builtin, fused, autograd).
        decoder_engine: auto (torch's cell kernel where torch has the cell, else a Recurrent of
            length 1), cell (torch's cell kernel; an error where there is none), or a Recurrent
            engine (builtin, fused, autograd) run one step at a time.
        beam_size: default beam of ``rnnlab translate`` (1: greedy).
        length_penalty: alpha of the beam's length normalisation (0: raw log-probability).
        max_len: most output tokens (<end> included); also at most 2 S + 10 per sentence.
        unk: what to do with <unk> in outputs: copy (the source word with the largest
            attention weight; removed without attention), remove, keep, or forbid (never emit).
    """

    cell: str = "gru"
    variant: dict = field(default_factory=dict)
    embed_size: int = 256
    hidden_size: int = 512
    encoder_hidden_size: int = 0
    encoder_layers: int = 1
    bidirectional: bool = True
    attention: Literal["none", "bahdanau", "luong-dot", "luong-general"] = "bahdanau"
    attention_size: int = 0
    input_feeding: bool = True
    output_size: int = 0
    tie_embeddings: bool = True
    dropout: float = 0.3
    label_smoothing: float = 0.0
    teacher_forcing: float = 1.0
    engine: str = "auto"
    decoder_engine: Literal["auto", "cell", "builtin", "fused", "autograd"] = "auto"
    beam_size: int = 5
    length_penalty: float = 1.0
    max_len: int = 100
    unk: Literal["copy", "remove", "keep", "forbid"] = "copy"

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def enc_hidden(self) -> int:
        return self.encoder_hidden_size or max(1, self.hidden_size // self.directions)

    @property
    def key_size(self) -> int:
        return self.directions * self.enc_hidden

    @property
    def out_size(self) -> int:
        return self.output_size or self.embed_size

    def validate(self) -> None:
        for name in ("embed_size", "hidden_size", "encoder_layers", "beam_size", "max_len"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("encoder_hidden_size", "attention_size", "output_size"):
            if getattr(self, name) < 0:
                raise ConfigError(f"model.{name} must be >= 0 (0: the default size)")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout must be in [0, 1), got {self.dropout}")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(
                f"model.label_smoothing must be in [0, 1), got {self.label_smoothing}"
            )
        if not 0 <= self.teacher_forcing <= 1:
            raise ConfigError(
                f"model.teacher_forcing must be in [0, 1], got {self.teacher_forcing}"
            )
        if self.length_penalty < 0:
            raise ConfigError("model.length_penalty must be >= 0")
        if self.tie_embeddings and self.out_size != self.embed_size:
            raise ConfigError(
                f"model.tie_embeddings needs output_size == embed_size, got {self.out_size} and "
                f"{self.embed_size} (set output_size = 0, or tie_embeddings = false)"
            )
        if self.attention == "luong-dot" and self.key_size != self.hidden_size:
            raise ConfigError(
                f"luong-dot attention scores s_t . h_i: it needs the encoder output size "
                f"({self.directions} x {self.enc_hidden} = {self.key_size}) to equal "
                f"hidden_size ({self.hidden_size}); use luong-general or change the sizes"
            )


class Memory(NamedTuple):
    """The encoded source, as every decoder step reads it.

    Attributes:
        keys: ``(B, S, K)`` encoder outputs (attention keys and values).
        mask: ``(B, S)`` bool, True at real source positions.
        prepared: the attention module's per-sequence precomputation of ``keys`` (or None).
        finals: the encoder's final state per state kind (h, and c for the LSTM): ``(B, K)`` each.
    """

    keys: torch.Tensor
    mask: torch.Tensor
    prepared: torch.Tensor | None
    finals: tuple[torch.Tensor, ...]

    def index(self, rows: torch.Tensor) -> Memory:
        """The memory of batch rows ``rows`` (beams: every sentence repeated K times)."""
        return Memory(
            self.keys.index_select(0, rows),
            self.mask.index_select(0, rows),
            None if self.prepared is None else self.prepared.index_select(0, rows),
            tuple(f.index_select(0, rows) for f in self.finals),
        )


class DecoderState(NamedTuple):
    """``cell``: the cell state ``(h,)`` or ``(h, c)``, each ``(B, H)``; ``feed``: ``o_{t-1}:
    (B, O)`` for input feeding (None otherwise)."""

    cell: tuple[torch.Tensor, ...]
    feed: torch.Tensor | None

    def index(self, rows: torch.Tensor) -> DecoderState:
        return DecoderState(
            tuple(s.index_select(0, rows) for s in self.cell),
            None if self.feed is None else self.feed.index_select(0, rows),
        )


class Hypothesis(NamedTuple):
    """One decoded sentence: ``tokens`` (ids, <end> excluded), ``attention: (len(tokens) + 1, S)``
    (a row per output step, the <end> step last; empty without attention) and its ``score``
    (log-probability, length-normalised for beams)."""

    tokens: list[int]
    attention: torch.Tensor
    score: float


class DecoderCell(nn.Module):
    """One step of a recurrent cell, ``(B, D), state -> state``, over the parameters of a
    one-layer :class:`rnnlab.Recurrent` (so ``sequence`` can run many steps in one kernel)."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, variant: dict, engine: str):
        super().__init__()
        rec_engine = engine if engine in ("builtin", "fused", "autograd") else "auto"
        self.rnn = Recurrent(cell, input_size, hidden_size, 1, engine=rec_engine, **variant)
        if engine == "cell" and not self.rnn.has_builtin:
            raise ConfigError(
                f"model.decoder_engine = 'cell': torch has no cell kernel for {cell} {variant}; "
                "use 'auto' or 'fused'"
            )
        self.kernel = None
        if engine in ("auto", "cell") and self.rnn.has_builtin:
            if cell == "lstm":
                self.kernel = torch.lstm_cell
            elif cell == "gru":
                self.kernel = torch.gru_cell
            elif variant.get("nonlinearity", "tanh") == "tanh":
                self.kernel = torch.rnn_tanh_cell
            else:
                self.kernel = torch.rnn_relu_cell
        self.n_states = self.rnn.n_states

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        """``x: (B, D)``, ``state``: ``(h,)`` or ``(h, c)`` of ``(B, H)``; returns the new state."""
        if self.kernel is not None:
            r = self.rnn
            w = (r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0)
            if self.n_states == 2:
                return tuple(self.kernel(x, state, *w))
            return (self.kernel(x, state[0], *w),)
        hx = tuple(s.unsqueeze(0) for s in state)  # (B, H) -> (1, B, H)
        _, h_n = self.rnn(x.unsqueeze(0), hx if self.n_states == 2 else hx[0])
        h_n = h_n if self.n_states == 2 else (h_n,)
        return tuple(h.squeeze(0) for h in h_n)

    def sequence(self, X: torch.Tensor, state: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """All steps at once: ``X: (T, B, D)`` -> hidden states ``(T, B, H)``."""
        hx = tuple(s.unsqueeze(0) for s in state)
        Y, _ = self.rnn(X, hx if self.n_states == 2 else hx[0])
        return Y


class Seq2Seq(nn.Module):
    """Encoder-decoder over source ids ``(S, B)`` and target ids ``(T, B)`` (time-major).

    Args:
        src_vocab: source vocabulary size.
        tgt_vocab: target vocabulary size V.
        cfg: the architecture (:class:`Seq2SeqConfig`).
        pad_id, start_id, end_id: special ids (the same in both vocabularies).
    """

    def __init__(
        self,
        src_vocab: int,
        tgt_vocab: int,
        cfg: Seq2SeqConfig,
        pad_id: int = 0,
        start_id: int = 2,
        end_id: int = 3,
    ):
        super().__init__()
        self.cfg = cfg
        self.pad_id, self.start_id, self.end_id = pad_id, start_id, end_id
        E, H, K, O = cfg.embed_size, cfg.hidden_size, cfg.key_size, cfg.out_size
        self.src_embedding = nn.Embedding(src_vocab, E, padding_idx=pad_id)
        self.tgt_embedding = nn.Embedding(tgt_vocab, E, padding_idx=pad_id)
        self.drop = nn.Dropout(cfg.dropout)
        try:
            self.encoder = Recurrent(
                cfg.cell,
                E,
                cfg.enc_hidden,
                cfg.encoder_layers,
                dropout=cfg.dropout if cfg.encoder_layers > 1 else 0.0,
                bidirectional=cfg.bidirectional,
                engine=cfg.engine,
                **cfg.variant,
            )
            luong = cfg.attention.startswith("luong")
            feed = luong and cfg.input_feeding
            dec_in = E + (O if feed else 0) if luong else E + K
            self.decoder = DecoderCell(cfg.cell, dec_in, H, cfg.variant, cfg.decoder_engine)
        except ValueError as e:
            raise ConfigError(f"[model]: {e}") from None
        self.luong, self.feed = luong, feed
        # s_0 = tanh(W_init c), one layer per state (h, and c for the LSTM)
        self.bridge = nn.ModuleList(nn.Linear(K, H) for _ in range(self.decoder.n_states))
        self.attention = None
        if cfg.attention != "none":
            self.attention = make_attention(cfg.attention, H, K, cfg.attention_size or H)
        self.out_proj = nn.Linear(H + K if luong else H + K + E, O)
        self.generator = nn.Linear(O, tgt_vocab)
        if cfg.tie_embeddings:
            self.generator.weight = self.tgt_embedding.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Embeddings ~ U(-0.1, 0.1) (with tied weights, N(0, 1) would start the softmax far
        from uniform) and a zero softmax bias, so the initial loss is near ln V."""
        with torch.no_grad():
            for emb in (self.src_embedding, self.tgt_embedding):
                emb.weight.uniform_(-0.1, 0.1)
                emb.weight[self.pad_id].zero_()
            if not self.cfg.tie_embeddings:
                self.generator.weight.uniform_(-0.1, 0.1)
            self.generator.bias.zero_()

    # ------------------------------------------------------------------ encoder
    def encode(self, src: torch.Tensor, src_lens: torch.Tensor) -> Memory:
        """``src: (S, B)`` ids, padded; ``src_lens: (B,)`` -> :class:`Memory`."""
        S, B = src.shape
        emb = self.drop(self.src_embedding(src))  # (S, B, E)
        packed = pack_padded_sequence(emb, src_lens.cpu(), enforce_sorted=False)
        out, h_n = self.encoder(packed)
        out, _ = pad_packed_sequence(out, total_length=S)  # (S, B, K), zeros at padding
        keys = out.transpose(0, 1).contiguous()  # S x B x K -> B x S x K
        mask = torch.arange(S, device=src.device)[None, :] < src_lens.to(src.device)[:, None]
        h_n = h_n if isinstance(h_n, tuple) else (h_n,)
        D = self.cfg.directions
        # last layer, both directions: (L*D, B, He) -> (B, D*He)
        finals = tuple(h[-D:].transpose(0, 1).reshape(B, -1) for h in h_n)
        prepared = None if self.attention is None else self.attention.prepare(keys)
        return Memory(keys, mask, prepared, finals)

    def initial_state(self, mem: Memory) -> DecoderState:
        cell = tuple(torch.tanh(lin(f)) for lin, f in zip(self.bridge, mem.finals))  # (B, H) each
        feed = None
        if self.feed:
            feed = mem.keys.new_zeros(mem.keys.size(0), self.cfg.out_size)
        return DecoderState(cell, feed)

    # ------------------------------------------------------------------ decoder
    def step(
        self, y_prev: torch.Tensor, state: DecoderState, mem: Memory
    ) -> tuple[torch.Tensor, DecoderState, torch.Tensor | None]:
        """One decoder step: ``y_prev: (B,)`` ids -> ``(o_t (B, O), new state, a_t (B, S) or
        None)``; the logits are ``self.generator(o_t)``."""
        emb = self.drop(self.tgt_embedding(y_prev))  # (B, E)
        if self.attention is None:
            ctx = mem.finals[0]  # (B, K): the same context at every step
            cell = self.decoder(torch.cat([emb, ctx], -1), state.cell)
            o = torch.tanh(self.out_proj(torch.cat([cell[0], ctx, emb], -1)))
            return self.drop(o), DecoderState(cell, None), None
        if not self.luong:  # Bahdanau: attend with s_{t-1}, then step
            ctx, a = self.attention(state.cell[0], mem.keys, mem.keys, mem.mask, mem.prepared)
            cell = self.decoder(torch.cat([emb, ctx], -1), state.cell)
            o = torch.tanh(self.out_proj(torch.cat([cell[0], ctx, emb], -1)))
            return self.drop(o), DecoderState(cell, None), a
        x = torch.cat([emb, state.feed], -1) if self.feed else emb  # Luong: step, then attend
        cell = self.decoder(x, state.cell)
        ctx, a = self.attention(cell[0], mem.keys, mem.keys, mem.mask, mem.prepared)
        o = torch.tanh(self.out_proj(torch.cat([cell[0], ctx], -1)))
        # input feeding carries o_t before dropout: dropout is applied where o_t is read
        return self.drop(o), DecoderState(cell, o if self.feed else None), a

    def forward(
        self,
        src: torch.Tensor,
        src_lens: torch.Tensor,
        tgt_in: torch.Tensor,
        teacher_forcing: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Run the decoder over ``tgt_in: (T, B)`` (``<start> y_1 .. y_{T-1}``).

        Returns ``(o, attention)``: ``o: (T, B, O)`` (logits are ``self.generator(o)``; the loss
        computes them only at real target positions) and ``attention: (T, B, S)`` or None.
        With ``teacher_forcing < 1`` (training only) each step is fed, with probability
        ``1 - teacher_forcing``, the model's own greedy prediction instead of ``tgt_in[t]``.
        """
        T, B = tgt_in.shape
        mem = self.encode(src, src_lens)
        state = self.initial_state(mem)
        sampled = self.training and teacher_forcing < 1.0
        if self.attention is None and not sampled:
            # every input is known in advance: one recurrent call over all T steps
            emb = self.drop(self.tgt_embedding(tgt_in))  # (T, B, E)
            ctx = mem.finals[0].unsqueeze(0).expand(T, B, -1)  # (T, B, K)
            s = self.decoder.sequence(torch.cat([emb, ctx], -1), state.cell)  # (T, B, H)
            o = torch.tanh(self.out_proj(torch.cat([s, ctx, emb], -1)))
            return self.drop(o), None
        outs, attns = [], []
        y = tgt_in[0]
        for t in range(T):
            o, state, a = self.step(y, state, mem)
            outs.append(o)
            if a is not None:
                attns.append(a)
            if t + 1 < T:
                y = tgt_in[t + 1]
                if sampled and float(torch.rand(())) >= teacher_forcing:
                    y = self.generator(o).argmax(-1)
        return torch.stack(outs), (torch.stack(attns) if attns else None)

    def loss(
        self,
        src: torch.Tensor,
        src_lens: torch.Tensor,
        tgt_in: torch.Tensor,
        tgt_out: torch.Tensor,
        label_smoothing: float = 0.0,
        teacher_forcing: float = 1.0,
    ) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Token-level cross-entropy, padding excluded.

        Args:
            tgt_in: ``(T, B)`` decoder inputs; tgt_out: ``(T, B)`` the tokens to predict
                (``pad_id`` where there is none).

        Returns:
            ``(loss, nll_sum, n)``: the mean training loss (with label smoothing) over the ``n``
            real target tokens, and the summed plain negative log-likelihood (for perplexity).
        """
        o, _ = self(src, src_lens, tgt_in, teacher_forcing)
        keep = tgt_out != self.pad_id  # (T, B)
        logits = self.generator(o[keep])  # (N, V): the softmax only where there is a target
        y = tgt_out[keep]
        n = int(y.numel())
        logp = F.log_softmax(logits, -1)  # once, for both losses
        nll = -logp.gather(1, y[:, None]).sum()
        loss = nll
        if label_smoothing:
            # F.cross_entropy's smoothing: (1 - eps) * nll + eps * (mean over classes of -log p)
            uniform = -logp.mean(-1).sum()
            loss = (1.0 - label_smoothing) * nll + label_smoothing * uniform
        return loss / max(n, 1), nll.detach(), n

    # ------------------------------------------------------------------ decoding
    def max_lengths(self, src_lens: torch.Tensor, max_len: int) -> torch.Tensor:
        """Most output steps per sentence (<end> included): ``min(max_len, 2 S + 10)``."""
        return torch.clamp(2 * src_lens.cpu() + 10, max=max_len)

    def _mask_logp(self, logp: torch.Tensor, ban: tuple[int, ...], force_end: torch.Tensor):
        """Never <pad>/<start>/``ban``; only <end> on rows of ``force_end: (rows,)``."""
        logp[:, [self.pad_id, self.start_id, *ban]] = float("-inf")
        if bool(force_end.any()):
            end = logp[:, self.end_id].clone()
            logp[force_end] = float("-inf")
            logp[:, self.end_id] = end
        return logp

    @torch.no_grad()
    def greedy(
        self, src: torch.Tensor, src_lens: torch.Tensor, max_len: int = 100, ban: tuple = ()
    ) -> list[Hypothesis]:
        """The most likely token at every step, for the whole batch at once.

        Args:
            src: ``(S, B)``; src_lens: ``(B,)``; max_len: see :meth:`max_lengths`;
            ban: token ids never to emit (e.g. <unk>).

        Returns:
            One :class:`Hypothesis` per sentence, in batch order.
        """
        S, B = src.shape
        mem = self.encode(src, src_lens)
        state = self.initial_state(mem)
        limits = self.max_lengths(src_lens, max_len).to(src.device)
        y = src.new_full((B,), self.start_id)
        done = torch.zeros(B, dtype=torch.bool, device=src.device)
        score = mem.keys.new_zeros(B)
        toks, attns = [], []
        for t in range(int(limits.max())):
            o, state, a = self.step(y, state, mem)
            logp = F.log_softmax(self.generator(o), -1)  # (B, V)
            logp = self._mask_logp(logp, ban, t + 1 >= limits)
            best, y = logp.max(-1)
            score += torch.where(done, torch.zeros_like(best), best)
            toks.append(torch.where(done, torch.full_like(y, self.pad_id), y))
            if a is not None:
                attns.append(a)
            done |= y == self.end_id
            if bool(done.all()):
                break
        toks = torch.stack(toks, 1).tolist()  # (B, steps)
        attn = torch.stack(attns, 1) if attns else None  # (B, steps, S)
        out = []
        for b in range(B):
            n = toks[b].index(self.end_id) if self.end_id in toks[b] else len(toks[b]) - 1
            A = attn[b, : n + 1, : int(src_lens[b])].cpu() if attn is not None else torch.empty(0)
            out.append(Hypothesis(toks[b][:n], A, float(score[b])))
        return out

    @torch.no_grad()
    def beam_search(
        self,
        src: torch.Tensor,
        src_lens: torch.Tensor,
        beam_size: int = 5,
        length_penalty: float = 1.0,
        max_len: int = 100,
        ban: tuple = (),
    ) -> list[Hypothesis]:
        """Beam search over the whole batch at once (B sentences x K beams as B*K rows).

        At each step every live beam extends by every token; of the best 2K candidates of a
        sentence, those ending in <end> among the first K are finished (scored by
        ``log p / lp(L)``, ``lp(L) = ((5 + L) / 6)^alpha``, L output steps with <end>, Wu et al.
        2016) and the best K others live on. A sentence is done when it has K finished
        hypotheses; at its length limit only <end> is allowed. ``beam_size = 1`` is greedy.

        Returns:
            The best finished :class:`Hypothesis` of every sentence, in batch order.
        """
        S, B = src.shape
        K = beam_size
        dev = src.device
        mem = self.encode(src, src_lens)
        rows = torch.arange(B, device=dev).repeat_interleave(K)  # (B*K,): sentence of each row
        mem = mem.index(rows)
        state = self.initial_state(mem)
        limits = self.max_lengths(src_lens, max_len).to(dev).repeat_interleave(K)  # (B*K,)
        y = src.new_full((B * K,), self.start_id)
        scores = mem.keys.new_full((B, K), float("-inf"))
        scores[:, 0] = 0.0  # one live beam per sentence at the start
        hist = src.new_empty((B * K, 0))  # tokens so far
        ahist = mem.keys.new_empty((B * K, 0, S))  # attention so far
        finished: list[list[Hypothesis]] = [[] for _ in range(B)]
        done = [False] * B
        base = (torch.arange(B, device=dev) * K)[:, None]  # (B, 1) first row of each sentence
        for t in range(int(limits.max())):
            o, state, a = self.step(y, state, mem)
            logp = F.log_softmax(self.generator(o), -1)  # (B*K, V)
            V = logp.size(-1)
            logp = self._mask_logp(logp, ban, t + 1 >= limits)
            cand = (scores.view(-1, 1) + logp).view(B, K * V)
            top_v, top_i = cand.topk(min(2 * K, K * V), dim=1)  # (B, 2K), best first
            beam, tok = top_i // V, top_i % V
            is_end = tok == self.end_id
            att = a
            lp = gnmt_length_penalty(t + 1, length_penalty)
            ends = is_end & torch.isfinite(top_v)
            ends[:, K:] = False
            for b, j in ends.nonzero().tolist():
                if done[b]:
                    continue
                r = b * K + int(beam[b, j])
                A = torch.empty(0)
                if att is not None:  # this beam's rows, the <end> step last; real source only
                    A = torch.cat([ahist[r], att[r : r + 1]])[:, : int(src_lens[b])].cpu()
                finished[b].append(Hypothesis(hist[r].tolist(), A, float(top_v[b, j]) / lp))
            for b in range(B):
                done[b] = done[b] or len(finished[b]) >= K
            if all(done):
                break
            live_v = top_v.masked_fill(is_end, float("-inf"))
            scores, sel = live_v.topk(K, dim=1)  # (B, K)
            src_rows = (base + beam.gather(1, sel)).view(-1)  # (B*K,)
            y = tok.gather(1, sel).view(-1)
            hist = torch.cat([hist.index_select(0, src_rows), y[:, None]], 1)
            if att is not None:
                step_a = att.index_select(0, src_rows)[:, None]  # (B*K, 1, S)
                ahist = torch.cat([ahist.index_select(0, src_rows), step_a], 1)
            state = state.index(src_rows)
        return [max(f, key=lambda h: h.score) for f in finished]

    def num_parameters(self) -> int:
        """Trainable parameters, a tied matrix counted once."""
        return sum(p.numel() for p in self.parameters())


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """Wu et al. (2016): ``((5 + L) / 6)^alpha``."""
    return math.pow((5.0 + length) / 6.0, alpha)
