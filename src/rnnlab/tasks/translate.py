"""Translation: Multi30k German -> English (or the reverse) with a sequence-to-sequence model.

Dimension letters: S source length, T target length, B batch, V vocabulary.

**Tokenisation.** Sentences are split by the rule of :func:`rnnlab.data.tokenize` (words with
inner hyphens and apostrophes, every other non-space character a token of its own) *without*
its lower-casing; then the source is lower-cased (``data.lowercase_source``, default true: a
German noun is capitalised anyway, and users type ``"ein mann isst brot ."``) and the target keeps
its case (``data.lowercase_target``, default false), so the model writes cased English and BLEU is
cased. Vocabularies are built from the training split: the specials ``<pad> <unk> <start> <end>``
(ids 0-3), then every token seen at least ``data.min_freq`` times (default 2); rarer tokens and
unseen ones read as ``<unk>``.

**Batches.** Each epoch the training pairs are shuffled from ``(seed, epoch)``, cut into pools of
50 batches, sorted by length inside each pool and cut into batches (so a batch holds sentences of
similar lengths and little padding), and the batches are shuffled: indexable and reproducible.

**Metrics.** ``loss``: the mean negative log-likelihood per target token (``<end>`` included,
padding excluded, no label smoothing) and ``ppl = exp(loss)``; the trainer selects the model by
it. ``bleu`` (with ``data.eval_bleu``): corpus BLEU of greedy translations, computed by sacrebleu
on the *detokenised* output (:func:`detokenize`) against the *raw* reference sentences, with
sacrebleu's default 13a tokenisation, cased (signature ``nrefs:1|case:mixed|eff:no|tok:13a|
smooth:exp|version:...``, see :func:`corpus_bleu`). Beam-search BLEU comes from ``rnnlab
translate RUN --split test --beam 5``.
"""

from __future__ import annotations

import html
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch

from rnnlab.errors import ConfigError, UserError
from rnnlab.models.seq2seq import Hypothesis, Seq2Seq, Seq2SeqConfig
from rnnlab.tasks.base import StepOutput, Task

PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3


@dataclass
class TranslateDataConfig:
    """The ``[data]`` section of a translation config.

    Attributes:
        dataset: multi30k (``$RNNLAB_DATA/multi30k``, ``rnnlab data fetch multi30k``) or toy
            (made-up word pairs, no download: the target is the source's words, mapped one to one
            and in reverse order, so attention must learn an anti-diagonal alignment).
        src: source language, de or en.
        tgt: target language, the other one.
        min_freq: tokens seen fewer times in training become <unk>.
        lowercase_source: lower-case the source (see the module docstring).
        lowercase_target: lower-case the target (BLEU is then against lower-cased references
            and says ``case:lc`` in its signature).
        max_train_len: drop training pairs with more source or target tokens (0: keep all).
        eval_bleu: greedy-decode the split at every evaluation and report ``bleu`` (costs about
            a third of a training pass over that split).
        toy_pairs: training pairs of the toy data (valid and test have 200 each).
        toy_words: words in the toy vocabularies.
        toy_max_len: longest toy sentence (the shortest has 2 words).
    """

    dataset: Literal["multi30k", "toy"] = "multi30k"
    src: Literal["de", "en"] = "de"
    tgt: Literal["de", "en"] = "en"
    min_freq: int = 2
    lowercase_source: bool = True
    lowercase_target: bool = False
    max_train_len: int = 0
    eval_bleu: bool = True
    toy_pairs: int = 2000
    toy_words: int = 12
    toy_max_len: int = 8

    def validate(self) -> None:
        if self.src == self.tgt:
            raise ConfigError(f"data.src and data.tgt must differ, both are {self.src!r}")
        if self.min_freq < 1:
            raise ConfigError(f"data.min_freq must be >= 1, got {self.min_freq}")
        if self.max_train_len < 0:
            raise ConfigError(f"data.max_train_len must be >= 0, got {self.max_train_len}")
        if self.toy_pairs < 1 or self.toy_words < 1 or self.toy_max_len < 2:
            raise ConfigError("data.toy_pairs and data.toy_words must be >= 1, toy_max_len >= 2")


# ---------------------------------------------------------------------- text
# the token rule of rnnlab.data.tokenize, kept cased here (tokenize() lower-cases)
_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")
_QUOTED = re.compile(r'" (.*?) "')


