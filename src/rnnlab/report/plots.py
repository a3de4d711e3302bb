"""Learning-curve figures from ``metrics.jsonl`` records.

Every function takes plain records (dicts with ``step``, ``time``, ``split`` and metrics) so it
works on any run, several runs, or synthetic curves in tests.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed, safe in CI and on servers
import matplotlib.pyplot as plt

from rnnlab.errors import UserError, output_file
from rnnlab.train.run_dir import on_learning_curve

SPLIT_STYLE = {"train": "-", "valid": "--", "test": ":"}


def series(records: list[dict], split: str, key: str, x: str = "step") -> tuple[list, list]:
    """``(xs, ys)`` of metric ``key`` for ``split`` (records lacking either are skipped)."""
    xs, ys = [], []
    for r in records:
        if (
            r.get("split") == split
            and key in r
            and x in r
            and r[key] is not None
            and on_learning_curve(r)
        ):
            xs.append(r[x])
            ys.append(r[key])
    return xs, ys


def curves_figure(
    runs: dict[str, list[dict]],
    key: str = "loss",
    x: str = "step",
    splits=("train", "valid"),
    log_y: bool = False,
    title: str | None = None,
    ax=None,
):
    """One axes: ``key`` against ``x`` for every run (colour) and split (line style).

    Draws into ``ax`` when given (panels of a larger figure), else into a new figure; returns
    the figure either way.
    """
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, (label, records) in enumerate(runs.items()):
        for split in splits:
            xs, ys = series(records, split, key, x)
            if xs:
                name = f"{label} {split}" if len(runs) > 1 else split
                ax.plot(
                    xs,
                    ys,
                    SPLIT_STYLE.get(split, "-"),
                    color=colors[n % len(colors)],
                    label=name,
                    marker="o" if split != "train" and len(xs) < 40 else None,
                    markersize=3,
                )
    ax.set_xlabel({"step": "optimizer steps", "time": "training wall-clock (s)"}.get(x, x))
    ax.set_ylabel(key)
    if log_y:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=8)
    ax.set_title(title or f"{key} against {x}")
    if len(fig.axes) == 1:
        fig.tight_layout()
    return fig


def save(fig, path: str | Path, dpi: int = 110, **savefig) -> Path:
    """Write ``fig`` to ``path`` (folders created) and close it; returns the path written: a name
    without an extension gets ``.png`` (as matplotlib would add silently), and a folder is a
    :class:`UserError` instead of matplotlib's traceback."""
    try:
        path = output_file(path, "plot", make_folders=True)
    except UserError:
        plt.close(fig)
        raise
    if not path.suffix:
        path = path.with_suffix(".png")
    fig.savefig(path, dpi=dpi, **savefig)
    plt.close(fig)
    return path


def to_data_uri(fig) -> str:
    """A PNG of ``fig`` as a data: URI (self-contained HTML), closing the figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
