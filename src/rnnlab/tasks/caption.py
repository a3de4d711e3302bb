"""Image captioning with soft attention (Show, attend and tell) on the synthetic shapes set or on
a real set in the Karpathy layout (Flickr8k, Flickr30k, COCO).

Dimension letters: B batch, T caption steps, L grid cells, P pixels per side, V vocabulary.

Training items are (image, caption) pairs; a caption becomes ``<start> w_1 .. w_n <end>``, the
model reads it without its last id and predicts it without its first (teacher forcing), and the
loss is the word cross-entropy over real words (padding masked) plus the doubly stochastic
attention regulariser (:func:`rnnlab.models.captioner.caption_loss`).

Evaluation (:meth:`CaptionTask.evaluate`) over a whole split:

- ``loss`` (= ``ce`` + ``reg``, per target word, teacher forcing), ``ppl = exp(ce)``;
- the decoded captions (greedy, or beam search with ``data.beam_size > 1``) scored against every
  reference of their image: ``bleu1`` .. ``bleu4`` are sacrebleu's corpus BLEU with
  ``max_ngram_order = n`` (geometric mean of the 1..n-gram precisions times the brevity penalty,
  the BLEU-n of the captioning literature), ``tokenize="none"`` on our lower-case tokens, on
  sacrebleu's 0-100 scale; ``bleu`` is ``bleu4``; ``exact`` is the share of images whose decoded
  caption equals one of their references;
- on the shapes set, attention localisation (:func:`localisation`): when the decoder emits a word
  that names an object (its colour or shape word, naming exactly one object of the scene),
  ``loc_share`` is the mean attention weight on that object's grid cells and ``loc_uniform`` the
  share uniform attention would give them (cells / L); ``loc = loc_share / loc_uniform``. The
  same under teacher forcing on the reference caption gives ``loc_forced``.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from rnnlab.errors import ConfigError, UserError, check_dataset_fields
from rnnlab.models.captioner import Captioner, CaptionerConfig, caption_loss
from rnnlab.tasks.base import StepOutput, Task

SPECIALS = ("<pad>", "<start>", "<end>", "<unk>")


@dataclass
class CaptionDataConfig:
    """The ``[data]`` section of a captioning config.

    Attributes:
        dataset: ``shapes`` (the synthetic set, generated) or ``karpathy`` (``json`` + ``images``).
        seed: the shapes set's data seed (another seed: a fresh set of the same distribution).
        num_train, num_valid, num_test: shapes scenes per split.
        min_objects, max_objects: objects per shapes scene (1..3).
        image_size: P; the shapes are drawn at this size, real images resized to it.
        json: the Karpathy split file (``dataset_flickr8k.json``...).
        images: the image folder it refers to.
        min_freq: words seen fewer times in the training captions become ``<unk>``.
        max_caption_len: drop training captions longer than this many words (0: keep all).
        cache_images: keep resized real images in memory after their first read.
        beam_size: 1 decodes greedily in evaluation; more uses beam search.
        length_penalty: beam search ranks finished captions by log p / length ** this.
        max_decode_len: the longest caption decoded (0: the longest training caption + 2).
        eval_batch_size: images per evaluation batch.
    """

    dataset: Literal["shapes", "karpathy"] = "shapes"
    seed: int = 0
    num_train: int = 8000
    num_valid: int = 500
    num_test: int = 500
    min_objects: int = 1
    max_objects: int = 3
    image_size: int = 56
    json: str = ""
    images: str = ""
    min_freq: int = 1
    max_caption_len: int = 0
    cache_images: bool = True
    beam_size: int = 1
    length_penalty: float = 0.0
    max_decode_len: int = 0
    eval_batch_size: int = 100

    def validate(self) -> None:
        for name in ("num_train", "num_valid", "num_test", "min_freq", "beam_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"data.{name} must be >= 1")
        if self.eval_batch_size < 1:
            raise ConfigError("data.eval_batch_size must be >= 1")
        if not 1 <= self.min_objects <= self.max_objects <= 3:
            raise ConfigError("need 1 <= data.min_objects <= data.max_objects <= 3")
        if self.image_size < 32:
            raise ConfigError("data.image_size must be >= 32")
        if self.max_caption_len < 0 or self.max_decode_len < 0:
            raise ConfigError("data.max_caption_len and data.max_decode_len must be >= 0")
        if self.dataset == "karpathy" and not (self.json and self.images):
            raise ConfigError(
                'data.dataset = "karpathy" needs data.json (the split file, e.g. '
                "dataset_flickr8k.json) and data.images (the image folder)"
            )
        check_dataset_fields(self, {"json": "karpathy", "images": "karpathy"})


# ---------------------------------------------------------------------- data
class ImageSource:
    """Images of one split by index: an in-memory ``(N, P, P, 3)`` uint8 array, or files read
    (and resized) on first use."""

    def __init__(self, array: np.ndarray | None = None, paths=None, size: int = 0, cache=True):
        self.array, self.paths, self.size, self.cache = array, paths, size, cache
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.array) if self.array is not None else len(self.paths)

    def numpy(self, i: int) -> np.ndarray:
        if self.array is not None:
            return self.array[i]
        if i in self._cache:
            return self._cache[i]
        from rnnlab.data.captions import read_image

        img = read_image(self.paths[i], self.size)
        if self.cache:
            self._cache[i] = img
        return img

    def batch(self, idx, device) -> torch.Tensor:
        """``(B, 3, P, P)`` floats in [0, 1]."""
        if self.array is not None:
            arr = self.array[np.asarray(idx)]
        else:
            arr = np.stack([self.numpy(int(i)) for i in idx])
        x = torch.from_numpy(np.ascontiguousarray(arr)).to(device)
        return x.permute(0, 3, 1, 2).float().div_(255.0)  # (B, P, P, 3) -> (B, 3, P, P)


@dataclass
class CaptionSplit:
    """One split: images, reference captions (token lists) per image, and for the shapes set
    the scenes (objects and which word names which)."""

    images: ImageSource
    refs: list[list[list[str]]]
    scenes: list | None = None

    def pairs(self, max_len: int = 0) -> np.ndarray:
        """``(M, 2)``: (image index, caption index) of every caption (at most ``max_len``
        words when > 0)."""
        rows = [
            (i, j)
            for i, caps in enumerate(self.refs)
            for j, c in enumerate(caps)
            if not max_len or len(c) <= max_len
        ]
        return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def encode_captions(vocab, captions: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(inputs, targets)``, both ``(B, T)`` with T the longest caption + 1: inputs are
    ``<start> w_1 .. w_n`` and targets ``w_1 .. w_n <end>``, padded with ``<pad>`` (id 0)."""
    start, end = vocab.index("<start>"), vocab.index("<end>")
    seqs = [[start, *vocab.encode(c), end] for c in captions]
    T = max(len(s) for s in seqs) - 1
    inputs = torch.zeros(len(seqs), T, dtype=torch.long)
    targets = torch.zeros(len(seqs), T, dtype=torch.long)
    for b, s in enumerate(seqs):
        inputs[b, : len(s) - 1] = torch.tensor(s[:-1])
        targets[b, : len(s) - 1] = torch.tensor(s[1:])
    return inputs, targets