def cased_tokenize(sentence: str) -> list[str]:
    """:func:`rnnlab.data.tokenize` without the lower-casing: ``"A man's T-shirt."`` ->
    ``["A", "man's", "T-shirt", "."]``."""
    return _TOKEN.findall(sentence)


def detokenize(tokens: Sequence[str]) -> str:
    """:func:`rnnlab.data.detokenize` (no space before closing punctuation or after an opening
    bracket), and double quotes hugged in pairs: ``named " El Corazon " .`` -> ``named "El
    Corazon".`` On the Multi30k test references, ``detokenize(cased_tokenize(s)) == s`` for all
    but 2 of 1000 sentences."""
    from rnnlab.data.multi30k import detokenize as base

    return _QUOTED.sub(r'"\1"', base(list(tokens)))


def corpus_bleu(hypotheses: list[str], references: list[str], lowercase: bool = False):
    """sacrebleu's corpus BLEU (13a tokenisation, exponential smoothing of the default).

    Args:
        hypotheses: detokenised outputs, one per sentence.
        references: the raw reference sentences (one reference each).
        lowercase: compare lower-cased text (the signature then says ``case:lc``).

    Returns:
        ``(score, signature)``, e.g. ``(34.1, "nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|
        version:2.6.0")``.
    """
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:  # pragma: no cover - the translate extra
        raise UserError(
            "BLEU needs sacrebleu: pip install 'rnnlab[translate]' (or pip install sacrebleu)"
        ) from None
    metric = BLEU(lowercase=lowercase)
    score = metric.corpus_score(list(hypotheses), [list(references)])
    return score.score, str(metric.get_signature())


def toy_pairs(n: int, seed: int, words: int = 12, min_len: int = 2, max_len: int = 8):
    """``n`` made-up pairs: source words ``q0 .. q{words-1}``, target words ``W0 ..``; the target
    is the source word for word in reverse order (``"q3 q1 q7"`` -> ``"W7 W1 W3"``)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        ids = [rng.randrange(words) for _ in range(rng.randint(min_len, max_len))]
        out.append((" ".join(f"q{i}" for i in ids), " ".join(f"W{i}" for i in reversed(ids))))
    return out


# ---------------------------------------------------------------------- batches
class Batch(NamedTuple):
    """One padded batch, time-major.

    Attributes:
        src: ``(S, B)`` source ids; src_lens: ``(B,)``.
        tgt_in: ``(T, B)`` ``<start> y_1 .. y_n`` (padded); tgt_out: ``(T, B)`` ``y_1 .. y_n
            <end>`` (padded with ``<pad>``, which the loss skips).
        index: ``(B,)`` positions of the pairs in their split.
    """

    src: torch.Tensor
    src_lens: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    index: torch.Tensor

    def to(self, device) -> Batch:
        return Batch(*(t.to(device) for t in self))


def collate(pairs: Sequence[tuple[list[int], list[int]]], index: Sequence[int]) -> Batch:
    """Pad ``(source ids, target ids)`` pairs into a :class:`Batch`."""
    B = len(pairs)
    S = max(len(s) for s, _ in pairs)
    T = max(len(t) for _, t in pairs) + 1
    src = torch.full((S, B), PAD_ID, dtype=torch.long)
    tgt_in = torch.full((T, B), PAD_ID, dtype=torch.long)
    tgt_out = torch.full((T, B), PAD_ID, dtype=torch.long)
    for b, (s, t) in enumerate(pairs):
        src[: len(s), b] = torch.tensor(s, dtype=torch.long)
        tgt_in[: len(t) + 1, b] = torch.tensor([START_ID, *t], dtype=torch.long)
        tgt_out[: len(t) + 1, b] = torch.tensor([*t, END_ID], dtype=torch.long)
    lens = torch.tensor([len(s) for s, _ in pairs], dtype=torch.long)
    return Batch(src, lens, tgt_in, tgt_out, torch.tensor(list(index), dtype=torch.long))


def bucket_batches(lengths: Sequence[tuple[int, int]], batch_size: int, rng: random.Random):
    """Index lists of batches of similar ``(source, target)`` lengths, in shuffled order.

    Shuffle, sort by length within pools of 50 batches, cut, shuffle the batches: each batch
    has little padding, and batches still differ from epoch to epoch.
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = 50 * batch_size
    batches = []
    for p in range(0, len(order), pool):
        chunk = sorted(order[p : p + pool], key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


class TrainBatches(Sequence):
    """The batches of one epoch, built on access (indexable, so a resumed run restarts at
    batch i exactly)."""

    def __init__(self, data, batches: list[list[int]], device):
        self.data, self.batches, self.device = data, batches, device

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int) -> Batch:
        idx = self.batches[i]
        return collate([self.data[j] for j in idx], idx).to(self.device)


