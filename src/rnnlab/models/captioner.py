"""Show, attend and tell (Xu et al. 2015): a CNN grid encoder and an LSTM decoder with soft
attention over the grid cells.

Dimension letters: B batch, T caption steps, L grid cells, D feature size, E embedding, H hidden,
A attention size, V vocabulary, K beam size.

With ``a_1 .. a_L`` the image's feature vectors (:class:`~rnnlab.models.image_encoder.ImageEncoder`)
and ``a_bar`` their mean, the decoder is::

    h_0 = tanh(W_h a_bar),  c_0 = tanh(W_c a_bar)                  initial state from the image
    alpha_t = softmax_i(v^T tanh(W s_{t-1} + U a_i))               Bahdanau attention over cells
    z_t = beta_t * sum_i alpha_ti a_i,  beta_t = sigmoid(w_b^T h_{t-1} + b)       gated context
    h_t, c_t = LSTM([E y_{t-1}; z_t], (h_{t-1}, c_{t-1}))
    p(y_t) = softmax(L_o(E y_{t-1} + L_h h_t + L_z z_t))                 the "deep output" layer

``beta`` is the paper's scalar gate (``gate = "vector"`` gives one gate per feature, as several
public implementations do; ``"none"`` drops it). The captions are framed by ``<start>`` (the first
input) and ``<end>`` (the last target). Training adds the *doubly stochastic* regulariser
``lambda * sum_i (1 - sum_t alpha_ti)^2`` per caption, which asks the model to have looked at
every part of the image by the end of the caption (:func:`caption_loss`).

Decoding: :meth:`Captioner.greedy` (batched) and :meth:`Captioner.beam_search` (one image, K
hypotheses), both returning the attention weights of every emitted word.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.errors import ConfigError
from rnnlab.models.image_encoder import ImageEncoder
from rnnlab.nn import Recurrent
from rnnlab.nn.attention import make_attention


@dataclass
class CaptionerConfig:
    """The ``[model]`` section of a captioning config.

    Attributes:
        encoder: ``small`` (our CNN, trained end to end) or ``torchvision`` (a backbone).
        channels: the small CNN's stage widths; its grid is image_size / 2^len(channels).
        coords: give the small CNN x/y coordinate channels.
        backbone: torchvision model name (``resnet18``, ``resnet50``, ``vgg16``...).
        backbone_weights: local weights file for the backbone (``.safetensors`` or a
            ``torch.save`` state dict, read with ``weights_only=True``); nothing is downloaded.
        finetune: train the backbone too (else it is a frozen feature extractor).
        grid: pool the feature map to grid x grid (0: keep the encoder's own grid).
        feature_size: D, the size of each grid cell's vector.
        embed_size: E.
        hidden_size: H.
        num_layers: LSTM layers (attention reads the top layer's state).
        cell: the decoder's recurrent cell (``lstm``, ``gru``...).
        variant: the cell's own options, e.g. ``{ layer_norm = true }``.
        attention: ``bahdanau`` (as the paper), ``luong-general`` or ``luong-dot`` (needs H == D).
        attention_size: A.
        gate: ``scalar`` (the paper's beta), ``vector`` (one per feature) or ``none``.
        deep_output: the paper's output layer from embedding, state and context; else a linear
            layer on the state.
        dropout: on the embedding and before the output layer.
        attention_reg: lambda of the doubly stochastic regulariser (the paper uses 1; 0: off).
        engine: the recurrent engine (``auto``...).
    """

    encoder: Literal["small", "torchvision"] = "small"
    channels: list[int] = field(default_factory=lambda: [32, 64, 128])
    coords: bool = True
    backbone: str = "resnet18"
    backbone_weights: str = ""
    finetune: bool = False
    grid: int = 0
    feature_size: int = 128
    embed_size: int = 64
    hidden_size: int = 256
    num_layers: int = 1
    cell: str = "lstm"
    variant: dict = field(default_factory=dict)
    attention: Literal["bahdanau", "luong-general", "luong-dot"] = "bahdanau"
    attention_size: int = 128
    gate: Literal["scalar", "vector", "none"] = "scalar"
    deep_output: bool = True
    dropout: float = 0.0
    attention_reg: float = 1.0
    engine: str = "auto"

    def validate(self) -> None:
        for name in ("feature_size", "embed_size", "hidden_size", "num_layers", "attention_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1")
        if not self.channels or any(c < 1 for c in self.channels):
            raise ConfigError("model.channels must be a non-empty list of positive widths")
        if self.grid < 0:
            raise ConfigError("model.grid must be >= 0")
        if not 0 <= self.dropout < 1:
            raise ConfigError("model.dropout must be in [0, 1)")
        if self.attention_reg < 0:
            raise ConfigError("model.attention_reg must be >= 0")
        if self.attention == "luong-dot" and self.hidden_size != self.feature_size:
            raise ConfigError("model.attention = 'luong-dot' needs hidden_size == feature_size")


@dataclass
class Decoded:
    """Captions decoded for a batch.

    Attributes:
        tokens: per image, the word ids (``<end>`` and what follows removed).
        alphas: per image, ``(T_i, L)`` attention weights of each emitted word (the ``<end>``
            step included as the last row when it was emitted).
        scores: per image, the caption's total log-probability (``<end>`` included).
    """

    tokens: list[list[int]]
    alphas: list[torch.Tensor]
    scores: list[float]


class Captioner(nn.Module):
    """Image -> caption with soft attention (see the module docstring).

    Args:
        vocab_size: V.
        cfg: the model config.
        start_id, end_id, pad_id: ids of ``<start>``, ``<end>`` and ``<pad>``.
    """

    def __init__(
        self, vocab_size: int, cfg: CaptionerConfig, start_id: int, end_id: int, pad_id: int = 0
    ):
        super().__init__()
        self.cfg, self.vocab_size = cfg, vocab_size
        self.start_id, self.end_id, self.pad_id = start_id, end_id, pad_id
        D, E, H, n = cfg.feature_size, cfg.embed_size, cfg.hidden_size, cfg.num_layers
        self.encoder = ImageEncoder(
            cfg.encoder,
            D,
            cfg.channels,
            cfg.coords,
            cfg.backbone,
            cfg.backbone_weights,
            cfg.finetune,
            cfg.grid,
        )
        self.embedding = nn.Embedding(vocab_size, E, padding_idx=pad_id)
        try:
            self.attention = make_attention(cfg.attention, H, D, cfg.attention_size)
            self.rnn = Recurrent(cfg.cell, E + D, H, n, engine=cfg.engine, **cfg.variant)
        except ValueError as e:
            raise ConfigError(f"[model]: {e}") from None
        self.n_states = self.rnn.n_states
        self.init_state = nn.Linear(D, self.n_states * n * H)  # h_0 (and c_0) from mean feature
        self.gate = {"scalar": nn.Linear(H, 1), "vector": nn.Linear(H, D), "none": None}[cfg.gate]
        self.drop = nn.Dropout(cfg.dropout)
        if cfg.deep_output:
            self.out_h = nn.Linear(H, E)
            self.out_z = nn.Linear(D, E, bias=False)
            self.out = nn.Linear(E, vocab_size)
        else:
            self.out = nn.Linear(H, vocab_size)

    # ------------------------------------------------------------------ pieces
    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """``images: (B, 3, P, P)`` -> ``(features (B, L, D), prepared keys, initial state)``."""
        feats = self.encoder(images)  # (B, L, D)
        B = feats.shape[0]
        n, H = self.cfg.num_layers, self.cfg.hidden_size
        init = torch.tanh(self.init_state(feats.mean(1)))  # (B, S*n*H)
        init = init.view(B, self.n_states, n, H).permute(1, 2, 0, 3)  # (S, n, B, H)
        state = tuple(s.contiguous() for s in init)
        return feats, self.attention.prepare(feats), state

    def _top(self, state) -> torch.Tensor:
        return state[0][-1]  # top layer's h: (B, H)

    def step(self, words, state, feats, prepared):
        """One decoder step for every row.

        Args:
            words: ``(B,)`` the previous word ids.
            state: tuple of ``(n, B, H)`` (``(h, c)`` for the LSTM).
            feats: ``(B, L, D)``; prepared: the attention's precomputed keys.

        Returns:
            ``(logits (B, V), state, alpha (B, L))``.
        """
        h_prev = self._top(state)
        context, alpha = self.attention(h_prev, feats, feats, prepared=prepared)  # (B, D), (B, L)
        if self.gate is not None:
            context = torch.sigmoid(self.gate(h_prev)) * context
        emb = self.drop(self.embedding(words))  # (B, E)
        x = torch.cat([emb, context], dim=-1).unsqueeze(0)  # (1, B, E+D)
        out, new = self.rnn(x, state if self.n_states == 2 else state[0])
        new = new if self.n_states == 2 else (new,)
        h = out[0]  # (B, H)
        if self.cfg.deep_output:
            logits = self.out(self.drop(emb + self.out_h(h) + self.out_z(context)))
        else:
            logits = self.out(self.drop(h))
        return logits, new, alpha

    # ------------------------------------------------------------------ training
    def forward(self, images, inputs):
        """Teacher forcing.

        Args:
            images: ``(B, 3, P, P)`` floats in [0, 1].
            inputs: ``(B, T)`` ids, ``<start>`` then the caption (padded with ``<pad>``).

        Returns:
            ``(logits (B, T, V), alphas (B, T, L))``: step t predicts the word after
            ``inputs[:, t]``.
        """
        feats, prepared, state = self.encode(images)
        logits, alphas = [], []
        for t in range(inputs.shape[1]):
            lg, state, a = self.step(inputs[:, t], state, feats, prepared)
            logits.append(lg)
            alphas.append(a)
        return torch.stack(logits, 1), torch.stack(alphas, 1)

    # ------------------------------------------------------------------ decoding
    @torch.no_grad()
    def greedy(self, images, max_len: int) -> Decoded:
        """The most likely word at every step, for a batch, until ``<end>`` or ``max_len`` words."""
        feats, prepared, state = self.encode(images)
        B = feats.shape[0]
        words = torch.full((B,), self.start_id, dtype=torch.long, device=feats.device)
        done = torch.zeros(B, dtype=torch.bool, device=feats.device)
        ids, alphas, scores = [], [], torch.zeros(B, device=feats.device)
        for _ in range(max_len):
            logits, state, a = self.step(words, state, feats, prepared)
            logp = F.log_softmax(logits, -1)
            words = logp.argmax(-1)  # (B,)
            scores += torch.where(done, 0.0, logp.gather(1, words[:, None])[:, 0])
            ids.append(words)
            alphas.append(a)
            done = done | (words == self.end_id)
            if bool(done.all()):
                break
        ids_t = torch.stack(ids, 1).tolist()  # (B, T)
        alpha_t = torch.stack(alphas, 1)  # (B, T, L)
        out_ids, out_alpha = [], []
        for b in range(B):
            row = ids_t[b]
            n = row.index(self.end_id) if self.end_id in row else len(row)
            out_ids.append(row[:n])
            out_alpha.append(alpha_t[b, : min(n + 1, len(row))].cpu())
        return Decoded(out_ids, out_alpha, scores.tolist())

    @torch.no_grad()
    def beam_search(
        self, image, beam_size: int = 3, max_len: int = 20, length_penalty: float = 0.0
    ) -> Decoded:
        """Beam search for one image ``(3, P, P)`` (or ``(1, 3, P, P)``).

        Keeps the ``beam_size`` best partial captions by total log-probability; a caption that
        emits ``<end>`` is finished. The best finished caption wins, ranked by
        ``log p / len ** length_penalty`` (0: plain log-probability, 1: per word). If none finished
        within ``max_len`` words, the best unfinished one is returned.
        """
        if image.dim() == 3:
            image = image.unsqueeze(0)
        K = beam_size
        feats, prepared, state = self.encode(image)  # batch of one
        words = torch.full((1,), self.start_id, dtype=torch.long, device=feats.device)
        scores = torch.zeros(1, device=feats.device)
        seqs: list[list[int]] = [[]]
        alph: list[list[torch.Tensor]] = [[]]
        finished: list[tuple[float, list[int], list[torch.Tensor], float]] = []
        for _ in range(max_len):
            n = words.shape[0]
            f, p = feats.expand(n, -1, -1), prepared.expand(n, *prepared.shape[1:])
            logits, state, a = self.step(words, state, f, p)
            total = scores[:, None] + F.log_softmax(logits, -1)  # (n, V)
            top, flat = total.view(-1).topk(min(K, total.numel()))
            rows = torch.div(flat, self.vocab_size, rounding_mode="floor")
            cols = flat % self.vocab_size
            keep = []
            for s, r, c in zip(top.tolist(), rows.tolist(), cols.tolist()):
                if c == self.end_id:
                    rank = s / max(1, len(seqs[r]) + 1) ** length_penalty
                    finished.append((rank, seqs[r], [*alph[r], a[r]], s))
                else:
                    keep.append((s, r, c))
            # stop when no live hypothesis can beat the best finished one: log p only falls
            best_done = max((f_[0] for f_ in finished), default=float("-inf"))
            keep = [k for k in keep if length_penalty > 0 or k[0] > best_done]
            if not keep or len(finished) >= K:
                break
            idx = torch.tensor([r for _, r, _ in keep], device=feats.device)
            state = tuple(s.index_select(1, idx) for s in state)
            scores = torch.tensor([s for s, _, _ in keep], device=feats.device)
            words = torch.tensor([c for _, _, c in keep], device=feats.device)
            seqs = [[*seqs[r], c] for _, r, c in keep]
            alph = [[*alph[r], a[r]] for _, r, _ in keep]
        if finished:
            _, seq, al, s = max(finished, key=lambda f_: f_[0])
        else:  # nothing ended within max_len: the best live hypothesis
            best = int(scores.argmax())
            seq, al, s = seqs[best], alph[best], float(scores[best])
        alphas = torch.stack(al).cpu() if al else feats.new_zeros(0, feats.shape[1]).cpu()
        return Decoded([seq], [alphas], [s])

    @torch.no_grad()
    def decode(self, images, max_len: int, beam_size: int = 1) -> Decoded:
        """Greedy (``beam_size == 1``, batched) or beam search (image by image)."""
        if beam_size <= 1:
            return self.greedy(images, max_len)
        parts = [self.beam_search(img, beam_size, max_len) for img in images]
        return Decoded(
            [p.tokens[0] for p in parts], [p.alphas[0] for p in parts], [p.scores[0] for p in parts]
        )


def caption_loss(
    logits: torch.Tensor,
    alphas: torch.Tensor,
    targets: torch.Tensor,
    pad_id: int,
    attention_reg: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """Word cross-entropy plus the doubly stochastic attention regulariser, per target word.

    Args:
        logits: ``(B, T, V)``; alphas: ``(B, T, L)``; targets: ``(B, T)`` (``pad_id`` is padding).
        attention_reg: lambda.

    Returns:
        ``(loss, ce, reg, n_words)``: ``ce`` the mean cross-entropy over real target words,
        ``reg = lambda * sum_b sum_i (1 - sum_t alpha_bti)^2 / n_words`` (padded steps not
        summed), ``loss = ce + reg``. Dividing both by the word count keeps the paper's balance
        (its loss is a sum over words plus the penalty per caption) at any batch size.
    """
    B, T, V = logits.shape
    mask = targets != pad_id  # (B, T)
    n = int(mask.sum())
    ce = F.cross_entropy(
        logits.reshape(B * T, V), targets.reshape(B * T), ignore_index=pad_id, reduction="sum"
    ) / max(n, 1)
    if attention_reg > 0:
        seen = (alphas * mask[..., None]).sum(1)  # (B, L): total attention per cell
        reg = attention_reg * ((1.0 - seen) ** 2).sum() / max(n, 1)
    else:
        reg = ce.new_zeros(())
    return ce + reg, ce, reg, n