class CaptionBatches:
    """The batches of one training epoch: indexable, the order fixed by ``(seed, epoch)``."""

    def __init__(self, task: CaptionTask, split: CaptionSplit, pairs: np.ndarray, B: int, order):
        self.task, self.split, self.B = task, split, B
        self.pairs = pairs[order]

    def __len__(self) -> int:
        return (len(self.pairs) + self.B - 1) // self.B

    def __getitem__(self, i: int):
        if not 0 <= i < len(self):
            raise IndexError(i)
        rows = self.pairs[i * self.B : (i + 1) * self.B]
        caps = [self.split.refs[a][b] for a, b in rows]
        inputs, targets = encode_captions(self.task.vocab, caps)
        dev = self.task.device
        return self.split.images.batch(rows[:, 0], dev), inputs.to(dev), targets.to(dev)


# ---------------------------------------------------------------------- metrics
def bleu_scores(hyps: list[list[str]], refs: list[list[list[str]]]) -> dict[str, float]:
    """Corpus BLEU-1..4 (sacrebleu, ``tokenize="none"``, 0-100) of tokenised hypotheses against
    every reference of their image (any number per image)."""
    try:
        from sacrebleu.metrics import BLEU
    except ImportError:
        raise UserError("BLEU needs sacrebleu: pip install 'rnnlab[translate]'") from None
    n_refs = max(len(r) for r in refs)
    streams = [[" ".join(r[k]) if k < len(r) else None for r in refs] for k in range(n_refs)]
    hyp_text = [" ".join(h) for h in hyps]
    out = {}
    for n in range(1, 5):
        out[f"bleu{n}"] = float(
            BLEU(max_ngram_order=n, tokenize="none").corpus_score(hyp_text, streams).score
        )
    return out


