"""What a study shows: a table of the best trials, the lecture's scatter (learning rate against
weight decay, log axes, coloured by validation score) and the parameter importances.

:func:`summarize` writes them into the study's folder: ``best.md`` (the table and importances),
``trials.csv`` (every trial), ``scatter.png`` and ``importances.png``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

import optuna
from optuna.trial import TrialState

from rnnlab.search.space import SearchSpace

#: the lecture's scatter: these two when both are searched
PREFERRED_AXES = ("train.lr", "train.weight_decay")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "" if v is None else str(v)


def best_trials(study: optuna.Study, k: int = 10) -> list:
    """The ``k`` best complete trials, best first."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    sign = -1 if study.direction == optuna.study.StudyDirection.MAXIMIZE else 1
    return sorted(done, key=lambda t: sign * t.value)[:k]


def table_rows(study: optuna.Study, space: SearchSpace, k: int = 10) -> list[list[str]]:
    """Rows of the best-trials table: rank, trial, value, parameters, steps, run directory."""
    rows = []
    for rank, t in enumerate(best_trials(study, k), 1):
        rows.append(
            [str(rank), str(t.number), f"{t.value:.4f}"]
            + [_fmt(t.params.get(name)) for name in space.params]
            + [_fmt(t.user_attrs.get("steps")), t.user_attrs.get("run_dir", "")]
        )
    return rows


def table_header(space: SearchSpace) -> list[str]:
    return ["rank", "trial", f"valid {space.metric}", *space.params, "steps", "run"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def write_csv(study: optuna.Study, space: SearchSpace, path: Path) -> Path:
    """Every trial: number, state, value, parameters, steps, failure reason, run directory and
    the worker (``host:pid``) that ran it, which says where the run directory lives."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        header = ["trial", "state", "value", *space.params, "steps", "failure", "run_dir", "worker"]
        w.writerow(header)
        for t in study.get_trials(deepcopy=False):
            w.writerow(
                [t.number, t.state.name, "" if t.value is None else t.value]
                + [t.params.get(n, "") for n in space.params]
                + [
                    t.user_attrs.get("steps", ""),
                    t.user_attrs.get("failure", ""),
                    t.user_attrs.get("run_dir", ""),
                    t.user_attrs.get("worker", ""),
                ]
            )
    return path


def importances(study: optuna.Study) -> tuple[dict[str, float] | None, str]:
    """optuna's parameter importances (fANOVA when scikit-learn is installed, else PED-ANOVA) and
    a note; None when there are too few complete trials or parameters to say."""
    done = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    names = {n for t in done for n in t.params}
    if len(done) < 3 or len(names) < 2:
        return (
            None,
            f"importances need >= 3 complete trials and >= 2 parameters ({len(done)} complete)",
        )
    try:
        import sklearn  # noqa: F401

        evaluator = optuna.importance.FanovaImportanceEvaluator(seed=0)
        method = "fANOVA"
    except ImportError:
        evaluator = optuna.importance.PedAnovaImportanceEvaluator()
        method = "PED-ANOVA"
    try:
        values = optuna.importance.get_param_importances(study, evaluator=evaluator)
    except (RuntimeError, ValueError) as e:
        return None, f"importances could not be computed: {e}"
    note = f"{method} over {len(done)} complete trials"
    if len(done) < 20:
        note += " (few trials: a rough indication)"
    return {k: float(v) for k, v in values.items()}, note


def scatter_axes(space: SearchSpace, x: str | None = None, y: str | None = None):
    """The two parameters to scatter: ``x``/``y`` if given, else learning rate and weight decay
    when both are searched, else the first two numeric parameters (one: against the value)."""
    numeric = [n for n, p in space.params.items() if p.kind != "categorical"]
    if x or y:
        for n in (x, y):
            if n is not None and n not in space.params:
                from rnnlab.errors import UserError

                raise UserError(f"{n!r} is not a searched parameter ({', '.join(space.params)})")
        return x or numeric[0], y
    if all(n in space.params for n in PREFERRED_AXES):
        return PREFERRED_AXES
    if len(numeric) >= 2:
        return numeric[0], numeric[1]
    return (numeric[0] if numeric else next(iter(space.params))), None


def scatter_figure(
    study: optuna.Study, space: SearchSpace, x: str | None = None, y: str | None = None, ax=None
):
    """Trials as points: ``x`` against ``y`` (log axes for log-scale parameters), coloured by the
    validation score (brighter is better); the best trial starred, pruned trials hollow, failed
    trials as red crosses."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter

    import rnnlab.report.plots  # noqa: F401 - selects the file-only backend

    x, y = scatter_axes(space, x, y)
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.5, 5))
    else:
        fig = ax.figure
    trials = study.get_trials(deepcopy=False)
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE

    def coords(ts):
        xs = [t.params[x] for t in ts]
        ys = [t.params[y] if y else t.value for t in ts]
        return xs, ys

    done = [t for t in trials if t.state == TrialState.COMPLETE and x in t.params]
    if y:
        done = [t for t in done if y in t.params]
    if done:
        xs, ys = coords(done)
        vals = [t.value for t in done]
        sc = ax.scatter(
            xs,
            ys,
            c=vals,
            cmap="viridis" if maximize else "viridis_r",
            s=45,
            edgecolors="k",
            linewidths=0.4,
            zorder=3,
        )
        fig.colorbar(sc, ax=ax, label=f"valid {space.metric}")
        best = best_trials(study, 1)[0]
        bx, by = coords([best])
        ax.scatter(
            bx,
            by,
            marker="*",
            s=300,
            facecolors="none",
            edgecolors="red",
            zorder=4,
            label=f"best: trial {best.number}",
        )
    for state, style in (
        (TrialState.PRUNED, {"marker": "o", "facecolors": "none", "edgecolors": "0.5"}),
        (TrialState.FAIL, {"marker": "x", "c": "red"}),
    ):
        ts = [t for t in trials if t.state == state and x in t.params and (not y or y in t.params)]
        if ts and y:  # without y a pruned or failed trial has no value to plot
            xs, ys = coords(ts)
            ax.scatter(xs, ys, s=40, label=f"{state.name.lower()} ({len(ts)})", zorder=2, **style)
    # the axes span the searched ranges, so the plot shows how well the trials cover them
    for name, axis in ((x, "x"), (y, "y")):
        if name is None or space.params[name].kind == "categorical":
            continue
        p = space.params[name]
        if p.log:
            getattr(ax, f"set_{axis}scale")("log")
            pad = (p.high / p.low) ** 0.04
            lim = (p.low / pad, p.high * pad)
            getattr(ax, f"{axis}axis").set_minor_formatter(NullFormatter())
        else:
            pad = 0.04 * (p.high - p.low)
            lim = (p.low - pad, p.high + pad)
        getattr(ax, f"set_{axis}lim")(*lim)
    ax.set_xlabel(x)
    ax.set_ylabel(y or f"valid {space.metric}")
    ax.grid(alpha=0.3, which="both")
    if ax.collections:
        ax.legend(fontsize=8, loc="best")
    ax.set_title(f"{study.study_name}: {len(trials)} trials")
    fig.tight_layout()
    return fig


