"""The recurrent language model: embedding -> recurrent stack -> dropout -> decoder.

Dimension letters: T time, B batch, E embedding, H hidden, V vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab.errors import ConfigError
from rnnlab.models.stack_config import StackConfig


@dataclass
class LMConfig(StackConfig):
    """The ``[model]`` section of a language-model config: the stack's fields
    (:class:`rnnlab.models.stack_config.StackConfig`; ``dropout`` also applies to the embeddings
    and before the decoder, as in Zaremba et al.) and:

    Attributes:
        embed_size: E.
        tie_weights: share the embedding and decoder matrices (Press & Wolf 2017); needs E == H.
        init_range: if > 0, every parameter ~ U(-r, r) (Zaremba et al. use 0.1 and 0.05); else
            torch.nn's recurrent init with the embedding and decoder ~ U(-0.1, 0.1).
    """

    hidden_size: int = 256
    num_layers: int = 2
    embed_size: int = 128
    tie_weights: bool = False
    init_range: float = 0.0

    def validate(self) -> None:
        super().validate()
        if self.embed_size < 1:
            raise ConfigError(f"model.embed_size must be >= 1, got {self.embed_size}")
        if self.tie_weights and self.embed_size != self.hidden_size:
            raise ConfigError(
                f"model.tie_weights needs embed_size == hidden_size, got {self.embed_size} and {self.hidden_size}"
            )


class LanguageModel(nn.Module):
    """Next-token model over a vocabulary of ``vocab_size`` ids.

    ``forward(idx, hidden=None, targets=None) -> (logits, loss, hidden)``: ``idx: (T, B)`` ids,
    ``logits: (T, B, V)``, ``loss`` the mean cross-entropy over the ``T * B`` targets (None
    without targets), ``hidden`` the final recurrent state to carry into the next chunk.
    """

    def __init__(self, vocab_size: int, cfg: LMConfig):
        super().__init__()
        cfg.validate()  # e.g. tie_weights with embed_size != hidden_size, said now, not at forward
        self.cfg, self.vocab_size = cfg, vocab_size
        self.embedding = nn.Embedding(vocab_size, cfg.embed_size)
        self.rnn = cfg.build_stack(cfg.embed_size)
        self.drop = nn.Dropout(cfg.dropout)
        self.decoder = nn.Linear(cfg.hidden_size, vocab_size)
        if cfg.tie_weights:
            self.decoder.weight = self.embedding.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        r = self.cfg.init_range
        with torch.no_grad():
            if r > 0:
                for p in self.parameters():
                    p.uniform_(-r, r)
            else:
                self.embedding.weight.uniform_(-0.1, 0.1)
                if not self.cfg.tie_weights:
                    self.decoder.weight.uniform_(-0.1, 0.1)
                self.decoder.bias.zero_()

    def forward(self, idx, hidden=None, targets=None):
        if idx.dim() != 2:
            raise ValueError(f"idx must be (T, B) token ids, got shape {tuple(idx.shape)}")
        if targets is not None and targets.shape != idx.shape:
            raise ValueError(
                f"targets must have idx's shape (T, B) = {tuple(idx.shape)}, got "
                f"{tuple(targets.shape)} (transposed?)"
            )
        T, B = idx.shape
        emb = self.drop(self.embedding(idx))  # (T, B, E)
        out, hidden = self.rnn(emb, hidden)  # (T, B, H)
        logits = self.decoder(self.drop(out))  # (T, B, V)
        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(T * B, -1), targets.reshape(T * B))
        return logits, loss, hidden

    @torch.no_grad()
    def generate(
        self,
        prime: torch.Tensor,
        length: int,
        temperature: float = 1.0,
        top_k: int = 0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Feed ``prime: (P,)`` ids, then draw ``length`` ids from softmax(logits / temperature),
        restricted to the ``top_k`` most likely when ``top_k > 0``; ``temperature = 0`` takes
        the most likely id every step (greedy, the limit of a vanishing temperature).
        Returns ``(length,)``."""
        if not temperature >= 0:  # also nan
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        if prime.numel() == 0:
            raise ValueError("prime must hold at least one token id")
        was_training = self.training
        self.eval()
        try:
            return self._generate(prime, length, temperature, top_k, generator)
        finally:
            self.train(was_training)

    def _generate(self, prime, length, temperature, top_k, generator) -> torch.Tensor:
        logits, _, hidden = self(prime.view(-1, 1))
        last = logits[-1, 0]
        out = []
        for _ in range(length):
            if temperature == 0:
                nxt = last.argmax().view(1)
            else:
                z = last / temperature
                if top_k > 0:
                    kth = torch.topk(z, min(top_k, z.numel())).values[-1]
                    z = z.masked_fill(z < kth, float("-inf"))
                nxt = torch.multinomial(F.softmax(z, dim=-1), 1, generator=generator)
            out.append(nxt)
            logits, _, hidden = self(nxt.view(1, 1), hidden)
            last = logits[-1, 0]
        return torch.cat(out) if out else prime.new_empty(0)
