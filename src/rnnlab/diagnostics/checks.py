"""Sanity checks before a long training (the lecture's recipe, steps 1 and 2).

1. **Initial loss** (:func:`check_initial_loss`): with regularisation off, the loss of a freshly
   initialised model should be the loss of an uninformed prediction: ``log C`` for C-way
   cross-entropy (a uniform softmax), the matching value for Bernoulli outputs. The task says what
   it expects through :meth:`rnnlab.tasks.base.Task.expected_initial_loss`.
2. **Overfit a tiny subset** (:func:`check_overfit`): trained on a handful of minibatches with no
   regularisation, a working model memorises them: ~100% accuracy, a loss near zero. If it cannot,
   something is broken (the loss, the model, the data pipeline) or the learning rate is far off,
   and training on everything will not fix it.

Both use only the task protocol (``prepare``, ``build_model``, ``train_loader``, ``loss``), so
they work for every task. "Regularisation off" means every ``*dropout*`` field of ``[model]`` and
``[data]`` set to 0 and ``train.weight_decay`` and ``train.weight_noise`` set to 0; the checks
return the list of what they changed so the command can say so.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import torch

from rnnlab.errors import UserError
from rnnlab.tasks.base import RunConfig, StepOutput

#: an overfit run passes when its accuracy reaches this ...
PASS_ACCURACY = 0.99
#: ... or when its loss falls to this fraction of the initial loss ("near zero")
PASS_LOSS_RATIO = 0.05
#: below this fraction the model learns the subset but did not get there in the steps given
PARTIAL_LOSS_RATIO = 0.5


# ---------------------------------------------------------------------- shared set-up
def regularisation_off(cfg: RunConfig) -> tuple[RunConfig, list[tuple[str, object, object]]]:
    """``cfg`` with dropout, weight decay and weight noise set to 0.

    Returns:
        the new config and the changes made, as ``(key, old, new)`` (empty if none were on).
    """
    changes: list[tuple[str, object, object]] = []

    def zero_dropouts(section, prefix: str):
        if not dataclasses.is_dataclass(section):
            return section
        new = {}
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
            if "dropout" in f.name and numeric and value != 0:
                new[f.name] = type(value)(0)
                changes.append((f"{prefix}.{f.name}", value, 0))
        return dataclasses.replace(section, **new) if new else section

    model = zero_dropouts(cfg.model, "model")
    data = zero_dropouts(cfg.data, "data")
    train = {}
    for name in ("weight_decay", "weight_noise"):
        value = getattr(cfg.train, name)
        if value:
            train[name] = 0.0
            changes.append((f"train.{name}", value, 0))
    cfg = dataclasses.replace(
        cfg, model=model, data=data, train=dataclasses.replace(cfg.train, **train)
    )
    return cfg, changes


def describe_changes(changes) -> str:
    """One line saying what :func:`regularisation_off` changed."""
    if not changes:
        return "regularisation off (the config had none on)"
    return "regularisation off for this check: " + ", ".join(
        f"{k} {old:g} -> {new:g}" for k, old, new in changes
    )


@dataclass
class Setup:
    """A task prepared and a model built for a diagnostic, seeded like a training run."""

    cfg: RunConfig
    task: object
    model: torch.nn.Module
    device: torch.device


def build(cfg: RunConfig) -> Setup:
    """Prepare the task and build the model exactly as :class:`Trainer.start` would."""
    from rnnlab.tasks import task_class
    from rnnlab.train.trainer import pick_device, seed_everything

    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    device = pick_device(cfg.train.device)
    task = task_class(cfg.task)(cfg)
    task.to(device)
    seed_everything(cfg.seed)
    task.prepare()
    model = task.build_model().to(device)
    return Setup(cfg, task, model, device)


def first_batches(task, n: int, epoch: int = 0) -> list:
    """The first ``n`` training batches of ``epoch`` (fewer if the epoch is shorter)."""
    if n < 1:
        raise UserError(f"the number of batches must be >= 1, got {n}")
    loader = task.train_loader(epoch)
    if len(loader) == 0:
        raise UserError(
            "the training split gives no batches: is it empty, or is train.batch_size larger "
            "than the data?"
        )
    return [loader[i] for i in range(min(n, len(loader)))]


def accuracy_key(extra: dict | None) -> str | None:
    """The accuracy among a batch's extra numbers (``acc``, ``accuracy``, ``token_acc``...)."""
    if not extra:
        return None
    for k in ("acc", "accuracy"):
        if k in extra:
            return k
    return next((k for k in sorted(extra) if "acc" in k.lower()), None)


