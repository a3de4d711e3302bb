"""A character-level language model in pure NumPy: min-char-rnn done right.

Dimension letters: T time, B batch, V vocabulary, H hidden.

One-hot characters -> a recurrent stack (any cell of :mod:`rnnlab.cells`) -> ``y_t = h_t W_hy + b_y``
-> softmax -> cross-entropy against the next character, the loss averaged over time steps. Every
gradient is the reference engine's hand-written BPTT; nothing here imports torch.

The sources' toy is :func:`train_hello`: the vocabulary {h, e, l, o}, the input "hell" and the target
"ello". After training, feeding "hell" predicts "ello".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rnnlab.reference.losses import softmax_cross_entropy
from rnnlab.reference.optim import Adam, clip_grad_norm
from rnnlab.reference.stack import StackSpec, init_stack, stack_backward, stack_forward


@dataclass
class CharVocab:
    """Characters <-> integer ids (sorted, so the same text always gives the same ids)."""

    chars: list[str]

    @classmethod
    def from_text(cls, text: str) -> CharVocab:
        return cls(sorted(set(text)))

    def encode(self, text: str) -> np.ndarray:
        index = {c: i for i, c in enumerate(self.chars)}
        missing = sorted({c for c in text if c not in index})
        if missing:
            raise ValueError(f"characters not in the vocabulary: {missing!r}")
        return np.array([index[c] for c in text], dtype=np.int64)

    def decode(self, ids) -> str:
        return "".join(self.chars[int(i)] for i in ids)

    def __len__(self) -> int:
        return len(self.chars)


class CharRNN:
    """One-hot input, a recurrent stack, an affine output layer and a softmax.

    Args:
        vocab_size: V.
        hidden_size: H.
        kind: any cell name of :func:`rnnlab.cells.make_cell`.
        num_layers: depth of the stack.
        seed: initialisation seed.
        dtype: float64 (proofs) or float32 (speed).
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int,
        kind: str = "lstm",
        num_layers: int = 1,
        seed: int = 0,
        dtype=np.float64,
        **variant,
    ):
        self.spec = StackSpec(kind, vocab_size, hidden_size, num_layers, variant=variant)
        rng = np.random.default_rng(seed)
        self.params = init_stack(self.spec, rng, dtype)
        k = 1.0 / np.sqrt(hidden_size)
        self.params["W_hy"] = rng.uniform(-k, k, size=(hidden_size, vocab_size)).astype(dtype)
        self.params["b_y"] = np.zeros(vocab_size, dtype=dtype)
        self.dtype = dtype
        self.V = vocab_size

    def _one_hot(self, ids: np.ndarray) -> np.ndarray:
        return np.eye(self.V, dtype=self.dtype)[ids]

    def forward(self, inputs: np.ndarray, hx=None):
        """``inputs: (T, B)`` ids -> ``(logits (T, B, V), h_n, cache)``."""
        Y, h_n, cache = stack_forward(self.spec, self.params, self._one_hot(inputs), hx)
        logits = Y @ self.params["W_hy"] + self.params["b_y"]
        return logits, h_n, (cache, Y)

    def loss(self, inputs: np.ndarray, targets: np.ndarray, hx=None):
        """Mean cross-entropy per step and every gradient.

        Returns:
            ``(loss, grads, h_n)``; ``h_n`` carries the state to the next chunk (truncated BPTT).
        """
        logits, h_n, (cache, Y) = self.forward(inputs, hx)
        loss, dlogits = softmax_cross_entropy(logits, targets)
        T, B, H = Y.shape
        grads = {
            "W_hy": Y.reshape(T * B, H).T @ dlogits.reshape(T * B, self.V),
            "b_y": dlogits.reshape(T * B, self.V).sum(axis=0),
        }
        dY = dlogits @ self.params["W_hy"].T
        stack_grads, _, _ = stack_backward(self.spec, self.params, cache, dY)
        grads.update(stack_grads)
        return loss, grads, h_n

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """Most likely next id after each input id: ``(T,) -> (T,)``."""
        logits, _, _ = self.forward(np.asarray(inputs)[:, None])
        return logits[:, 0].argmax(axis=-1)

    def sample(
        self,
        prime: np.ndarray,
        n: int,
        temperature: float = 1.0,
        rng: np.random.Generator | None = None,
    ) -> np.ndarray:
        """Feed ``prime`` then draw ``n`` ids, one step at a time, from softmax(logits / T)."""
        if temperature <= 0:
            raise ValueError("temperature must be > 0")
        rng = rng or np.random.default_rng(0)
        logits, h, _ = self.forward(np.asarray(prime)[:, None])
        out = []
        last = logits[-1, 0]
        for _ in range(n):
            z = last / temperature
            p = np.exp(z - z.max())
            p /= p.sum()
            nxt = int(rng.choice(self.V, p=p))
            out.append(nxt)
            logits, h, _ = self.forward(np.array([[nxt]]), h)
            last = logits[-1, 0]
        return np.array(out, dtype=np.int64)


def train_hello(
    kind: str = "rnn", hidden_size: int = 8, steps: int = 300, lr: float = 0.05, seed: int = 0
) -> tuple[CharRNN, CharVocab, list[float]]:
    """The sources' toy: learn to predict "ello" from "hell" (vocabulary h, e, l, o).

    Returns:
        ``(model, vocab, losses)``.
    """
    vocab = CharVocab(list("helo"))
    x = vocab.encode("hell")[:, None]  # (T=4, B=1)
    y = vocab.encode("ello")[:, None]
    model = CharRNN(len(vocab), hidden_size, kind=kind, seed=seed)
    opt = Adam(lr=lr)
    losses = []
    for _ in range(steps):
        loss, grads, _ = model.loss(x, y)
        clip_grad_norm(grads, 5.0)
        opt.step(model.params, grads)
        losses.append(loss)
    return model, vocab, losses


def train_chars(
    model: CharRNN,
    data: np.ndarray,
    steps: int,
    seq_len: int = 50,
    batch: int = 16,
    lr: float = 3e-3,
    clip: float = 5.0,
    seed: int = 0,
    on_step: Callable[[int, float], None] | None = None,
    opt=None,
) -> list[float]:
    """Train on a stream of ids with truncated BPTT (``batch`` parallel streams, state carried
    across chunks of ``seq_len`` steps, gradients cut at chunk boundaries).

    Args:
        opt: an optimizer to continue with (default: a new Adam with learning rate ``lr``).

    Returns:
        The training loss at every step.
    """
    data = np.asarray(data)  # a list of ids works too
    n = (len(data) - 1) // batch
    if n <= seq_len:
        raise ValueError(f"text too short: need more than {batch * (seq_len + 1)} characters")
    streams = data[: n * batch + 1]
    inputs = streams[:-1].reshape(batch, n).T  # (n, B): column b is stream b
    targets = streams[1:].reshape(batch, n).T
    opt = opt or Adam(lr=lr)
    rng = np.random.default_rng(seed)
    pos = int(rng.integers(0, n - seq_len))
    h = None
    losses = []
    for step in range(steps):
        if pos + seq_len >= n:
            pos, h = 0, None
        loss, grads, h = model.loss(inputs[pos : pos + seq_len], targets[pos : pos + seq_len], h)
        clip_grad_norm(grads, clip)
        opt.step(model.params, grads)
        losses.append(loss)
        pos += seq_len
        if on_step is not None:
            on_step(step, loss)
    return losses
