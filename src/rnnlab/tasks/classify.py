"""Sentence classification (many to one): SST-2 sentiment, or your own labelled TSV files.

Dimension letters: T time (tokens), B batch, C classes.

A sentence is a list of tokens; the model (:class:`rnnlab.models.classifier.SequenceClassifier`)
embeds them, runs the recurrent stack over each sentence's own length (packed), summarises it
(``model.pooling``: last state, mean or max over steps, or ``max+mean`` / ``last+max+mean``
concatenated) and outputs C logits. The loss is the mean cross-entropy
over the batch's sentences; ``acc`` is the fraction classified correctly.

Data: ``dataset = "sst2"`` reads GLUE SST-2 (:func:`rnnlab.data.load_sst2`: 67,349 training
phrases and sentences, 872 dev sentences). GLUE's test labels are hidden, so the dev set is the
``valid`` split, used both to pick the best checkpoint (lowest dev loss) and to report accuracy.
``dataset = "tsv"`` reads ``train.tsv`` and ``dev.tsv`` from ``path`` in the same format
(``sentence<TAB>label`` rows under a ``sentence<TAB>label`` header, labels 0 or 1).

Batches: every epoch the training sentences are shuffled (a function of the run seed and the
epoch), cut into pools of 50 batches, each pool sorted by length and cut into batches (so a batch
holds sentences of similar length and little padding), and the batches shuffled again.

Word dropout (``data.word_dropout = p``, Iyyer et al. 2015): during training every token of a
batch is replaced by ``<unk>`` with probability p, so the model cannot lean on a few rare words it
has memorised. The draw is a function of the run seed, the epoch and the batch's sentences, so a
resumed run sees the same corrupted batches. Evaluation never drops words.

Subwords (``data.subwords = true``, Bojanowski et al. 2017): every word's embedding gets the mean
of its character n-grams' embeddings added (:mod:`rnnlab.data.subwords`: n = 3..5 with boundary
marks; the n-gram vocabulary comes from the training words), so a dev word never seen in
training (5.7% of SST-2's dev tokens, in 59% of its sentences) is no longer a bare ``<unk>``.
With subwords, word dropout drops a word's own vector and keeps its n-grams: in training it then
looks as a word never seen looks in evaluation.
The word types outside the vocabulary get ids from V on; the n-grams and those types are saved
in the run (``task.json``), so a resumed or evaluated run reads exactly the same table.

Distillation (``data.teachers = [RUN, ...]``, Hinton et al. 2015): trained classification runs
of the same examples (any cell or config) predict every training sentence once, before training;
their class probabilities at temperature tau (``data.distill_temperature``), averaged over the
teachers, are soft targets q. The training loss is then ``(1 - a) CE(z, y) + a tau^2
KL(q || softmax(z / tau))`` with ``a = data.distill_weight`` (the tau^2 keeps the soft term's
gradient on the scale of the hard one's); evaluation is the plain cross-entropy, as without
teachers. The teachers' ``data.teacher_checkpoint`` (default ``last``: the model their training
ended with, which no dev score chose) is used; a resumed run asks its teachers again, and gets the
same targets (inference is deterministic on the CPU), so the teacher runs must still exist.
"""

from __future__ import annotations

import html
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from rnnlab.errors import ConfigError, UserError, check_dataset_fields
from rnnlab.models.classifier import ClassifierConfig, SequenceClassifier
from rnnlab.tasks.base import StepOutput, Task

PAD, UNK = "<pad>", "<unk>"


# ---------------------------------------------------------------------- batching helpers
class IndexBatches(Sequence):
    """An epoch's batches, built on access: ``batches[i] = make(index_lists[i])``.

    Indexable with ``len()``, so a resumed run restarts at batch i exactly.
    """

    def __init__(self, index_lists: list[np.ndarray], make: Callable):
        self.index_lists, self.make = index_lists, make

    def __len__(self) -> int:
        return len(self.index_lists)

    def __getitem__(self, i):
        return self.make(self.index_lists[i])


def epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator that orders epoch ``epoch`` of a run with seed ``seed``."""
    return np.random.default_rng([seed % 2**32, epoch])


def shuffled_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """Indices ``0..n-1`` in a random order of ``(seed, epoch)``, cut into batches (the last
    one may be smaller)."""
    order = epoch_rng(seed, epoch).permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, seed: int, epoch: int, pool: int = 50
) -> list[np.ndarray]:
    """Like :func:`shuffled_batches`, but batches hold examples of similar length: shuffle, sort
    each pool of ``pool * batch_size`` examples by length, cut, then shuffle the batches."""
    rng = epoch_rng(seed, epoch)
    order = rng.permutation(len(lengths))
    size = pool * batch_size
    batches = []
    for start in range(0, len(order), size):
        chunk = order[start : start + size]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows of ``logits: (N, C)`` whose argmax is ``labels: (N,)`` (a 0-d tensor)."""
    return (logits.argmax(-1) == labels).float().mean()


