"""Alignment heatmaps: attention weights of every output word over the source words
(Bahdanau et al. 2015, fig. 3).

Dimension letters: T output steps, S source positions.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt
import numpy as np


def alignment_figure(
    weights,
    source: Sequence[str],
    output: Sequence[str],
    title: str | None = None,
    max_cell: float = 0.42,
):
    """A heatmap of ``weights: (T, S)`` (rows: output words, columns: source words).

    Args:
        weights: attention weights, one row per output step (tensor or array), each row
            summing to 1 over the real source positions.
        source: the S source tokens (column labels, on top, read left to right).
        output: the T output tokens (row labels), ``<end>`` included when it has a row.
        title: drawn above the figure.
        max_cell: inches per cell, so short sentences do not get huge cells.

    Returns:
        The matplotlib figure (save it with :func:`save_alignment` or ``fig.savefig``).

    Raises:
        ValueError: the labels do not match the shape of ``weights``.
    """
    w = weights.detach().cpu().numpy() if hasattr(weights, "detach") else np.asarray(weights)
    if w.ndim != 2 or w.shape != (len(output), len(source)):
        raise ValueError(
            f"weights of shape {tuple(w.shape)} do not match {len(output)} output and "
            f"{len(source)} source tokens"
        )
    T, S = w.shape
    fig, ax = plt.subplots(figsize=(1.6 + max_cell * S, 1.2 + max_cell * T))
    im = ax.imshow(w, cmap="gray_r", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(S), labels=list(source), rotation=60, ha="left", rotation_mode="anchor")
    ax.set_yticks(range(T), labels=list(output))
    ax.xaxis.tick_top()
    ax.set_xlabel("source")
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("output")
    fig.colorbar(im, ax=ax, fraction=0.04, pad=0.02)
    if title:
        ax.set_title(title, fontsize=9, pad=8, loc="left", y=-0.08 - 0.5 / max(T, 1))
    fig.tight_layout()
    return fig


def save_alignment(path: str | Path, weights, source, output, title: str | None = None) -> Path:
    """Draw :func:`alignment_figure` into the PNG ``path`` (folders created); returns the path."""
    from rnnlab.report.plots import save

    return save(alignment_figure(weights, source, output, title), path, bbox_inches="tight")