def importance_figure(values: dict[str, float], note: str = ""):
    import matplotlib.pyplot as plt

    import rnnlab.report.plots  # noqa: F401

    names = list(values)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(names) + 1.5))
    ax.barh(names, [values[n] for n in names], color="C0")
    ax.set_xlabel("importance (share of the variance of the score)")
    ax.set_xlim(0, 1)
    ax.set_title(note or "parameter importances", fontsize=9)
    fig.tight_layout()
    return fig


@dataclass
class Summary:
    """What :func:`summarize` wrote and found."""

    header: list[str]
    rows: list[list[str]]
    importances: dict[str, float] | None
    importance_note: str
    counts: dict[str, int]
    files: dict[str, Path] = field(default_factory=dict)

    def markdown(self) -> str:
        parts = [markdown_table(self.header, self.rows) if self.rows else "(no complete trial)"]
        if self.importances:
            parts.append(
                f"Parameter importances ({self.importance_note}): "
                + ", ".join(f"{k} {v:.2f}" for k, v in self.importances.items())
            )
        else:
            parts.append(f"Parameter importances: {self.importance_note}")
        return "\n\n".join(parts)


def summarize(
    study: optuna.Study, space: SearchSpace, folder: Path, top: int = 10, x=None, y=None
) -> Summary:
    """Write ``best.md``, ``trials.csv``, ``scatter.png`` and ``importances.png`` into
    ``folder``; return the table and importances."""
    from rnnlab.report.plots import save

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        counts[t.state.name.lower()] = counts.get(t.state.name.lower(), 0) + 1
    imps, note = importances(study)
    summary = Summary(table_header(space), table_rows(study, space, top), imps, note, counts)
    summary.files["trials.csv"] = write_csv(study, space, folder / "trials.csv")
    if summary.rows:
        summary.files["scatter.png"] = save(
            scatter_figure(study, space, x, y), folder / "scatter.png"
        )
    if imps:
        summary.files["importances.png"] = save(
            importance_figure(imps, note), folder / "importances.png"
        )
    text = (
        f"# Study {study.study_name}\n\n"
        + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        + f"\n\nBest trials (valid {space.metric}, {study.direction.name.lower()}d):\n\n"
        + summary.markdown()
        + "\n"
    )
    (folder / "best.md").write_text(text, encoding="utf-8")
    summary.files["best.md"] = folder / "best.md"
    return summary
