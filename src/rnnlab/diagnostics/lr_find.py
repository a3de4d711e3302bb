"""Learning-rate range test (the lecture's recipe, step 3; Smith 2017, "Cyclical learning rates").

Start from a freshly initialised model and train it for ``iters`` steps on the real training
batches while the learning rate grows geometrically from ``min_lr`` to ``max_lr``. The training
loss of each step is recorded against the rate it was taken with. At low rates the loss barely
moves, then it falls fast, then the steps get too large and it turns up and diverges. The test
stops once a running average (EMA) of the loss exceeds ``diverge_factor`` times its minimum (or
becomes NaN).

Suggested rate (:func:`suggest`): **a tenth of the rate where the smoothed loss is lowest**. At
the minimum the rate is already at the edge of stability; a tenth of it is still in the steep,
fast-falling part, which is what the lecture asks for ("a learning rate that makes the loss fall
fast in the first ~100 iterations"). The rate where the smoothed loss falls fastest per decade is
reported beside it.

The config's regularisation is kept (the lecture: "turn on small regularisation"); its schedule is
replaced by the geometric ramp.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from rnnlab.errors import UserError
from rnnlab.tasks.base import RunConfig

#: the default range for each optimizer (SGD needs larger rates than the adaptive methods)
DEFAULT_RANGE = {
    "sgd": (1e-4, 10.0),
    "rmsprop": (1e-5, 1.0),
    "adam": (1e-5, 1.0),
    "adamw": (1e-5, 1.0),
}
RULE = "a tenth of the learning rate at the minimum of the smoothed loss"


def ema(losses, beta: float = 0.9) -> np.ndarray:
    """Exponential moving average with bias correction (so the first values are not pulled
    towards 0): ``m_t = beta*m_{t-1} + (1-beta)*x_t``, ``s_t = m_t / (1 - beta^t)``. Causal:
    used while the test runs, to stop it once the loss diverges."""
    out, m = [], 0.0
    for t, x in enumerate(losses, 1):
        m = beta * m + (1 - beta) * x
        out.append(m / (1 - beta**t))
    return np.asarray(out, dtype=float)


def smooth(losses, window: int = 0) -> np.ndarray:
    """Centred moving average over ``window`` steps (default: a tenth of the points, odd, at
    least 3), shrunk at the ends. Used to read the finished curve: unlike an EMA it does not
    lag, so the minimum is not shifted towards higher rates."""
    from rnnlab.diagnostics.curves import smooth as centred

    y = np.asarray(losses, dtype=float)
    n = len(y)
    window = window or max(3, n // 10)
    return centred(y, frac=window / max(n, 1))


@dataclass
class Suggestion:
    """The suggested rate and the evidence.

    Attributes:
        lr: the suggested learning rate (None when the loss never fell).
        min_lr: the rate at the minimum of the smoothed loss.
        steepest_lr: the rate where the smoothed loss falls fastest per decade.
        fall: the relative fall of the smoothed loss from its start to its minimum.
        verdict: ``ok``, ``no-fall`` (the loss never fell) or ``still-falling`` (the minimum is at
            the top of the range: widen it).
        note: what to do, in words.
    """

    lr: float | None
    min_lr: float
    steepest_lr: float | None
    fall: float
    verdict: str
    note: str


def suggest(lrs, smoothed, min_fall: float = 0.05) -> Suggestion:
    """Read a range test: ``lrs`` and ``smoothed`` losses of the same length (increasing rates).

    The rule is :data:`RULE`. If the smoothed loss never falls by ``min_fall`` (relative) below
    its starting value there is nothing to read: no suggestion.
    """
    lrs = np.asarray(lrs, dtype=float)
    sm = np.asarray(smoothed, dtype=float)
    finite = np.isfinite(sm)
    lrs, sm = lrs[finite], sm[finite]
    if len(sm) < 3:
        raise UserError("the range test has fewer than 3 finite points: lower --min-lr")
    i_min = int(np.argmin(sm))
    start = sm[0]
    fall = (start - sm[i_min]) / abs(start) if start else 0.0
    # Steepest descent per decade, before the minimum (after it the loss rises).
    steepest = None
    if i_min >= 2:
        slope = np.gradient(sm[: i_min + 1], np.log10(lrs[: i_min + 1]))
        steepest = float(lrs[int(np.argmin(slope))])
    if fall < min_fall:
        return Suggestion(
            None,
            float(lrs[i_min]),
            steepest,
            fall,
            "no-fall",
            f"the smoothed loss never fell by {min_fall:.0%} in [{lrs[0]:.2g}, {lrs[-1]:.2g}]: "
            "either the model does not learn at any rate tried, or it needs more steps to show "
            "it. Run `rnnlab check overfit` first; if it passes, give the test more steps "
            "(--iters) or widen the range (--min-lr / --max-lr).",
        )
    lr = float(lrs[i_min]) / 10
    if i_min >= len(sm) - max(2, len(sm) // 20):
        return Suggestion(
            lr,
            float(lrs[i_min]),
            steepest,
            fall,
            "still-falling",
            f"the loss was still falling at the top of the range ({lrs[-1]:.2g}): raise --max-lr "
            "to see where it turns up; until then the suggestion is a lower bound.",
        )
    return Suggestion(
        lr,
        float(lrs[i_min]),
        steepest,
        fall,
        "ok",
        f"the smoothed loss is lowest at lr {lrs[i_min]:.3g} and rises after it; "
        f"start training at {lr:.3g} and search around it.",
    )


@dataclass
class RangeTest:
    """The range test's curve and suggestion.

    Attributes:
        lrs: the rate of every step taken, increasing.
        losses: the training loss of every step (before its update).
        smoothed: :func:`smooth` of ``losses`` (centred, no lag).
        stopped: why the test ended (``end of range``, ``diverged ...``).
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    stopped: str
    suggestion: Suggestion
    min_lr: float
    max_lr: float
    iters: int
    seconds: float
    optimizer: str
    records: list[dict] = field(default_factory=list)

    def lines(self) -> list[str]:
        s = self.suggestion
        out = [
            f"range test: {len(self.lrs)} of {self.iters} steps, lr {self.min_lr:.2g} -> "
            f"{self.max_lr:.2g} (geometric, {self.optimizer}), {self.seconds:.1f} s; stopped: "
            f"{self.stopped}",
            f"smoothed loss: {self.smoothed[0]:.4f} at the start, lowest "
            f"{min(self.smoothed):.4f} at lr {s.min_lr:.3g} ({s.fall:.0%} lower)",
        ]
        if s.steepest_lr is not None:
            out.append(f"steepest fall at lr {s.steepest_lr:.3g}")
        if s.lr is not None:
            out.append(f"suggested learning rate: {s.lr:.3g}  (rule: {RULE})")
        else:
            out.append("suggested learning rate: none")
        out.append(f"verdict: {s.verdict.upper()}, {s.note}")
        return out


