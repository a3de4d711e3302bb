"""Attention over an image, one panel per word (the figures of Show, attend and tell).

Dimension letters: T words, Gh x Gw the feature grid, L = Gh*Gw grid cells, P pixels per side.

The first panel is the image with the whole caption; each later panel shows the image dimmed, the
word emitted at that step, and the step's attention weights over the grid cells drawn on top
(bilinear between cell centres, scaled to the panel's largest weight, with that weight in the
corner). Optional outlines mark the cells a word should look at (the named object's cells of the
synthetic set), so a reader can judge the localisation by eye.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only
import matplotlib.pyplot as plt
import numpy as np


def _as_float_image(image) -> np.ndarray:
    img = np.asarray(image)
    if img.dtype == np.uint8:
        return img.astype(np.float32) / 255.0
    return np.clip(img.astype(np.float32), 0.0, 1.0)


def overlay_figure(
    image,
    words: list[str],
    alphas,
    grid: tuple[int, int],
    cols: int = 6,
    title: str | None = None,
    targets: list[np.ndarray | None] | None = None,
    panel_size: float = 1.9,
):
    """A figure: the image, then one panel per word with its attention map.

    Args:
        image: ``(P, P, 3)`` uint8 or floats in [0, 1].
        words: the T words (``<end>`` included if its attention is to be drawn).
        alphas: ``(T, L)`` or ``(T, Gh, Gw)`` attention weights (numpy or torch).
        grid: ``(Gh, Gw)``.
        cols: panels per row.
        title: the first panel's title (default: the words joined).
        targets: optional, per word, ``(L,)`` bool cells to outline (None: no outline).

    Returns:
        The matplotlib figure (close it, or use :func:`save_overlay`).
    """
    img = _as_float_image(image)
    P_h, P_w = img.shape[:2]
    a = np.asarray(alphas.detach().cpu() if hasattr(alphas, "detach") else alphas, np.float64)
    gh, gw = grid
    T = len(words)
    if a.shape[0] != T or a.reshape(T, -1).shape[1] != gh * gw:
        raise ValueError(f"alphas of shape {a.shape} do not fit {T} words on a {gh}x{gw} grid")
    a = a.reshape(T, gh, gw)
    n = T + 1
    cols = max(1, min(cols, n))
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(panel_size * cols, (panel_size + 0.25) * rows + 0.3), squeeze=False
    )
    for ax in axes.flat:
        ax.axis("off")
    head = axes.flat[0]
    head.imshow(img)
    text = title if title is not None else " ".join(w for w in words if w != "<end>")
    head.set_title(_wrap(text, 26), fontsize=7)
    extent = (0, P_w, P_h, 0)
    for t, word in enumerate(words):
        ax = axes.flat[t + 1]
        ax.imshow(img * 0.45)
        peak = float(a[t].max())
        ax.imshow(
            a[t],
            extent=extent,
            cmap="inferno",
            alpha=0.6,
            interpolation="bilinear",
            vmin=0.0,
            vmax=max(peak, 1e-8),
        )
        if targets is not None and targets[t] is not None:
            _outline(ax, np.asarray(targets[t]).reshape(gh, gw), P_h / gh, P_w / gw)
        ax.set_xlim(0, P_w)
        ax.set_ylim(P_h, 0)
        ax.set_title(word, fontsize=9)
        ax.text(1, P_h - 1.5, f"max {peak:.2f}", color="white", fontsize=6)
    fig.tight_layout(pad=0.3, h_pad=1.0)
    return fig


def _outline(ax, cells: np.ndarray, ch: float, cw: float) -> None:
    """Draw the border of every marked cell (cyan, thin)."""
    from matplotlib.patches import Rectangle

    for r, c in zip(*np.nonzero(cells)):
        ax.add_patch(
            Rectangle((c * cw, r * ch), cw, ch, fill=False, edgecolor="cyan", linewidth=0.6)
        )


def _wrap(text: str, width: int) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])


def save_overlay(path: str | Path, image, words, alphas, grid, dpi: int = 110, **kwargs) -> Path:
    """:func:`overlay_figure` written as a PNG; returns the path."""
    from rnnlab.report.plots import save

    return save(overlay_figure(image, words, alphas, grid, **kwargs), path, dpi=dpi)