# ---------------------------------------------------------------------- the task
@dataclass
class ClassifyDataConfig:
    """The ``[data]`` section of a sentence-classification config.

    Attributes:
        dataset: sst2 (GLUE SST-2 from the data cache) or tsv (your files, see ``path``).
        path: for ``dataset = "tsv"``, a folder holding ``train.tsv`` and ``dev.tsv``.
        min_freq: tokens seen fewer times in training become ``<unk>``.
        max_len: cut sentences to this many tokens (0: never).
        bucket: batch sentences of similar length together (less padding, same results per
            sentence; see the module docstring).
        word_dropout: probability of replacing each training token by ``<unk>`` (0: never; with
            subwords the token keeps its n-grams and loses only its own vector).
        subwords: add character n-gram embeddings to the word embeddings (see the module
            docstring); words outside the vocabulary then keep their n-grams.
        subword_min_types: keep the n-grams shared by at least this many training word types.
        teachers: run directories (or names) of trained classifiers of the same examples whose
            averaged predictions are distilled into this model (empty: no distillation).
        teacher_checkpoint: which checkpoint of each teacher predicts (``last`` or ``best``).
        distill_weight: a, the weight of the soft-target term (1 - a weighs the labels').
        distill_temperature: tau, the softmax temperature of teachers and student in that term.
    """

    dataset: Literal["sst2", "tsv"] = "sst2"
    path: str = ""
    min_freq: int = 1
    max_len: int = 0
    bucket: bool = True
    word_dropout: float = 0.0
    subwords: bool = False
    subword_min_types: int = 3
    teachers: list[str] = field(default_factory=list)
    teacher_checkpoint: Literal["last", "best"] = "last"
    distill_weight: float = 0.5
    distill_temperature: float = 2.0

    def validate(self) -> None:
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ConfigError(f"data.distill_weight must be in [0, 1], got {self.distill_weight}")
        if self.distill_temperature <= 0:
            raise ConfigError(
                f"data.distill_temperature must be > 0, got {self.distill_temperature}"
            )
        if self.subword_min_types < 1:
            raise ConfigError(f"data.subword_min_types must be >= 1, got {self.subword_min_types}")
        if self.min_freq < 1 or self.max_len < 0:
            raise ConfigError("data.min_freq must be >= 1 and data.max_len >= 0")
        if not 0.0 <= self.word_dropout < 1.0:
            raise ConfigError(f"data.word_dropout must be in [0, 1), got {self.word_dropout}")
        if self.dataset == "tsv" and not self.path:
            raise ConfigError(
                'data.dataset = "tsv" needs data.path (a folder with train.tsv, dev.tsv)'
            )
        check_dataset_fields(self, {"path": "tsv"})