def attention_share(
    alphas: np.ndarray, owners: list[int], cells: np.ndarray
) -> tuple[float, float, int]:
    """Attention on the named objects' cells.

    Args:
        alphas: ``(T, L)`` attention of each emitted word.
        owners: per word, the index of the object it names, or -1 (not counted).
        cells: ``(K, L)`` bool, each object's cells.

    Returns:
        ``(sum of shares, sum of uniform shares, words counted)``; a share is the attention
        weight on the object's cells, its uniform share ``cells / L``.
    """
    share = uniform = 0.0
    n = 0
    L = cells.shape[1]
    for t, k in enumerate(owners[: len(alphas)]):
        if k < 0:
            continue
        share += float(alphas[t][cells[k]].sum())
        uniform += float(cells[k].sum()) / L
        n += 1
    return share, uniform, n


def localisation(parts: list[tuple[float, float, int]]) -> dict[str, float]:
    """Combine :func:`attention_share` results: mean share, mean uniform share and their ratio."""
    share = sum(p[0] for p in parts)
    uniform = sum(p[1] for p in parts)
    n = sum(p[2] for p in parts)
    if n == 0:
        return {
            "loc": float("nan"),
            "loc_share": float("nan"),
            "loc_uniform": float("nan"),
            "loc_words": 0,
        }
    return {
        "loc": share / uniform,
        "loc_share": share / n,
        "loc_uniform": uniform / n,
        "loc_words": n,
    }


