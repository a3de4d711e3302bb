"""Reading learning curves (the lecture's recipe, step 6): name the shape, give the evidence.

:func:`diagnose` takes the records of a run's ``metrics.jsonl`` (``step``, ``split``, ``loss``,
``lr``...) and looks for the shapes the lecture teaches, each with a rule that can be checked by
hand from the numbers it prints:

========================  ==================================================================
shape                     rule (on the lightly smoothed training loss unless said otherwise)
========================  ==================================================================
``flat-start``            the loss takes >= 15% of the run to fall by 10% of its total fall:
                          bad initialisation (or a learning rate far too low at the start)
``plateau``               the last 30% of the run improved the loss by < 10% of its total
                          fall (mean around 70% of the run vs mean of the last 10%), with a
                          learning rate never decayed and no overfitting: decay the rate
``decay-too-early``       at a step cut of the learning rate (x0.7 or less after a constant
                          stretch) the loss was still falling (slope over the last quarter of
                          the stretch, > 2 standard errors) at >= 30% of its average rate
                          since the previous cut: decay later
``overfitting``           the validation loss rose by > 2% from its minimum (a line fitted
                          through >= 3 evaluations from the minimum on) while the training
                          loss kept falling, or the gap (valid - train) grew by more than 5%
                          of the validation loss and to > 1.5x its smallest early value
``underfitting``          no gap (|valid - train| <= 3% of valid) and the loss has stopped
                          improving (as for a plateau, after a decay), above ``target`` if
                          given
``still-improving``       the loss fell by > 10% of its total fall over the last 20% of the run
``diverging``             the loss climbed back by > 50% of its total fall after its minimum
``no-progress``           the loss never fell by 5% of its starting value
========================  ==================================================================

The training loss is compared with validation at each evaluation step by interpolating the
smoothed training curve there (training losses are taken with dropout on, so a small gap is
normal).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from rnnlab.train.run_dir import on_learning_curve

#: keys of a record that are not metrics
_NOT_METRICS = {"step", "epoch", "time", "split", "loss", "lr", "best_step", "items_per_s"}
#: preferred metrics to plot beside the loss, in order
_METRIC_ORDER = ("acc", "accuracy", "bleu", "ppl", "bpc", "nll", "mse")


@dataclass
class Finding:
    """One shape found in a run's curves.

    Attributes:
        name: the shape's identifier (``plateau``, ``overfitting``...).
        title: the shape in words, with what it means.
        evidence: the numbers that show it.
        advice: what to do.
        steps: steps to mark on the plot.
    """

    name: str
    title: str
    evidence: str
    advice: str
    steps: list = field(default_factory=list)

    def text(self) -> str:
        return f"{self.title}\n  evidence: {self.evidence}\n  advice: {self.advice}"


def series(records: list[dict], split: str, key: str = "loss") -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of ``key`` for ``split``, sorted by step, finite values only."""
    pts = sorted(
        (r["step"], float(r[key]))
        for r in records
        if r.get("split") == split
        and on_learning_curve(r)
        and isinstance(r.get(key), (int, float))
        and math.isfinite(r[key])
        and "step" in r
    )
    if not pts:
        return np.zeros(0), np.zeros(0)
    x, y = zip(*pts)
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def smooth(y: np.ndarray, frac: float = 1 / 15) -> np.ndarray:
    """Centred moving average over ``frac`` of the points (an odd window, shrunk at the ends)."""
    n = len(y)
    h = max(0, round(n * frac) // 2)
    if h == 0:
        return y.copy()
    c = np.concatenate([[0.0], np.cumsum(y)])
    out = np.empty(n)
    for i in range(n):
        a, b = max(0, i - h), min(n, i + h + 1)
        out[i] = (c[b] - c[a]) / (b - a)
    return out


def _fit_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of y against x (per step)."""
    if len(x) < 2 or np.ptp(x) == 0:
        return 0.0
    return float(np.polyfit(x, y, 1)[0])


def _fit_slope_se(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares slope of y against x and its standard error."""
    n = len(x)
    if n < 3 or np.ptp(x) == 0:
        return _fit_slope(x, y), math.inf
    slope, icept = np.polyfit(x, y, 1)
    resid = y - (slope * x + icept)
    se = math.sqrt(float(resid @ resid) / (n - 2) / float(((x - x.mean()) ** 2).sum()))
    return float(slope), se


def _lr_cuts(records: list[dict]) -> list[tuple[int, float, float]]:
    """Step cuts of the learning rate: ``(step, old, new)`` where the rate fell to <= 0.7x after
    at least 3 records at a constant rate (so smooth schedules such as cosine are not cuts)."""
    x, lr = series(records, "train", "lr")
    cuts, run = [], 1
    for i in range(1, len(lr)):
        if lr[i] <= 0.7 * lr[i - 1] and run >= 3:
            cuts.append((int(x[i]), float(lr[i - 1]), float(lr[i])))
            run = 1
        elif abs(lr[i] - lr[i - 1]) <= 0.01 * abs(lr[i - 1]):
            run += 1
        else:
            run = 1
    return cuts


def _pct(v: float) -> str:
    return f"{100 * v:.0f}%"


def diagnose(records: list[dict], target: float | None = None) -> list[Finding]:
    """The shapes found in one run's curves (see the module docstring for the rules).

    Args:
        records: the run's ``metrics.jsonl`` records.
        target: a validation loss you expect a good model to reach; with it, ``underfitting``
            also needs the final validation loss to be above it.

    Returns:
        the findings, most fundamental first; empty when the curves look healthy.
    """
    tx, ty = series(records, "train")
    vx, vy = series(records, "valid")
    if len(tx) >= 5:
        x, raw, which = tx, ty, "training"
    elif len(vx) >= 5:
        x, raw, which = vx, vy, "validation"
    else:
        return []
    c = smooth(raw)
    s0, s1 = x[0], x[-1]
    span = max(s1 - s0, 1.0)
    l0, i_min = c[0], int(np.argmin(c))
    lmin = c[i_min]
    drop = l0 - lmin
    found: list[Finding] = []
    if drop <= 0.05 * abs(l0):
        return [
            Finding(
                "no-progress",
                "no progress: the loss never really fell",
                f"the {which} loss went from {l0:.4f} to at best {lmin:.4f} "
                f"({_pct(drop / abs(l0) if l0 else 0)} lower) over steps {s0:g}-{s1:g}",
                "the learning rate is far off (run `rnnlab lr-find`) or something is broken "
                "(run `rnnlab check initial-loss` and `rnnlab check overfit`)",
            )
        ]

    # flat start: the time it takes to fall by 10% of the total fall
    i10 = int(np.argmax(c <= l0 - 0.1 * drop))
    if x[i10] - s0 >= 0.15 * span:
        found.append(
            Finding(
                "flat-start",
                "flat start: the loss stays flat before it starts to fall (initialisation)",
                f"the {which} loss stayed near {l0:.4f} until step {x[i10]:g} "
                f"({_pct((x[i10] - s0) / span)} of the run) before falling 10% of the way to "
                f"its minimum {lmin:.4f}",
                "a bad initialisation is the prime suspect: check the initial loss (`rnnlab "
                "check initial-loss`), the weight scales (too small: the signal dies; LSTM "
                "forget-gate bias 1), and a warm-up or learning rate too small at the start",
                [int(x[i10])],
            )
        )

    # how much the last 30% of the run bought: the smoothed loss around 70% of the run against
    # its mean over the last 10%
    def window_mean(lo: float, hi: float) -> float:
        m = (x >= lo) & (x <= hi)
        return float(c[m].mean()) if m.any() else float(np.interp((lo + hi) / 2, x, c))

    before = window_mean(s1 - 0.35 * span, s1 - 0.25 * span)
    tail_gain = before - window_mean(s1 - 0.1 * span, s1)
    stalled = tail_gain < 0.1 * drop
    stall_text = (
        f"over the last 30% of the run (steps {s1 - 0.3 * span:.0f}-{s1:g}) the {which} loss "
        f"improved by {tail_gain:.4f}, {_pct(max(tail_gain, 0) / drop)} of its total fall "
        f"({drop:.4f})"
    )
    lx, lr = series(records, "train", "lr")
    decayed = bool(len(lr) and lr[-1] < 0.95 * lr.max())
    rose = c[-1] - lmin > 0.5 * drop and i_min < len(c) - 1

    if rose:
        found.append(
            Finding(
                "diverging",
                "diverging: the loss climbed back up after its minimum",
                f"the {which} loss fell to {lmin:.4f} at step {x[i_min]:g}, then rose to "
                f"{c[-1]:.4f} by step {s1:g}",
                "the learning rate is too high for this stage: lower it or decay it, and clip "
                "the gradient norm (train.clip_norm)",
                [int(x[i_min])],
            )
        )

    # the train/validation gap at each evaluation
    pts = []
    if len(tx) >= 2:
        tc = smooth(ty)  # centred: no lag behind the evaluation steps
        pts = [(s, v, float(np.interp(s, tx, tc))) for s, v in zip(vx, vy) if tx[0] <= s <= tx[-1]]
    overfit = no_gap = False
    if len(pts) >= 3:
        ps, pv, pt = (np.asarray(a) for a in zip(*pts))
        gap = pv - pt
        m = int(np.argmin(pv))
        early = gap[: len(gap) // 2 + 1]
        g_ref = float(early.min())
        # the rise after the minimum, from a line fitted through the evaluations since (a
        # single noisy last evaluation is not a rise)
        rise = _fit_slope(ps[m:], pv[m:]) * (ps[-1] - ps[m]) if len(ps) - m >= 3 else 0.0
        rising = rise > 0.02 * abs(pv[m]) and pv[-1] > pv[m] and pt[-1] < pt[m]
        growing = gap[-1] - g_ref > 0.05 * abs(pv[-1]) and gap[-1] > 1.5 * max(g_ref, 0.0)
        no_gap = abs(gap[-1]) <= 0.03 * abs(pv[-1])
        if rising or growing:
            overfit = True
            found.append(
                Finding(
                    "overfitting",
                    "overfitting: the train/validation gap grows",
                    f"validation loss best {pv[m]:.4f} at step {ps[m]:g}, last {pv[-1]:.4f}; "
                    f"training loss {pt[m]:.4f} -> {pt[-1]:.4f} over the same steps; gap "
                    f"(valid - train) {g_ref:.4f} early on, {gap[-1]:.4f} at the end",
                    "regularise more (dropout, weight decay), get more data, or stop early: the "
                    f"best checkpoint is the one at step {ps[m]:g}",
                    [int(ps[m])],
                )
            )

    # a plateau at a learning rate never decayed (when overfitting, regularise first)
    plateau = stalled and not decayed and not rose and not overfit
    if plateau:
        lr_text = f"at a constant learning rate {lr[-1]:.3g}" if len(lr) else "(no lr logged)"
        found.append(
            Finding(
                "plateau",
                "plateau: the loss stopped improving at a constant learning rate",
                f"{stall_text}, {lr_text}",
                'decay the learning rate (train.schedule = "step" or "plateau"); if it stays '
                "flat after decaying with no train/validation gap, the model underfits",
                [int(s1 - 0.3 * span)],
            )
        )

    # decay too early: at each step cut, was the loss still falling?
    prev = s0
    for step, old, new in _lr_cuts(records):
        mask = (tx >= prev) & (tx < step)
        seg_x, seg_y = tx[mask], ty[mask]
        prev = step
        if len(seg_x) < 8:
            continue
        q = max(4, len(seg_x) // 4)
        first_x, first_y = seg_x[:q].mean(), seg_y[:q].mean()
        last_x, last_y = seg_x[-q:].mean(), seg_y[-q:].mean()
        avg_rate = (first_y - last_y) / max(last_x - first_x, 1e-9)
        recent, stderr = _fit_slope_se(seg_x[-q:], seg_y[-q:])
        recent = -recent
        # still falling: fast compared with the segment's average, and clearly (2 standard
        # errors) more than the noise of the training loss
        if (
            avg_rate > 0
            and first_y - last_y > 0.05 * drop
            and recent >= 0.3 * avg_rate
            and recent > 2 * stderr
        ):
            found.append(
                Finding(
                    "decay-too-early",
                    "decay too early: the learning rate was cut while the loss was still falling",
                    f"at step {step} the learning rate went {old:.3g} -> {new:.3g} while the "
                    f"training loss was still falling {1000 * recent:.3g} per 1000 steps over "
                    f"the last {q} logs, {_pct(recent / avg_rate)} of its average rate "
                    f"({1000 * avg_rate:.3g} per 1000 steps) since step {seg_x[0]:g}",
                    'decay later, once the loss has flattened: with train.schedule = "step" '
                    'raise train.decay_start or decay_every, with "plateau" raise '
                    "train.plateau_patience",
                    [step],
                )
            )
            break

    # underfitting: no gap, no more progress, and (with a target) a poor value
    poor = target is None or (len(pts) >= 3 and pv[-1] > target * 1.02)
    if no_gap and poor and stalled and not plateau and not overfit and not rose:
        vs = f", above the target {target:g}" if target is not None else ""
        found.append(
            Finding(
                "underfitting",
                "underfitting: no train/validation gap, and no more progress",
                f"training {pt[-1]:.4f} vs validation {pv[-1]:.4f} at step {ps[-1]:g} "
                f"(gap {gap[-1]:+.4f}, {_pct(abs(gap[-1]) / abs(pv[-1]))} of valid){vs}; "
                f"{stall_text}",
                "the model cannot fit even the training data better: use a bigger model "
                "(hidden size, layers), less regularisation, or train longer at a higher "
                "learning rate",
                [int(ps[-1])],
            )
        )

    # still falling at the end: judge again after training longer
    tail = x >= s1 - 0.2 * span
    if tail.sum() >= 2 and not rose and not overfit:
        fall = float(c[tail][0] - c[-1])
        if fall > 0.1 * drop:
            found.append(
                Finding(
                    "still-improving",
                    "still improving: the loss was still falling when training stopped",
                    f"the {which} loss fell {fall:.4f} ({_pct(fall / drop)} of its total fall) "
                    f"over the last 20% of the run (steps {x[tail][0]:g}-{s1:g})",
                    "train longer before judging the final value",
                    [],
                )
            )
    return found


def pick_metric(records: list[dict]) -> str | None:
    """The metric to plot beside the loss: accuracy, BLEU, perplexity... (None if only loss)."""
    keys = set()
    for r in records:
        if r.get("split") in ("valid", "test"):
            keys.update(k for k, v in r.items() if isinstance(v, (int, float)))
    keys -= _NOT_METRICS
    for k in _METRIC_ORDER:
        if k in keys:
            return k
    return sorted(keys)[0] if keys else None


def curves_panel(
    runs: dict[str, list[dict]],
    metric: str | None = None,
    findings: dict[str, list[Finding]] | None = None,
):
    """A 2x2 figure (1x2 without a metric): loss and ``metric`` against step and wall-clock,
    every run overlaid; the steps of the findings are marked on the loss-against-step axes."""
    import matplotlib.pyplot as plt

    from rnnlab.report.plots import curves_figure

    rows = [k for k in ("loss", metric) if k]
    fig, axes = plt.subplots(len(rows), 2, figsize=(12, 3.8 * len(rows)), squeeze=False)
    for r, key in enumerate(rows):
        for col, xkey in enumerate(("step", "time")):
            curves_figure(runs, key, xkey, ax=axes[r][col], title=f"{key} against {xkey}")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ax = axes[0][0]
    for n, (_label, fs) in enumerate((findings or {}).items()):
        for f in fs:
            for s in f.steps:
                ax.axvline(s, color=colors[n % len(colors)], alpha=0.5, ls="-.", lw=1)
                ax.annotate(
                    f.name,
                    (s, 1.0),
                    xycoords=("data", "axes fraction"),
                    rotation=90,
                    va="top",
                    ha="right",
                    fontsize=7,
                )
    fig.tight_layout()
    return fig