def lr_range_test(
    cfg: RunConfig,
    min_lr: float | None = None,
    max_lr: float | None = None,
    iters: int = 100,
    beta: float = 0.9,
    diverge_factor: float = 4.0,
    progress=None,
) -> RangeTest:
    """Run the range test on ``cfg``'s task and model.

    Args:
        cfg: the run config (optimizer, clipping and regularisation are used as given).
        min_lr, max_lr: the range (default: :data:`DEFAULT_RANGE` for the optimizer).
        iters: steps over the range (one batch each; the epochs' batches in order).
        beta: smoothing of the running loss (:func:`ema`) that decides when to stop.
        diverge_factor: stop once the running loss exceeds this times its minimum.
        progress: optional ``callable(step, lr, loss)`` called after every step.
    """
    from rnnlab.diagnostics.checks import build
    from rnnlab.train.optim import build_optimizer, set_lr
    from rnnlab.train.trainer import detach

    lo, hi = DEFAULT_RANGE[cfg.train.optimizer]
    min_lr = lo if min_lr is None else min_lr
    max_lr = hi if max_lr is None else max_lr
    if not (math.isfinite(min_lr) and math.isfinite(max_lr)):
        raise UserError(f"--min-lr and --max-lr must be finite, got {min_lr:g} and {max_lr:g}")
    if not 0 < min_lr < max_lr:
        raise UserError(f"need 0 < --min-lr < --max-lr, got {min_lr:g} and {max_lr:g}")
    if iters < 10:
        raise UserError(f"--iters must be >= 10, got {iters}")
    if not 0 <= beta < 1:
        raise UserError(f"the smoothing beta must be in [0, 1), got {beta}")
    cfg = cfg.replace_train(lr=min_lr, schedule="constant", warmup_steps=0)
    s = build(cfg)
    task, model, tc = s.task, s.model, cfg.train
    optimizer = build_optimizer(model.parameters(), tc)
    schedule = np.geomspace(min_lr, max_lr, iters)
    lrs, losses, records = [], [], []
    stopped = "end of range"
    epoch, loader, k, carry = 0, task.train_loader(0), 0, None
    if len(loader) == 0:
        raise UserError("the training split gives no batches")
    start = time.monotonic()
    best = math.inf
    model.train()
    for step, lr in enumerate(schedule, 1):
        if k == len(loader):  # next epoch
            epoch, k, carry = epoch + 1, 0, None
            loader = task.train_loader(epoch)
        set_lr(optimizer, float(lr))
        optimizer.zero_grad(set_to_none=True)
        out = task.loss(model, loader[k], carry if task.carries_state else None)
        k += 1
        loss = float(out.loss.detach())
        if not math.isfinite(loss):
            stopped = f"diverged (loss {loss}) at lr {lr:.3g}"
            break
        out.loss.backward()
        carry = detach(out.carry)
        params = [p for p in model.parameters() if p.grad is not None]
        if tc.clip_norm:
            torch.nn.utils.clip_grad_norm_(params, tc.clip_norm)
        if tc.clip_value:
            torch.nn.utils.clip_grad_value_(params, tc.clip_value)
        optimizer.step()
        lrs.append(float(lr))
        losses.append(loss)
        sm = ema(losses, beta)[-1]
        best = min(best, sm)
        records.append(
            {
                "step": step,
                "epoch": epoch,
                "time": round(time.monotonic() - start, 3),
                "split": "train",
                "loss": loss,
                "running": float(sm),
                "lr": float(lr),
            }
        )
        if progress is not None:
            progress(step, float(lr), loss)
        if step >= 10 and sm > diverge_factor * best:
            stopped = (
                f"diverged (running loss {sm:.3g} > {diverge_factor:g}x its minimum {best:.3g})"
            )
            break
    smoothed = smooth(losses)
    if len(losses) < 3:
        raise UserError(
            f"the loss diverged after {len(losses)} steps at lr {schedule[len(losses)]:.3g}: "
            "the range starts too high, lower --min-lr"
        )
    return RangeTest(
        lrs,
        losses,
        smoothed.tolist(),
        stopped,
        suggest(lrs, smoothed),
        min_lr,
        max_lr,
        iters,
        time.monotonic() - start,
        tc.optimizer,
        records,
    )


def range_figure(result: RangeTest, title: str = ""):
    """Loss against learning rate (log axis): raw steps faint, smoothed line, the suggestion."""
    import matplotlib.pyplot as plt

    import rnnlab.report.plots  # noqa: F401 - selects the file-only backend

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(result.lrs, result.losses, ".", color="0.7", markersize=3, label="loss per step")
    ax.plot(result.lrs, result.smoothed, "-", color="C0", label="smoothed")
    s = result.suggestion
    ax.axvline(s.min_lr, color="C3", ls=":", label=f"minimum {s.min_lr:.2g}")
    if s.steepest_lr is not None:
        ax.axvline(s.steepest_lr, color="C2", ls="--", label=f"steepest {s.steepest_lr:.2g}")
    if s.lr is not None:
        ax.axvline(s.lr, color="C1", ls="-", lw=2, label=f"suggested {s.lr:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    # Keep the diverged tail from flattening the interesting part.
    low = min(min(result.losses), min(result.smoothed))
    top = result.smoothed[0] + 0.3 * abs(result.smoothed[0] - low)
    ax.set_ylim(low - 0.05 * abs(top - low), top)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title(title or "learning-rate range test")
    fig.tight_layout()
    return fig
