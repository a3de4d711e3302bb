"""Polyphonic music: next-frame density of binary piano rolls (Boulanger-Lewandowski et al. 2012,
Chung et al. 2014).

Dimension letters: T time (frames), B batch (pieces or windows), K = 88 keys.

The model reads frame t-1 and predicts every key of frame t (:mod:`rnnlab.models.piano_roll`).
The first frame of a piece has no predecessor; ``data.first_frame`` says what happens to it:

- ``"predict"`` (default): frame 1 is predicted from an all-zero (silent) input frame and the zero
  initial state, so every frame of every piece is scored and the mean NLL is the likelihood of the
  whole piece divided by its length.
- ``"skip"``: frame 1 is only an input; frames 2..T_i are scored.

Metrics over a split (all sums run over every scored frame of every piece, so long pieces weigh
more, as in the papers):

- ``loss`` = ``nll``: the negative log-likelihood per time step, the sum over the 88 keys of the
  Bernoulli NLL in nats, averaged over all scored frames of the split;
- ``nll_first`` and ``nll_rest`` (``"predict"`` only): the same mean over the first frames alone
  and over frames 2..T_i alone (each frame still predicted from everything before it, the silent
  start included; so ``nll_rest`` is close to, not equal to, a ``"skip"`` evaluation);
- ``nll_piece_mean``: each piece's NLL per frame, averaged over pieces (every piece weighs the
  same: the convention of some later papers, given for comparison; not the ``loss``);
- ``acc``: frame-level accuracy (Bay et al. 2009, as used by Boulanger-Lewandowski et al. 2012),
  ``TP / (TP + FP + FN)`` counted over all keys of all scored frames, a key being predicted on
  when its probability exceeds 1/2.

Training batches group pieces of similar length (sorted within shuffled pools) so that padding,
and the per-step cost of the time loop, stay small; padded frames are masked out of the loss.
With ``data.crop > 0`` pieces are cut into windows of at most ``crop`` frames at a random offset
each epoch (the state restarts at zero in each window); evaluation always runs whole pieces.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from rnnlab.data.errors import DataError
from rnnlab.errors import ConfigError, UserError, check_dataset_fields
from rnnlab.models.piano_roll import K, PianoRollConfig, PianoRollModel, frame_nll, uniform_nll
from rnnlab.tasks.base import StepOutput, Task

DATASETS = ("jsb-chorales", "nottingham", "musedata", "piano-midi")
_MAT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}


@dataclass
class MusicDataConfig:
    """The ``[data]`` section of a music config.

    Attributes:
        dataset: jsb-chorales, nottingham, musedata, piano-midi, or file (your own ``.mat`` file
            of the same layout, see ``path``).
        path: for ``dataset = "file"``: a MATLAB file with cell arrays ``traindata``,
            ``validdata`` and ``testdata`` of ``(T_i, 88)`` 0/1 piano rolls.
        first_frame: ``predict`` (score frame 1 from a silent input) or ``skip`` (do not score it).
        crop: train on windows of at most this many frames (0: whole pieces).
        max_pieces: use only the first N pieces of every split (0: all); for quick runs.
        pool: batches are formed from pools of ``pool * batch_size`` shuffled pieces sorted by
            length (larger: less padding, less random batch composition).
    """

    dataset: Literal["jsb-chorales", "nottingham", "musedata", "piano-midi", "file"] = (
        "jsb-chorales"
    )
    path: str = ""
    first_frame: Literal["predict", "skip"] = "predict"
    crop: int = 0
    max_pieces: int = 0
    pool: int = 50

    def validate(self) -> None:
        if self.crop < 0 or self.max_pieces < 0 or self.pool < 1:
            raise ConfigError("data.crop and data.max_pieces must be >= 0 and data.pool >= 1")
        if self.dataset == "file" and not self.path:
            raise ConfigError('data.dataset = "file" needs data.path (a .mat piano-roll file)')
        check_dataset_fields(self, {"path": "file"})


def load_rolls_file(path: str | Path, split: str) -> list[np.ndarray]:
    """The ``(T_i, 88)`` rolls of one split of a user's MATLAB file (the layout of the benchmark
    files: cell arrays ``traindata`` / ``validdata`` / ``testdata``)."""
    import scipy.io
    import scipy.io.matlab

    path = Path(path)
    if not path.is_file():
        raise DataError(f"no piano-roll file at {path}")
    try:
        cells = scipy.io.loadmat(path)[_MAT_KEYS[split]]
    except KeyError:
        raise DataError(f"{path} has no cell array {_MAT_KEYS[split]!r} ({split} split)") from None
    except (ValueError, OSError, TypeError, scipy.io.matlab.MatReadError) as e:
        raise DataError(f"cannot read {path} as a MATLAB piano-roll file: {e}") from None
    rolls = []
    for i, roll in enumerate(cells.ravel()):
        r = np.asarray(roll)
        if r.ndim != 2 or r.shape[1] != K:
            raise DataError(f"{path} {split} piece {i} has shape {r.shape}, expected (T, {K})")
        rolls.append(r.astype(np.float32))
    return rolls


class MusicBatches:
    """The batches of one epoch, indexable: ``batches[i] -> (x, y, mask)``.

    ``x: (T, B, K)`` input frames, ``y: (T, B, K)`` target frames, ``mask: (T, B)`` 1 on scored
    frames. A segment ``(p, a, b)`` scores frames ``a..b-1`` of piece ``p`` (0-based) from inputs
    ``a-1..b-2``, the input before frame 0 being silence.
    """

    def __init__(self, ext: list[np.ndarray], batches: list[list[tuple]], device):
        self.ext, self.batches, self.device = ext, batches, device

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int):
        segs = self.batches[i]
        T, B = max(b - a for _, a, b in segs), len(segs)
        x = np.zeros((T, B, K), np.float32)
        y = np.zeros((T, B, K), np.float32)
        mask = np.zeros((T, B), np.float32)
        for j, (p, a, b) in enumerate(segs):
            # ext[p] is piece p with a silent frame in front: row t is frame t - 1.
            x[: b - a, j] = self.ext[p][a:b]
            y[: b - a, j] = self.ext[p][a + 1 : b + 1]
            mask[: b - a, j] = 1.0
        to = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return to(x), to(y), to(mask)


def length_batches(segs: list[tuple], batch_size: int, pool: int, rng) -> list[list[tuple]]:
    """Group segments ``(p, a, b)`` into batches of similar length: shuffle (with ``rng``, or
    not when None), sort each pool of ``pool * batch_size`` segments by length, cut it into
    batches, and shuffle the batches."""
    order = list(range(len(segs))) if rng is None else rng.permutation(len(segs)).tolist()
    size = pool * batch_size
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start : start + size], key=lambda i: segs[i][2] - segs[i][1])
        for k in range(0, len(chunk), batch_size):
            batches.append([segs[i] for i in chunk[k : k + batch_size]])
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


class MusicTask(Task):
    name = "music"
    DataConfig = MusicDataConfig
    ModelConfig = PianoRollConfig
    splits = ("valid", "test", "train")  # train last: evaluated once, on the best model

    # ------------------------------------------------------------------ data
    def prepare(self, state: dict | None = None) -> None:
        d = self.cfg.data
        self.rolls = {split: self._load(split) for split in ("train", "valid", "test")}
        for split, rolls in self.rolls.items():
            if not rolls:
                raise UserError(f"the {split} split of {d.dataset!r} has no pieces")
            if d.first_frame == "skip" and all(len(r) < 2 for r in rolls):
                raise UserError(
                    f"every {split} piece of {d.dataset!r} has fewer than 2 frames: nothing to "
                    'score with data.first_frame = "skip"'
                )
        # uint8 copies with a silent frame in front (row t = frame t - 1): compact, and a batch
        # is two slices per piece.
        self.ext = {
            split: [
                np.concatenate([np.zeros((1, K), np.uint8), (r > 0.5).astype(np.uint8)])
                for r in rolls
            ]
            for split, rolls in self.rolls.items()
        }
        train = np.concatenate(self.rolls["train"])
        self.key_freq = torch.from_numpy(train.mean(0))  # (K,)

    def _load(self, split: str) -> list[np.ndarray]:
        from rnnlab.data.music import load_music

        d = self.cfg.data
        rolls = (
            load_rolls_file(d.path, split) if d.dataset == "file" else load_music(d.dataset, split)
        )
        for i, r in enumerate(rolls):
            if not np.isin(r, (0.0, 1.0)).all():
                raise DataError(f"{d.dataset} {split} piece {i} is not a 0/1 piano roll")
        return rolls[: d.max_pieces] if d.max_pieces else rolls

    def state(self) -> dict:
        return {"dataset": self.cfg.data.dataset}

    def build_model(self) -> PianoRollModel:
        model = PianoRollModel(self.cfg.model)
        if self.cfg.model.output_bias == "marginal":
            model.init_output_bias(self.key_freq)
        return model

    def _segments(self, split: str, crop: int = 0, rng=None) -> list[tuple]:
        a0 = 1 if self.cfg.data.first_frame == "skip" else 0
        segs = []
        for p, r in enumerate(self.rolls[split]):
            L = len(r)
            if L <= a0:
                continue
            if not crop or L - a0 <= crop:
                segs.append((p, a0, L))
                continue
            # windows of `crop` frames, the first one shortened by a random offset
            cuts = list(range(a0 + int(rng.integers(crop)), L, crop))
            bounds = [a0, *[c for c in cuts if c > a0], L]
            segs.extend((p, a, b) for a, b in itertools.pairwise(bounds))
        return segs

    # ------------------------------------------------------------------ training
    def train_loader(self, epoch: int) -> MusicBatches:
        d = self.cfg.data
        rng = np.random.default_rng([self.cfg.seed, epoch])
        segs = self._segments("train", d.crop, rng)
        batches = length_batches(segs, self.cfg.train.batch_size, d.pool, rng)
        return MusicBatches(self.ext["train"], batches, self.device)

    def loss(self, model, batch, carry=None) -> StepOutput:
        x, y, mask = batch
        logits, _ = model(x)  # (T, B, K)
        n = mask.sum()
        loss = (frame_nll(logits, y) * mask).sum() / n
        return StepOutput(loss, int(n))

    def count_items(self, batch) -> int:
        return int(batch[2].sum())

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:
        if split not in self.ext:
            raise UserError(f"no split {split!r}; valid: {', '.join(self.splits)}")
        tc = self.cfg.train
        B = tc.eval_batch_size or max(tc.batch_size, 32)
        loader = MusicBatches(
            self.ext[split], length_batches(self._segments(split), B, 10**9, None), self.device
        )
        nll = first = 0.0
        frames = firsts = 0
        per_piece = []  # each piece's mean NLL per frame
        tp = fp = fn = 0.0
        for i in range(len(loader)):
            x, y, mask = loader[i]
            logits, _ = model(x)
            per_frame = frame_nll(logits, y) * mask  # (T, B)
            nll += float(per_frame.sum())
            frames += int(mask.sum())
            per_piece += (per_frame.sum(0) / mask.sum(0).clamp(min=1)).tolist()
            if self.cfg.data.first_frame == "predict":
                first += float(per_frame[0].sum())
                firsts += x.shape[1]
            on = (logits > 0).float() * mask[..., None]  # p > 1/2  <=>  logit > 0
            tp += float((on * y).sum())
            fp += float((on * (1 - y)).sum())
            fn += float(((1 - on) * y * mask[..., None]).sum())
        if frames == 0:
            raise UserError(f"the {split} split has no frame to score")
        out = {
            "loss": nll / frames,
            "nll": nll / frames,
            "acc": tp / max(tp + fp + fn, 1.0),
            "nll_piece_mean": sum(per_piece) / len(per_piece),
            "frames": frames,
        }
        if firsts:
            out["nll_first"] = first / firsts
            if frames > firsts:
                out["nll_rest"] = (nll - first) / (frames - firsts)
        return out

    def headline(self, metrics: dict) -> str:
        text = f"nll {metrics['loss']:.3f}"
        if "acc" in metrics:
            text += f" acc {100 * metrics['acc']:.1f}%"
        return text

    def expected_initial_loss(self):
        if self.cfg.model.output_bias == "marginal":
            p = self.key_freq.clamp(1e-4, 1 - 1e-4).double()
            h = float(-(p * p.log() + (1 - p) * (1 - p).log()).sum())
            return h, (
                "output biases at the training key frequencies p_k give about "
                "sum_k H(p_k), the entropy of independent keys"
            )
        return uniform_nll(), f"every key at probability 1/2 gives {K} ln 2 nats per frame"

    # ------------------------------------------------------------------ reports
    def report_sections(self, model, run):
        from rnnlab.report.plots import to_data_uri

        fig = self.roll_figure(model, "valid")
        return [("Piano roll (valid piece 1)", f'<img src="{to_data_uri(fig)}" alt="piano roll">')]

    @torch.no_grad()
    def roll_figure(self, model, split: str, piece: int = 0, frames: int = 160):
        """The target roll of one piece beside the model's key probabilities (a figure)."""
        import matplotlib.pyplot as plt

        was = model.training
        model.eval()
        ext = self.ext[split][piece][: frames + 1].astype(np.float32)
        x = torch.from_numpy(ext[:-1])[:, None].to(self.device)  # (T, 1, K)
        probs = torch.sigmoid(model(x)[0][:, 0]).cpu().numpy()  # (T, K)
        model.train(was)
        fig, axes = plt.subplots(1, 2, figsize=(9, 3), sharey=True)
        for ax, img, title in ((axes[0], ext[1:], "target"), (axes[1], probs, "P(key on)")):
            ax.imshow(img.T, origin="lower", aspect="auto", cmap="Greys", vmin=0, vmax=1)
            ax.set_title(title)
            ax.set_xlabel("frame")
        axes[0].set_ylabel("key (0 = A0)")
        fig.tight_layout()
        return fig