class ClassifyTask(Task):
    name = "classify"
    DataConfig = ClassifyDataConfig
    ModelConfig = ClassifierConfig
    splits = ("valid",)

    def prepare(self, state: dict | None = None) -> None:
        from rnnlab.data.vocab import Vocab

        rows = {split: self._load(split) for split in ("train", "valid")}
        self.num_classes = 2  # the SST-2 format has labels 0 and 1 (the parser checks)
        if state and "vocab" in state:
            self.vocab = Vocab.from_json(state["vocab"])
        else:
            tokens = (tok for toks, _ in rows["train"] for tok in toks)
            self.vocab = Vocab.build(
                tokens, specials=[PAD, UNK], min_freq=self.cfg.data.min_freq, unk=UNK, sep=" "
            )
        max_len = self.cfg.data.max_len or None
        encode = self.vocab.encode
        if self.cfg.data.subwords:
            encode = self._prepare_subwords(rows, state)
        self.examples = {}
        for split, rs in rows.items():
            ids = [encode(toks[:max_len]) for toks, _ in rs]
            self.examples[split] = (
                ids,
                np.array([len(i) for i in ids], dtype=np.int64),
                np.array([y for _, y in rs], dtype=np.int64),
            )
        self.soft_targets = self._teacher_targets() if self.cfg.data.teachers else None

    def _teacher_targets(self) -> np.ndarray:
        """``(N, C)`` soft targets of the training sentences (see the module docstring)."""
        from rnnlab.train.ensemble import teacher_probabilities

        d = self.cfg.data
        n = len(self.examples["train"][2])
        # about 10 s per teacher for SST-2 on one thread: say why nothing else moves meanwhile
        print(
            f"distillation: {len(d.teachers)} teacher run(s) predict the {n:,} training examples",
            file=sys.stderr,
            flush=True,
        )
        try:
            q, labels = teacher_probabilities(
                d.teachers, "train", d.teacher_checkpoint, d.distill_temperature
            )
        except UserError as e:
            raise UserError(f"data.teachers: {e}") from None
        if not np.array_equal(labels, self.examples["train"][2]):
            raise UserError(
                "data.teachers: the teachers read other training examples than this run "
                f"({len(labels)} vs {len(self.examples['train'][2])} labels, or in another "
                "order); distillation needs a prediction for each of this run's sentences"
            )
        return q.astype(np.float32)

    def _prepare_subwords(self, rows: dict, state: dict | None) -> Callable:
        """Build (or, resuming, restore) the n-gram vocabulary and the types outside the word
        vocabulary; return the encoder that gives those types ids from V on."""
        from rnnlab.data.subwords import ngram_table, ngram_vocabulary

        if state and "ngrams" in state:
            ngrams, extra = state["ngrams"], state["extra_types"]
        else:
            seen = dict.fromkeys(tok for toks, _ in rows["train"] for tok in toks)
            ngrams = list(ngram_vocabulary(seen, self.cfg.data.subword_min_types))
            outside = (tok for rs in rows.values() for toks, _ in rs for tok in toks)
            extra = list(dict.fromkeys(t for t in outside if t not in self.vocab))
        V = len(self.vocab)
        types = self.vocab.itos + extra
        index = {g: i + 1 for i, g in enumerate(ngrams)}
        special = (self.vocab.index(PAD), self.vocab.index(UNK))
        table = ngram_table(types, index, special)
        # rows N .. N+V-1: the vocabulary words with their word vector dropped (<unk>'s) and their
        # n-grams kept, which is what word dropout turns a training word into (see _make)
        self._dropped_offset = len(types)
        table = np.concatenate([table, table[:V]])
        self.subwords = (table, len(ngrams), special[1])
        self._subword_state = {"ngrams": ngrams, "extra_types": extra}
        type_id = {**{t: V + i for i, t in enumerate(extra)}, **self.vocab.stoi}
        unk = special[1]

        def encode(toks: list[str]) -> list[int]:
            return [type_id.get(t, unk) for t in toks]

        return encode

    def _load(self, split: str) -> list[tuple[list[str], int]]:
        d = self.cfg.data
        if d.dataset == "sst2":
            from rnnlab.data import load_sst2

            rows = load_sst2(split)
        else:
            from rnnlab.data.sst2 import parse_sst2

            path = Path(d.path) / ("train.tsv" if split == "train" else "dev.tsv")
            if not path.is_file():
                raise UserError(
                    f"data.path: {path} not found (a tsv dataset needs train.tsv and dev.tsv)"
                )
            rows = parse_sst2(path)
        if not rows:
            raise UserError(f"the {split} split of {d.dataset!r} is empty")
        return rows

    def state(self) -> dict:
        return {"vocab": self.vocab.to_json(), **getattr(self, "_subword_state", {})}

    def build_model(self) -> SequenceClassifier:
        return SequenceClassifier(
            self.cfg.model,
            self.num_classes,
            vocab_size=len(self.vocab),
            pad_id=self.vocab.index(PAD),
            subwords=getattr(self, "subwords", None),
        )

    # ------------------------------------------------------------------ batches
    def _make(self, split: str, epoch: int | None = None) -> Callable:
        """Batch builder of a split; with ``epoch`` (training) it applies word dropout."""
        ids, lengths, labels = self.examples[split]
        p = self.cfg.data.word_dropout if epoch is not None else 0.0
        unk = self.vocab.index(UNK)
        offset = getattr(self, "_dropped_offset", None)
        soft = self.soft_targets if epoch is not None else None

        def make(idx: np.ndarray):
            L = lengths[idx]
            x = np.zeros((int(L.max()), len(idx)), dtype=np.int64)  # (T, B), 0 = <pad>
            for b, i in enumerate(idx):
                x[: L[b], b] = ids[i]
            if p > 0:
                rng = np.random.default_rng([self.cfg.seed % 2**32, epoch, *idx[:4].tolist()])
                real = np.arange(x.shape[0])[:, None] < L[None, :]
                drop = (rng.random(x.shape) < p) & real
                if offset is None:
                    x[drop] = unk
                else:  # the word becomes unknown as an unseen word is: its n-grams stay
                    drop &= x < len(self.vocab)
                    x[drop] += offset
            to = self.device
            batch = (
                torch.from_numpy(x).to(to),
                torch.from_numpy(L).to(to),
                torch.from_numpy(labels[idx]).to(to),
            )
            if soft is not None:
                batch += (torch.from_numpy(soft[idx]).to(to),)
            return batch

        return make

    def train_loader(self, epoch: int) -> IndexBatches:
        B, seed = self.cfg.train.batch_size, self.cfg.seed
        lengths = self.examples["train"][1]
        if self.cfg.data.bucket:
            batches = bucketed_batches(lengths, B, seed, epoch)
        else:
            batches = shuffled_batches(len(lengths), B, seed, epoch)
        return IndexBatches(batches, self._make("train", epoch))

    def loss(self, model, batch, carry=None) -> StepOutput:
        x, lengths, y = batch[:3]
        logits = model(x, lengths)  # (B, C)
        loss = F.cross_entropy(logits, y)
        if len(batch) == 4:  # soft targets of the teachers: distillation
            d = self.cfg.data
            a, tau = d.distill_weight, d.distill_temperature
            soft = F.kl_div(F.log_softmax(logits / tau, -1), batch[3], reduction="batchmean")
            loss = (1 - a) * loss + a * tau**2 * soft
        return StepOutput(loss, len(y), extra={"acc": accuracy(logits, y)})

    def count_items(self, batch) -> int:
        return len(batch[2])

    @torch.no_grad()
    def predict_split(self, model, split: str) -> tuple[np.ndarray, np.ndarray]:
        """``(logits: (N, C), labels: (N,))`` over a whole split, in the split's order."""
        _, lengths, labels = self.examples[split]
        B = self.cfg.train.eval_batch_size or self.cfg.train.batch_size
        order = np.argsort(lengths, kind="stable")  # similar lengths together: less padding
        make = self._make(split)
        out = np.zeros((len(labels), self.num_classes), dtype=np.float32)
        for i in range(0, len(order), B):
            idx = order[i : i + B]
            x, L, _ = make(idx)
            out[idx] = model(x, L).float().cpu().numpy()
        return out, labels

    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        logits, labels = self.predict_split(model, split)
        logits_t, labels_t = torch.from_numpy(logits), torch.from_numpy(labels)
        return {
            "loss": float(F.cross_entropy(logits_t, labels_t)),
            "acc": float(accuracy(logits_t, labels_t)),
        }

    def headline(self, metrics: dict) -> str:
        acc = f" acc {metrics['acc']:.4f}" if "acc" in metrics else ""
        return f"loss {metrics['loss']:.4f}{acc}"

    def expected_initial_loss(self):
        C = self.num_classes
        return math.log(C), f"uniform prediction over C = {C} classes gives ln C"

    def decode(self, ids) -> str:
        """The sentence of token ids; a word outside the vocabulary (subwords) by its spelling."""
        V = len(self.vocab)
        extra = getattr(self, "_subword_state", {}).get("extra_types", [])
        return " ".join(self.vocab.itos[i] if i < V else extra[i - V] for i in map(int, ids))

    def report_sections(self, model, run):
        logits, labels = self.predict_split(model, "valid")
        pred = logits.argmax(-1)
        C = self.num_classes
        confusion = np.zeros((C, C), dtype=np.int64)
        np.add.at(confusion, (labels, pred), 1)
        head = "".join(f"<th>pred {c}</th>" for c in range(C))
        body = "".join(
            f"<tr><th>true {c}</th>" + "".join(f"<td>{n}</td>" for n in row) + "</tr>"
            for c, row in enumerate(confusion)
        )
        ids = self.examples["valid"][0]
        rows = "".join(
            f"<tr><td>{labels[i]}</td><td>{pred[i]}</td>"
            f"<td>{html.escape(self.decode(ids[i]))}</td></tr>"
            for i in range(min(8, len(ids)))
        )
        return [
            ("Dev confusion matrix", f"<table><tr><th></th>{head}</tr>{body}</table>"),
            (
                "Dev examples",
                f"<table><tr><th>true</th><th>pred</th><th>sentence</th></tr>{rows}</table>",
            ),
        ]