# ---------------------------------------------------------------------- the task
class CaptionTask(Task):
    name = "caption"
    DataConfig = CaptionDataConfig
    ModelConfig = CaptionerConfig
    splits = ("valid", "test")

    def prepare(self, state: dict | None = None) -> None:
        """Build the vocabulary from the training captions, or take it from ``state`` (a trained
        run). The images are read (or generated) only when something needs them
        (:attr:`data`), so captioning an image with a trained run does not need the data set."""
        from rnnlab.data.vocab import Vocab

        d = self.cfg.data
        self._data: dict[str, CaptionSplit] | None = None
        self._cells: dict = {}
        if state and "vocab" in state:
            self.vocab = Vocab.from_json(state["vocab"])
        else:
            words = (w for caps in self.data["train"].refs for c in caps for w in c)
            self.vocab = Vocab.build(words, specials=SPECIALS, min_freq=d.min_freq, sep=" ")
        self.pad_id = self.vocab.index("<pad>")
        if d.max_decode_len:
            self.max_decode_len = d.max_decode_len
        elif state and "max_decode_len" in state:
            self.max_decode_len = int(state["max_decode_len"])
        else:  # a fresh run, or one saved before the limit was kept in its state
            longest = max(len(c) for caps in self.data["train"].refs for c in caps)
            self.max_decode_len = longest + 2

    @property
    def data(self) -> dict[str, CaptionSplit]:
        """split -> its images and reference captions, loaded on first use."""
        if self._data is None:
            self._data = {s: self._load(s) for s in ("train", "valid", "test")}
        return self._data

    def _load(self, split: str) -> CaptionSplit:
        d = self.cfg.data
        if d.dataset == "shapes":
            from rnnlab.data.shapes import generate_shapes

            n = {"train": d.num_train, "valid": d.num_valid, "test": d.num_test}[split]
            s = generate_shapes(split, n, d.seed, d.image_size, d.min_objects, d.max_objects)
            return CaptionSplit(ImageSource(s.images), [[c] for c in s.captions], s.scenes)
        from rnnlab.data.captions import load_karpathy

        items = load_karpathy(d.json, d.images, split)
        source = ImageSource(
            paths=[im.path for im in items], size=d.image_size, cache=d.cache_images
        )
        return CaptionSplit(source, [im.captions for im in items])

    def state(self) -> dict:
        return {
            "vocab": self.vocab.to_json(),
            "dataset": self.cfg.data.dataset,
            "max_decode_len": self.max_decode_len,
        }

    def build_model(self) -> Captioner:
        v = self.vocab
        return Captioner(len(v), self.cfg.model, v.index("<start>"), v.index("<end>"), self.pad_id)

    # ------------------------------------------------------------------ training
    def train_loader(self, epoch: int) -> CaptionBatches:
        split = self.data["train"]
        pairs = split.pairs(self.cfg.data.max_caption_len)
        if len(pairs) == 0:
            raise UserError("no training captions (is data.max_caption_len too small?)")
        order = np.random.default_rng([self.cfg.seed, epoch]).permutation(len(pairs))
        return CaptionBatches(self, split, pairs, self.cfg.train.batch_size, order)

    def loss(self, model, batch, carry=None) -> StepOutput:
        images, inputs, targets = batch
        logits, alphas = model(images, inputs)
        loss, ce, reg, n = caption_loss(
            logits, alphas, targets, self.pad_id, self.cfg.model.attention_reg
        )
        return StepOutput(loss, n, extra={"ce": ce.detach(), "reg": reg.detach()})

    def count_items(self, batch) -> int:
        return int((batch[2] != self.pad_id).sum())

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        if split not in self.data:
            raise UserError(f"no split {split!r}; valid: {', '.join(self.splits)}")
        return self.evaluate_split(model, self.data[split], split)

    @torch.no_grad()
    def evaluate_split(self, model, data: CaptionSplit, key: str = "") -> dict[str, float]:
        """Every metric of the module docstring over ``data`` (any :class:`CaptionSplit`, e.g. a
        fresh shapes set). ``key`` names it for the cache of object cells."""
        was = model.training
        model.eval()
        d = self.cfg.data
        Bsz = d.eval_batch_size
        ce_sum = reg_sum = 0.0
        words = 0
        forced, emitted = [], []
        hyps: list[list[str]] = []
        pairs = data.pairs()
        cells = None
        for lo in range(0, len(pairs), Bsz):
            rows = pairs[lo : lo + Bsz]
            inputs, targets = encode_captions(self.vocab, [data.refs[a][b] for a, b in rows])
            images = data.images.batch(rows[:, 0], self.device)
            logits, alphas = model(images, inputs.to(self.device))
            _, ce, reg, n = caption_loss(
                logits, alphas, targets.to(self.device), self.pad_id, self.cfg.model.attention_reg
            )
            ce_sum += float(ce) * n
            reg_sum += float(reg) * n
            words += n
            if data.scenes is not None:
                if cells is None:
                    cells = self._object_cells(data, key, model.encoder.grid)
                a_np = alphas.cpu().numpy()
                for r, (i, _) in enumerate(rows):
                    owners = data.scenes[i].token_objects
                    forced.append(attention_share(a_np[r], owners, cells[i]))
        for lo in range(0, len(data.refs), Bsz):
            idx = np.arange(lo, min(lo + Bsz, len(data.refs)))
            out = model.decode(
                data.images.batch(idx, self.device), self.max_decode_len, d.beam_size
            )
            for i, ids, a in zip(idx, out.tokens, out.alphas):
                toks = self.vocab.decode(ids, as_list=True)
                hyps.append(toks)
                if data.scenes is not None:
                    emitted.append(self._emitted_share(data.scenes[i], toks, a, cells[i]))
        model.train(was)
        ce = ce_sum / max(words, 1)
        metrics = {
            "loss": (ce_sum + reg_sum) / max(words, 1),
            "ce": ce,
            "reg": reg_sum / max(words, 1),
        }
        metrics["ppl"] = math.exp(min(ce, 700.0))
        metrics.update(bleu_scores(hyps, data.refs))
        metrics["bleu"] = metrics["bleu4"]
        metrics["exact"] = float(np.mean([h in refs for h, refs in zip(hyps, data.refs)]))
        if data.scenes is not None:
            metrics.update(localisation(emitted))
            metrics["loc_forced"] = localisation(forced)["loc"]
        return metrics

    def _object_cells(self, data: CaptionSplit, key: str, grid) -> list[np.ndarray]:
        from rnnlab.data.shapes import object_cells

        cache_key = (key or id(data), tuple(grid))
        if cache_key not in self._cells:
            P = self.cfg.data.image_size
            self._cells[cache_key] = [
                np.stack([object_cells(o, P, tuple(grid)) for o in s.objects]) for s in data.scenes
            ]
        return self._cells[cache_key]

    @staticmethod
    def _emitted_share(scene, tokens: list[str], alphas, cells) -> tuple[float, float, int]:
        """:func:`attention_share` over the decoded words that name exactly one object."""
        from rnnlab.data.shapes import matching_objects

        owners = []
        for w in tokens:
            match = matching_objects(w, scene.objects)
            owners.append(match[0] if len(match) == 1 else -1)
        return attention_share(np.asarray(alphas), owners, cells)

    def loss_metrics(self, loss: float) -> dict[str, float]:
        return {}

    def headline(self, metrics: dict) -> str:
        if "bleu" not in metrics:  # a training record: loss (and ce, reg)
            ce = metrics.get("ce")
            return f"loss {metrics['loss']:.4f}" + (
                f" ce {float(ce):.4f}" if ce is not None else ""
            )
        text = (
            f"loss {metrics['loss']:.4f} BLEU-4 {metrics['bleu']:.1f} exact {metrics['exact']:.3f}"
        )
        if "loc" in metrics and not math.isnan(metrics["loc"]):
            text += f" loc {metrics['loc']:.2f}x uniform"
        return text

    def expected_initial_loss(self):
        V = len(self.vocab)
        m = self.cfg.model
        lam = m.attention_reg
        if lam == 0:
            return math.log(V), f"uniform prediction over V = {V} words gives ln V"
        if m.encoder == "small" or m.grid:
            g = m.grid or self.cfg.data.image_size
            if not m.grid:
                for _ in m.channels:
                    g = (g + 1) // 2  # a 3x3 convolution with stride 2 and padding 1
            L = g * g
        else:
            return None  # a backbone's grid is only known after a forward pass
        lengths = [len(c) + 1 for caps in self.data["train"].refs for c in caps]
        reg = lam * sum(L * (1 - T / L) ** 2 for T in lengths) / sum(lengths)
        return (
            math.log(V) + reg,
            f"ln V (V = {V}) plus the regulariser with uniform attention over L = {L} cells: "
            f"lambda * sum over captions of L (1 - T/L)^2 / words = {reg:.3f}",
        )

    # ------------------------------------------------------------------ captioning
    @torch.no_grad()
    def caption(self, model, image: np.ndarray, beam_size: int = 0):
        """Caption one ``(P, P, 3)`` uint8 image (of ``data.image_size`` pixels).

        Returns:
            ``(words, alphas (T, L), grid)``: the words with ``<end>`` last when it was emitted
            (so every row of ``alphas`` has its word), and the ``(Gh, Gw)`` grid.
        """
        was = model.training
        model.eval()
        x = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float() / 255.0
        out = model.decode(
            x[None].to(self.device), self.max_decode_len, beam_size or self.cfg.data.beam_size
        )
        model.train(was)
        words = self.vocab.decode(out.tokens[0], as_list=True)
        alphas = out.alphas[0]
        if len(alphas) > len(words):
            words = [*words, "<end>"]
        return words, alphas, model.encoder.grid

    def report_sections(self, model, run):
        import base64
        import io

        import matplotlib.pyplot as plt

        from rnnlab.report.attention_overlay import overlay_figure

        data = self.data["valid"]
        parts = []
        for i in range(min(4, len(data.refs))):
            img = data.images.numpy(i)
            words, alphas, grid = self.caption(model, img)
            fig = overlay_figure(img, words, alphas, grid, cols=7)
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=90)
            plt.close(fig)
            uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
            ref = " | ".join(" ".join(r) for r in data.refs[i])
            parts.append(
                f"<p><b>reference:</b> {html.escape(ref)}<br><b>model:</b> "
                f"{html.escape(' '.join(w for w in words if w != '<end>'))}</p>"
                f'<img src="{uri}" alt="attention over validation image {i}">'
            )
        return [("Captions and attention (validation images)", "".join(parts))]
