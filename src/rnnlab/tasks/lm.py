"""Language modelling (next-step prediction): characters or words, truncated BPTT.

Dimension letters: T time (the unroll, ``bptt``), B batch, V vocabulary.

The token stream of each split is cut into B parallel streams (``batchify``); a training batch is
the next ``bptt`` steps of every stream, and the recurrent state is carried from one batch to the
next and detached in between (truncated BPTT), as in Zaremba et al. (2014) and pytorch/examples.
Evaluation runs over the whole split the same way and averages the loss over every token.

Metrics: cross-entropy in nats per token (``loss``), perplexity ``exp(loss)`` (``ppl``), and for
character models bits per character ``loss / ln 2`` (``bpc``).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Literal

import torch

from rnnlab.errors import ConfigError, UserError, check_dataset_fields
from rnnlab.models.lm import LanguageModel, LMConfig
from rnnlab.tasks.base import StepOutput, Task

#: dataset -> (level, has a test split)
DATASETS = {
    "embedded": ("char", False),
    "hello": ("char", False),
    "tinyshakespeare": ("char", False),
    "ptb-char": ("char", True),
    "ptb-word": ("word", True),
    "text": (None, False),
}


@dataclass
class LMDataConfig:
    """The ``[data]`` section of a language-model config.

    Attributes:
        dataset: embedded (stdlib docstrings, no download), hello (the sources' toy),
            tinyshakespeare, ptb-char, ptb-word, or text (your own UTF-8 file, see ``path``).
        path: the file for ``dataset = "text"`` (split 90% / 10% into train / valid).
        level: char or word, for ``dataset = "text"`` (the others have a fixed level).
        bptt: unroll length T: steps per batch, and where the gradient is truncated.
        min_freq: word level, rarer words become ``<unk>``.
        eval_batch_size: streams used for evaluation.
    """

    dataset: Literal["embedded", "hello", "tinyshakespeare", "ptb-char", "ptb-word", "text"] = (
        "embedded"
    )
    path: str = ""
    level: Literal["char", "word"] = "char"
    bptt: int = 35
    min_freq: int = 1
    eval_batch_size: int = 10

    def validate(self) -> None:
        if self.bptt < 1 or self.eval_batch_size < 1:
            raise ConfigError("data.bptt and data.eval_batch_size must be >= 1")
        if self.dataset == "text" and not self.path:
            raise ConfigError('data.dataset = "text" needs data.path (a UTF-8 text file)')
        check_dataset_fields(self, {"path": "text"})


class LanguageModelTask(Task):
    name = "lm"
    DataConfig = LMDataConfig
    ModelConfig = LMConfig
    carries_state = True

    def prepare(self, state: dict | None = None) -> None:
        """Build the vocabulary from the training text, or take it from ``state`` (a trained
        run). The text itself is read only when something needs it (:attr:`symbols`,
        :attr:`ids`), so sampling from a trained run does not need the data set."""
        from rnnlab.data.vocab import Vocab

        d = self.cfg.data
        level = DATASETS[d.dataset][0] or d.level
        self.level = level
        self.splits = ("valid", "test") if DATASETS[d.dataset][1] else ("valid",)
        self._symbols: dict[str, list[str]] | None = None
        self._ids: dict[str, torch.Tensor] | None = None
        if state and "vocab" in state:
            self.vocab = Vocab.from_json(state["vocab"])
            return
        seen = set(self.symbols["train"])
        unseen = any(set(self.symbols[s]) - seen for s in self.splits)
        # PTB spells <unk> in its text; elsewhere add it only where it is needed.
        needs_unk = (level == "word" and d.min_freq > 1) or unseen
        specials = ["<unk>"] if needs_unk and "<unk>" not in seen else []
        self.vocab = Vocab.build(self.symbols["train"], specials=specials, min_freq=d.min_freq)
        _ = self.ids  # encode now: a fresh run reports a bad text before it trains

    @property
    def symbols(self) -> dict[str, list[str]]:
        """split -> the text as a list of symbols (characters or words), read on first use."""
        if self._symbols is None:
            self._symbols = {split: self._load(split) for split in ("train", *self.splits)}
        return self._symbols

    @property
    def ids(self) -> dict[str, torch.Tensor]:
        """split -> ``(N,)`` token ids of the whole split, encoded on first use."""
        if self._ids is None:
            ids = {}
            for split, syms in self.symbols.items():
                if not syms:
                    raise UserError(f"the {split} split of {self.cfg.data.dataset!r} is empty")
                try:
                    ids[split] = torch.tensor(self.vocab.encode(syms), dtype=torch.long)
                except ValueError as e:
                    raise UserError(f"{self.cfg.data.dataset} {split}: {e}") from None
            self._ids = ids
        return self._ids

    def _load(self, split: str) -> list[str]:
        from rnnlab.data import text

        d = self.cfg.data
        if d.dataset == "embedded":
            return list(text.load_embedded(split))
        if d.dataset == "hello":
            return list("hello")
        if d.dataset == "text":
            return text.load_file(d.path, split, level=d.level)
        return list(text.load_text(d.dataset, split))

    def state(self) -> dict:
        return {"vocab": self.vocab.to_json(), "level": self.level}

    def build_model(self) -> LanguageModel:
        return LanguageModel(len(self.vocab), self.cfg.model)

    # ------------------------------------------------------------------ training
    def train_loader(self, epoch: int):
        from rnnlab.data.lm import BPTTBatches, batchify

        B = self.cfg.train.batch_size
        if self.ids["train"].numel() < B + 1:
            raise UserError(
                f"the training text has {self.ids['train'].numel()} tokens, fewer than "
                f"train.batch_size + 1 = {B + 1}"
            )
        return BPTTBatches(batchify(self.ids["train"], B).to(self.device), self.cfg.data.bptt)

    def loss(self, model, batch, carry=None) -> StepOutput:
        x, y = batch
        _, loss, hidden = model(x, carry, targets=y)
        return StepOutput(loss, y.numel(), hidden)

    def count_items(self, batch) -> int:
        return batch[1].numel()

    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        from rnnlab.data.lm import batchify, get_batch

        ids = self.ids[split]
        B = min(self.cfg.data.eval_batch_size, max(1, (ids.numel() - 1) // 2))
        source = batchify(ids, B).to(self.device)
        total, count, hidden = 0.0, 0, None
        for i in range(0, source.size(0) - 1, self.cfg.data.bptt):
            x, y = get_batch(source, i, self.cfg.data.bptt)
            _, loss, hidden = model(x, hidden, targets=y)
            total += float(loss) * y.numel()
            count += y.numel()
        if count == 0:
            raise UserError(f"the {split} split is too short to evaluate ({ids.numel()} tokens)")
        mean = total / count
        return {"loss": mean, **self.loss_metrics(mean)}

    def loss_metrics(self, loss: float) -> dict[str, float]:
        out = {"ppl": math.exp(min(loss, 700.0))}
        if self.level == "char":
            out["bpc"] = loss / math.log(2)
        return out

    def headline(self, metrics: dict) -> str:
        if self.level == "char" and "bpc" in metrics:
            return f"loss {metrics['loss']:.4f} bpc {metrics['bpc']:.3f}"
        return f"loss {metrics['loss']:.4f} ppl {metrics.get('ppl', math.exp(metrics['loss'])):.2f}"

    def expected_initial_loss(self):
        V = len(self.vocab)
        return math.log(V), f"uniform prediction over V = {V} tokens gives ln V"

    # ------------------------------------------------------------------ generation
    def sample(
        self,
        model,
        prime: str,
        length: int,
        temperature: float = 1.0,
        top_k: int = 0,
        seed: int = 0,
    ) -> str:
        """Continue ``prime`` by ``length`` tokens. Word-level primes are split on spaces."""
        prime_syms = prime.split() if self.level == "word" else list(prime)
        if not prime_syms:
            prime_syms = (
                ["<eos>"]
                if self.level == "word" and "<eos>" in self.vocab
                else [self.vocab.decode([0])]
            )
        try:
            ids = torch.tensor(self.vocab.encode(prime_syms, strict=True), dtype=torch.long)
        except ValueError as e:
            raise UserError(f"--prime: {e}") from None
        gen = torch.Generator().manual_seed(seed)
        out = model.generate(ids.to(self.device), length, temperature, top_k, generator=gen)
        syms = self.vocab.decode(out.tolist(), as_list=True)
        if self.level == "word":
            return (" " if prime else "") + " ".join(syms)
        return "".join(syms)

    def report_sections(self, model, run):
        rows = []
        for t in (0.5, 0.8, 1.0):
            text = self.prime_text() + self.sample(
                model, self.prime_text(), 300 if self.level == "char" else 60, t, seed=1
            )
            rows.append(f"<h3>temperature {t}</h3><pre>{html.escape(text)}</pre>")
        return [("Samples", "".join(rows))]

    def prime_text(self) -> str:
        """A prime the model has certainly seen: the start of the validation text."""
        valid = self.symbols[self.splits[0]]
        return "".join(valid[:4]) if self.level == "char" else " ".join(valid[:3])