@torch.no_grad()
def measure(task, model, batches: list) -> tuple[list[float], float | None]:
    """Per-batch losses of ``model`` (eval mode, no gradients) and the mean accuracy if the task
    reports one. The recurrent state is carried from batch to batch for tasks that carry it,
    as in training."""
    was_training = model.training
    model.eval()
    losses, accs, carry = [], [], None
    for batch in batches:
        out: StepOutput = task.loss(model, batch, carry if task.carries_state else None)
        carry = out.carry
        losses.append(float(out.loss))
        key = accuracy_key(out.extra)
        if key is not None:
            accs.append(float(out.extra[key]))
    model.train(was_training)
    return losses, (sum(accs) / len(accs) if accs else None)


# ---------------------------------------------------------------------- 1. initial loss
@dataclass
class InitialLoss:
    """What :func:`check_initial_loss` measured and how it compares with the expectation.

    Attributes:
        measured: mean loss over ``batches`` training batches at initialisation.
        spread: standard deviation of the per-batch losses.
        expected: the task's expected value, or None if the task cannot say.
        why: the task's reason for ``expected``.
        tolerance: the accepted relative distance from ``expected``.
        changes: what was changed to turn regularisation off.
    """

    measured: float
    spread: float
    batches: int
    expected: float | None
    why: str | None
    tolerance: float
    changes: list = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``ok``, ``high``, ``low`` or ``unknown`` (the task gives no expected value)."""
        if not math.isfinite(self.measured):
            return "high"
        if self.expected is None:
            return "unknown"
        if abs(self.measured - self.expected) <= self.tolerance * abs(self.expected):
            return "ok"
        return "high" if self.measured > self.expected else "low"

    @property
    def passed(self) -> bool:
        return self.verdict in ("ok", "unknown")

    def lines(self) -> list[str]:
        """The report, one line each: the measurement, the expectation, the verdict."""
        out = [
            describe_changes(self.changes),
            f"measured initial loss: {self.measured:.4f} (mean of {self.batches} training "
            f"batches, std {self.spread:.4f})",
        ]
        v = self.verdict
        if v == "unknown":
            out.append(
                "expected: unknown (this task's expected_initial_loss() returns None): compare "
                "the measured value with what an uninformed model should score, e.g. ln C = "
                f"{math.log(10):.3f} for 10 classes"
            )
            out.append("verdict: NOT CHECKED")
            return out
        ratio = self.measured / self.expected if self.expected else math.inf
        out.append(f"expected: {self.expected:.4f} ({self.why})")
        lo = self.expected * (1 - self.tolerance)
        hi = self.expected * (1 + self.tolerance)
        if v == "ok":
            out.append(
                f"verdict: OK, in range [{lo:.4f}, {hi:.4f}] (within {self.tolerance:.0%}; "
                f"measured/expected = {ratio:.3f})"
            )
        elif v == "high":
            out.append(
                f"verdict: TOO HIGH, {ratio:.2f}x the expected value (range [{lo:.4f}, {hi:.4f}]). "
                "The model is confident before it has learnt anything: initial weights too large "
                "(scale down the output layer's init), a loss summed instead of averaged (over "
                "time steps or the batch), or targets misaligned with the outputs."
            )
        else:
            out.append(
                f"verdict: TOO LOW, {ratio:.2f}x the expected value (range [{lo:.4f}, {hi:.4f}]). "
                "An untrained model should not do better than chance: the inputs may contain the "
                "targets (sequences not shifted by one step), padding may count as easy targets, "
                "or the loss is divided by too many items."
            )
        return out


def check_initial_loss(cfg: RunConfig, batches: int = 10, tolerance: float = 0.1) -> InitialLoss:
    """Measure the loss at initialisation with regularisation off.

    Args:
        cfg: the run config (its regularisation is turned off here).
        batches: how many training batches to average over.
        tolerance: accepted relative distance from the task's expected value.
    """
    if tolerance <= 0:
        raise UserError(f"--tolerance must be > 0, got {tolerance}")
    cfg, changes = regularisation_off(cfg)
    s = build(cfg)
    losses, _ = measure(s.task, s.model, first_batches(s.task, batches))
    mean = sum(losses) / len(losses)
    spread = math.sqrt(sum((x - mean) ** 2 for x in losses) / len(losses))
    expected = s.task.expected_initial_loss()
    value, why = expected if expected is not None else (None, None)
    return InitialLoss(mean, spread, len(losses), value, why, tolerance, changes)


# ---------------------------------------------------------------------- 2. overfit
@dataclass
class Overfit:
    """What :func:`check_overfit` did: the curve and the loss before and after.

    Attributes:
        records: ``metrics.jsonl``-style records, one per pass over the subset (``split`` train,
            ``loss`` the mean training loss of that pass, ``acc`` when the task reports one).
        initial: the subset's loss before training (eval mode).
        final: the subset's loss after training (eval mode), NaN if training diverged.
        accuracy: the subset's accuracy after training, None if the task reports none.
        steps: optimizer steps taken.
        batches: minibatches in the subset.
        lr: the learning rate used.
        diverged: the loss became NaN or infinite.
    """

    records: list[dict]
    initial: float
    final: float
    accuracy: float | None
    steps: int
    max_steps: int
    batches: int
    lr: float
    diverged: bool
    changes: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ratio(self) -> float:
        return self.final / self.initial if self.initial > 0 else math.inf

    @property
    def verdict(self) -> str:
        """``passed``, ``partial``, ``failed`` or ``diverged``."""
        if self.diverged or not math.isfinite(self.final):
            return "diverged"
        if (self.accuracy is not None and self.accuracy >= PASS_ACCURACY) or (
            self.ratio <= PASS_LOSS_RATIO
        ):
            return "passed"
        if self.ratio <= PARTIAL_LOSS_RATIO:
            return "partial"
        return "failed"

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    def lines(self) -> list[str]:
        acc = "" if self.accuracy is None else f", accuracy {self.accuracy:.2%}"
        out = [
            describe_changes(self.changes),
            f"trained on {self.batches} minibatches for {self.steps} steps (lr {self.lr:g}, "
            f"{self.seconds:.1f} s)",
            f"loss on those batches: {self.initial:.4f} -> {self.final:.4f} "
            f"({self.ratio:.1%} of the start){acc}",
        ]
        target = f"loss <= {PASS_LOSS_RATIO:.0%} of the initial loss"
        if self.accuracy is not None:
            target = f"accuracy >= {PASS_ACCURACY:.0%} or {target}"
        v = self.verdict
        if v == "passed":
            out.append(f"verdict: PASSED, the model memorises the subset ({target})")
        elif v == "partial":
            out.append(
                f"verdict: NOT YET, the loss fell to {self.ratio:.1%} of its start but not to "
                f"{target}. Give it more steps (--steps), a larger learning rate (--lr), or a "
                "larger model: a model that cannot memorise a few batches will underfit the whole data set."
            )
        elif v == "diverged":
            out.append(
                "verdict: DIVERGED, the loss became NaN or infinite: lower the learning rate "
                "(--lr) or clip gradients (train.clip_norm)."
            )
        else:
            out.append(
                f"verdict: FAILED, the loss only fell to {self.ratio:.1%} of its start ({target} "
                "expected). Something is broken or far off: the learning rate (try rnnlab "
                "lr-find), gradients that do not reach the parameters (frozen or detached "
                "tensors), or a loss that does not depend on the model's output."
            )
        return out


def check_overfit(
    cfg: RunConfig,
    batches: int = 5,
    steps: int = 300,
    lr: float | None = None,
    progress=None,
) -> Overfit:
    """Train on the first ``batches`` minibatches, repeatedly, with regularisation off.

    The optimizer, clipping and learning rate are the config's (``lr`` overrides the rate); the
    schedule is constant. Stops early once the subset is memorised (all answers right and the loss
    below :data:`PASS_LOSS_RATIO` of its start, or the loss below 1% of its start).

    Args:
        cfg: the run config.
        batches: minibatches in the subset.
        steps: the most optimizer steps to take.
        lr: learning rate (default: ``cfg.train.lr``).
        progress: optional ``callable(step, loss)`` called after every step.
    """
    from rnnlab.train.optim import build_optimizer

    if steps < 1:
        raise UserError(f"--steps must be >= 1, got {steps}")
    if lr is not None and lr <= 0:
        raise UserError(f"--lr must be > 0, got {lr}")
    cfg, changes = regularisation_off(cfg)
    if lr is not None:
        cfg = cfg.replace_train(lr=lr)
    s = build(cfg)
    task, model, tc = s.task, s.model, cfg.train
    subset = first_batches(task, batches)
    n = len(subset)
    initial_losses, _ = measure(task, model, subset)
    initial = sum(initial_losses) / n
    optimizer = build_optimizer(model.parameters(), tc)
    records: list[dict] = []
    start = time.monotonic()
    carry, pass_loss, pass_acc, diverged, step = None, 0.0, [], False, 0
    model.train()
    for step in range(1, steps + 1):
        i = (step - 1) % n
        if i == 0:
            carry, pass_loss, pass_acc = None, 0.0, []
        optimizer.zero_grad(set_to_none=True)
        out = task.loss(model, subset[i], carry if task.carries_state else None)
        loss = float(out.loss.detach())
        if not math.isfinite(loss):
            diverged = True
            break
        out.loss.backward()
        carry = _detach(out.carry)
        params = [p for p in model.parameters() if p.grad is not None]
        if tc.clip_norm:
            torch.nn.utils.clip_grad_norm_(params, tc.clip_norm)
        if tc.clip_value:
            torch.nn.utils.clip_grad_value_(params, tc.clip_value)
        optimizer.step()
        pass_loss += loss
        key = accuracy_key(out.extra)
        if key is not None:
            pass_acc.append(float(out.extra[key]))
        if progress is not None:
            progress(step, loss)
        if i == n - 1:  # a whole pass over the subset: one point of the curve
            record = {
                "step": step,
                "epoch": 0,
                "time": round(time.monotonic() - start, 3),
                "split": "train",
                "loss": pass_loss / n,
                "lr": tc.lr,
            }
            if pass_acc:
                record["acc"] = sum(pass_acc) / len(pass_acc)
            records.append(record)
            # stop once memorised: every answer right and the loss near zero, or the loss at 1%
            all_right = bool(pass_acc) and record["acc"] >= 0.999
            low = record["loss"] <= PASS_LOSS_RATIO * initial
            if (all_right and low) or record["loss"] <= 0.01 * initial:
                break
    seconds = time.monotonic() - start
    if diverged:
        final, accuracy = math.nan, None
    else:
        final_losses, accuracy = measure(task, model, subset)
        final = sum(final_losses) / n
    return Overfit(
        records,
        initial,
        final,
        accuracy,
        step,
        steps,
        n,
        tc.lr,
        diverged,
        changes,
        seconds,
    )


def _detach(carry):
    from rnnlab.train.trainer import detach

    return detach(carry)
