"""Ensembles of trained classifiers: the members' class probabilities, averaged.

Dimension letters: M members, N examples of a split, C classes.

An ensemble of M runs predicts ``p(y | x) = 1/M sum_m softmax(z_m(x))``: the mean of the members'
probabilities (not of their logits, so that one over-confident member cannot outvote the others
by the scale of its logits alone). Its loss is the cross-entropy of that mean, its accuracy that of
the mean's arg-max. Every member is evaluated on the same split by its own task (its own
vocabulary), so members of different configs mix freely as long as they read the same examples
in the same order with the same labels; :func:`evaluate_runs` checks that.
"""

from __future__ import annotations

import numpy as np

from rnnlab.errors import UserError


def mean_probabilities(logits: list[np.ndarray]) -> np.ndarray:
    """``(N, C)`` mean over members of ``softmax(logits[m])``; ``logits``: M arrays ``(N, C)``."""
    if not logits:
        raise ValueError("an ensemble needs at least one member")
    total = np.zeros(logits[0].shape, dtype=np.float64)
    for z in logits:
        z = np.asarray(z, dtype=np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        total += e / e.sum(axis=1, keepdims=True)
    return total / len(logits)


def probability_metrics(probs: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Cross-entropy (nats, mean over examples) and accuracy of class probabilities ``(N, C)``."""
    labels = np.asarray(labels)
    picked = probs[np.arange(len(labels)), labels]
    return {
        "loss": float(-np.log(np.maximum(picked, 1e-300)).mean()),
        "acc": float((probs.argmax(axis=1) == labels).mean()),
    }


def member_logits(
    refs: list[str], split: str, checkpoint: str = "best"
) -> tuple[list[str], list[np.ndarray], np.ndarray]:
    """Each run's logits on ``split``: ``(run names, M arrays (N, C), labels (N,))``.

    Raises :class:`UserError` for runs whose task does not predict class probabilities, or that
    do not read the same labelled examples in the same order.
    """
    from rnnlab.train.cli import load_trained

    names, logits, labels0, first = [], [], None, None
    seen = {}
    for ref in refs:
        run, cfg, task, model = load_trained(ref, checkpoint)
        key = run.path.resolve()
        if key in seen:
            raise UserError(
                f"{ref!r} and {seen[key]!r} are the same run: an ensemble names each once"
            )
        seen[key] = ref
        if not hasattr(task, "predict_split"):
            raise UserError(
                f"{run}: task {cfg.task!r} does not predict class probabilities, so its runs "
                "cannot be ensembled (classification tasks can)"
            )
        if split not in (*task.splits, "train"):
            raise UserError(
                f"split {split!r} is not available for {run}; valid: {', '.join(task.splits)}"
            )
        z, labels = task.predict_split(model, split)
        if labels0 is None:
            labels0, first = labels, run
        elif len(labels) != len(labels0) or not np.array_equal(labels, labels0):
            raise UserError(
                f"{run} and {first} do not read the same {split} examples "
                f"({len(labels)} vs {len(labels0)} labels, or in another order): "
                "an ensemble averages predictions example by example"
            )
        names.append(run.path.name)
        logits.append(z)
    return names, logits, labels0


def evaluate_runs(refs: list[str], split: str, checkpoint: str = "best") -> list[tuple[str, dict]]:
    """Evaluate every run of ``refs`` on ``split`` and their ensemble.

    Returns ``[(run name, metrics), ...]`` for the members in order, then ``("ensemble of M",
    metrics)``. Raises :class:`UserError` as :func:`member_logits` does.
    """
    names, logits, labels = member_logits(refs, split, checkpoint)
    rows = [
        (n, probability_metrics(mean_probabilities([z]), labels)) for n, z in zip(names, logits)
    ]
    rows.append(
        (f"ensemble of {len(refs)}", probability_metrics(mean_probabilities(logits), labels))
    )
    return rows


def teacher_probabilities(
    refs: list[str], split: str, checkpoint: str, temperature: float
) -> tuple[np.ndarray, np.ndarray]:
    """Soft targets for distillation (Hinton et al. 2015): ``(q: (N, C), labels: (N,))`` with
    ``q = 1/M sum_m softmax(z_m / temperature)``, the teachers' probabilities at that temperature
    averaged over the M runs of ``refs``."""
    _, logits, labels = member_logits(refs, split, checkpoint)
    return mean_probabilities([np.asarray(z, np.float64) / temperature for z in logits]), labels