class Translation(NamedTuple):
    """One translated sentence.

    Attributes:
        source: the source tokens as written (cased).
        output: the output tokens, one per attention row but the last (``<end>``); with
            ``unk = "copy"`` an ``<unk>`` is already replaced by its source word.
        text: the detokenised translation (``<unk>`` removed unless ``unk = "keep"``).
        attention: ``(len(output) + 1, len(source))`` weights (empty without attention).
        score: the decoder's score (log-probability; length-normalised for beams).
    """

    source: list[str]
    output: list[str]
    text: str
    attention: torch.Tensor
    score: float


# ---------------------------------------------------------------------- the task
class TranslateTask(Task):
    name = "translate"
    DataConfig = TranslateDataConfig
    ModelConfig = Seq2SeqConfig

    # ------------------------------------------------------------------ data
    def prepare(self, state: dict | None = None) -> None:
        """Build the vocabularies from the training split, or take them from ``state`` (a
        trained run): then the data is read only when something needs it, so translating with a
        trained run does not need the data set."""
        from rnnlab.data.vocab import END, PAD, START, UNK, Vocab

        self._data = None
        if state and "src_vocab" in state:
            self.src_vocab = Vocab.from_json(state["src_vocab"])
            self.tgt_vocab = Vocab.from_json(state["tgt_vocab"])
        else:
            d = self.cfg.data
            specials = [PAD, UNK, START, END]  # ids 0..3 (PAD_ID, UNK_ID, START_ID, END_ID)
            train = self.tokens["train"]
            self.src_vocab = Vocab.build(
                (w for s, _ in train for w in self.src_key(s)),
                specials=specials,
                min_freq=d.min_freq,
                sep=" ",
            )
            self.tgt_vocab = Vocab.build(
                (w for _, t in train for w in self.tgt_key(t)),
                specials=specials,
                min_freq=d.min_freq,
                sep=" ",
            )
        for v in (self.src_vocab, self.tgt_vocab):
            if v.itos[:4] != [PAD, UNK, START, END]:
                raise UserError(
                    "a translation vocabulary must start with <pad> <unk> <start> <end>"
                )

    @property
    def raw(self) -> dict[str, list[tuple[str, str]]]:
        """split -> ``(source, target)`` sentences as written."""
        return self._read()["raw"]

    @property
    def tokens(self) -> dict[str, list[tuple[list[str], list[str]]]]:
        """split -> ``(source tokens, target tokens)``, cased (:func:`cased_tokenize`)."""
        return self._read()["tokens"]

    @property
    def ids(self) -> dict[str, list[tuple[list[int], list[int]]]]:
        """split -> ``(source ids, target ids)`` (no <start>/<end>); training pairs filtered by
        ``data.max_train_len``. Needs the vocabularies (:meth:`prepare`)."""
        data = self._read()
        if "ids" not in data:
            data["ids"] = self._encode(data["tokens"])
        return data["ids"]

    def _read(self) -> dict:
        if getattr(self, "_data", None) is None:
            raw = {split: self._load(split) for split in ("train", "valid", "test")}
            tokens = {
                split: [(cased_tokenize(s), cased_tokenize(t)) for s, t in pairs]
                for split, pairs in raw.items()
            }
            self._data = {"raw": raw, "tokens": tokens}
        return self._data

    def _encode(self, tokens: dict) -> dict:
        d = self.cfg.data
        ids = {}
        for split, pairs in tokens.items():
            keep = [
                (self.src_vocab.encode(self.src_key(s)), self.tgt_vocab.encode(self.tgt_key(t)))
                for s, t in pairs
            ]
            if split == "train":
                n = d.max_train_len or math.inf
                keep = [(s, t) for s, t in keep if 0 < len(s) <= n and 0 < len(t) <= n]
            if not keep:
                raise UserError(f"the {split} split of {d.dataset!r} has no usable sentence pairs")
            ids[split] = keep
        return ids

    def _load(self, split: str) -> list[tuple[str, str]]:
        d = self.cfg.data
        if d.dataset == "toy":
            n = {"train": d.toy_pairs, "valid": 200, "test": 200}[split]
            seed = {"train": 1, "valid": 2, "test": 3}[split]
            return toy_pairs(n, seed, words=d.toy_words, max_len=d.toy_max_len)
        from rnnlab.data import load_multi30k

        return load_multi30k(split, d.src, d.tgt)

    def src_key(self, tokens: list[str]) -> list[str]:
        """Source tokens as the vocabulary spells them."""
        return [w.lower() for w in tokens] if self.cfg.data.lowercase_source else tokens

    def tgt_key(self, tokens: list[str]) -> list[str]:
        return [w.lower() for w in tokens] if self.cfg.data.lowercase_target else tokens

    def state(self) -> dict:
        return {"src_vocab": self.src_vocab.to_json(), "tgt_vocab": self.tgt_vocab.to_json()}

    def build_model(self) -> Seq2Seq:
        return Seq2Seq(len(self.src_vocab), len(self.tgt_vocab), self.cfg.model)

    # ------------------------------------------------------------------ training
    def train_loader(self, epoch: int) -> TrainBatches:
        data = self.ids["train"]
        rng = random.Random(self.cfg.seed * 1_000_003 + epoch)
        lengths = [(len(s), len(t)) for s, t in data]
        return TrainBatches(
            data, bucket_batches(lengths, self.cfg.train.batch_size, rng), self.device
        )

    def loss(self, model, batch: Batch, carry=None) -> StepOutput:
        m = self.cfg.model
        loss, _, n = model.loss(
            batch.src,
            batch.src_lens,
            batch.tgt_in,
            batch.tgt_out,
            label_smoothing=m.label_smoothing,
            teacher_forcing=m.teacher_forcing,
        )
        return StepOutput(loss, n)

    def count_items(self, batch: Batch) -> int:
        return int((batch.tgt_out != PAD_ID).sum())

    def eval_batches(self, split: str):
        """The split in batches sorted by source length (less padding); order restored by
        ``Batch.index``."""
        data = self.ids[split]
        order = sorted(range(len(data)), key=lambda i: (len(data[i][0]), len(data[i][1])))
        B = self.cfg.train.eval_batch_size or self.cfg.train.batch_size
        for i in range(0, len(order), B):
            idx = order[i : i + B]
            yield collate([data[j] for j in idx], idx).to(self.device)

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        if split not in self.splits:
            raise UserError(f"no split {split!r}; valid: {', '.join(self.splits)}")
        total, count = 0.0, 0
        for batch in self.eval_batches(split):
            _, nll, n = model.loss(batch.src, batch.src_lens, batch.tgt_in, batch.tgt_out)
            total += float(nll)
            count += n
        mean = total / count
        metrics = {"loss": mean, **self.loss_metrics(mean)}
        if self.cfg.data.eval_bleu:
            metrics["bleu"] = self.split_bleu(model, split, beam_size=1)[0]
        return metrics

    def split_bleu(self, model, split: str, **decoding):
        """``(bleu, signature, translations)`` of a whole split."""
        sources = [s for s, _ in self.tokens[split]]
        out = self.translate_tokens(model, sources, **decoding)
        refs = [t for _, t in self.raw[split]]
        lc = self.cfg.data.lowercase_target
        score, sig = corpus_bleu([o.text for o in out], refs, lowercase=lc)
        return score, sig, out

    def loss_metrics(self, loss: float) -> dict[str, float]:
        return {"ppl": math.exp(min(loss, 700.0))}

    def headline(self, metrics: dict) -> str:
        text = f"loss {metrics['loss']:.4f} ppl {metrics.get('ppl', math.exp(metrics['loss'])):.2f}"
        if "bleu" in metrics:
            text += f" bleu {metrics['bleu']:.2f}"
        return text

    def expected_initial_loss(self):
        V = len(self.tgt_vocab)
        return math.log(V), f"uniform prediction over the V = {V} target tokens gives ln V"

    # ------------------------------------------------------------------ translation
    @torch.no_grad()
    def translate(self, model, sentences: Sequence[str], **decoding) -> list[Translation]:
        """Translate raw sentences (tokenised like the training data). See
        :meth:`translate_tokens` for the decoding options."""
        return self.translate_tokens(model, [cased_tokenize(s) for s in sentences], **decoding)

    @torch.no_grad()
    def translate_tokens(
        self,
        model: Seq2Seq,
        sources: Sequence[list[str]],
        beam_size: int = 1,
        length_penalty: float | None = None,
        max_len: int | None = None,
        unk: str | None = None,
        batch_size: int = 0,
    ) -> list[Translation]:
        """Translate tokenised (cased) source sentences.

        Args:
            model: the trained :class:`Seq2Seq` (put in eval mode here).
            sources: one token list per sentence (an empty one gives an empty translation).
            beam_size: 1 for greedy decoding, else beam search.
            length_penalty, max_len, unk: default to the model config's (see
                :class:`rnnlab.models.seq2seq.Seq2SeqConfig`).
            batch_size: sentences decoded together (0: the evaluation batch size).

        Returns:
            One :class:`Translation` per source, in order.
        """
        m = self.cfg.model
        alpha = m.length_penalty if length_penalty is None else length_penalty
        max_len = max_len or m.max_len
        unk = unk or m.unk
        if unk not in ("copy", "remove", "keep", "forbid"):
            raise UserError(f"unk = {unk!r}: expected copy, remove, keep or forbid")
        if beam_size < 1 or max_len < 1:
            raise UserError("the beam size and the maximum length must be >= 1")
        ban = (UNK_ID,) if unk == "forbid" else ()
        B = batch_size or self.cfg.train.eval_batch_size or self.cfg.train.batch_size
        if beam_size > 1:
            B = max(1, B // beam_size)  # the beams make B * K rows
        was_training = model.training
        model.eval()
        results: list[Translation | None] = [None] * len(sources)
        todo = sorted((i for i, s in enumerate(sources) if s), key=lambda i: len(sources[i]))
        for i, s in enumerate(sources):
            if not s:
                results[i] = Translation([], [], "", torch.empty(0), 0.0)
        for start in range(0, len(todo), B):
            idx = todo[start : start + B]
            ids = [(self.src_vocab.encode(self.src_key(sources[i])), [0]) for i in idx]
            batch = collate(ids, idx).to(self.device)
            if beam_size == 1:
                hyps = model.greedy(batch.src, batch.src_lens, max_len, ban)
            else:
                hyps = model.beam_search(batch.src, batch.src_lens, beam_size, alpha, max_len, ban)
            for i, h in zip(idx, hyps):
                results[i] = self._finish(sources[i], h, unk)
        model.train(was_training)
        return results

    def _finish(self, source: list[str], hyp: Hypothesis, unk: str) -> Translation:
        """Ids to tokens, <unk> handling, detokenisation."""
        out = self.tgt_vocab.decode(hyp.tokens, as_list=True)
        attn = hyp.attention
        if unk == "copy" and attn.numel():
            # Luong et al. (2015b): an <unk> is the source word it attends to most
            out = [source[int(attn[i].argmax())] if w == "<unk>" else w for i, w in enumerate(out)]
        words = out if unk == "keep" else [w for w in out if w != "<unk>"]
        return Translation(list(source), out, detokenize(words), attn, hyp.score)

    # ------------------------------------------------------------------ reports
    def report_sections(self, model, run):
        from rnnlab.report.heatmap import alignment_figure
        from rnnlab.report.plots import to_data_uri

        n = 5
        out = self.translate_tokens(model, [s for s, _ in self.tokens["valid"][:n]])
        rows = "".join(
            f"<tr><td>{html.escape(src)}</td><td>{html.escape(o.text)}</td>"
            f"<td>{html.escape(ref)}</td></tr>"
            for (src, ref), o in zip(self.raw["valid"][:n], out)
        )
        parts = [
            "<table><tr><th>source</th><th>greedy translation</th><th>reference</th></tr>"
            + rows
            + "</table>"
        ]
        if out and out[0].attention.numel():
            fig = alignment_figure(out[0].attention, out[0].source, [*out[0].output, "<end>"])
            parts.append(f'<img src="{to_data_uri(fig)}" alt="attention" width="520">')
        return [("Translations (valid)", "".join(parts))]
