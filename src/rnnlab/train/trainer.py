"""The training loop: one explicit loop that knows no task by name.

Per optimizer step: ``task.loss`` on ``grad_accum`` batches (carrying the recurrent state between
batches for truncated BPTT, detached so the graph is cut at every batch boundary), backward,
optional weight noise, clipping by global norm (the pre-clip norm is logged) or by value, the
optimizer step and the learning-rate schedule. Evaluation every ``eval_every`` steps or once per
epoch, with early stopping, "best" tracking and a checkpoint each time; metrics go to
``metrics.jsonl`` (and TensorBoard when it is installed).

Resuming: a checkpoint holds the model, the optimizer, the schedule, every RNG state, the carried
state and the position in the data (epoch, next batch), so ``Trainer.resume(run)`` continues exactly
where the checkpoint was taken: on the CPU the final weights and metrics are bit for bit those of a
run never interrupted.
"""

from __future__ import annotations

import math
import shutil
import signal
import threading
import time
from contextlib import nullcontext
from typing import Any

import torch

from rnnlab.errors import UserError
from rnnlab.tasks import task_class
from rnnlab.tasks.base import RunConfig, Task, load_run_config
from rnnlab.train.averaging import WeightAverage
from rnnlab.train.checkpoint import CheckpointError, load_model_state
from rnnlab.train.faults import fault_point
from rnnlab.train.optim import Schedule, build_optimizer, set_lr
from rnnlab.train.progress import progress_bar
from rnnlab.train.run_dir import RunDir
from rnnlab.train.state import load_optimizer_state, optimizer_state, rng_state, set_rng_state


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device = {name!r}, but no CUDA device is available")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % (2**32))  # noqa: NPY002 - seed the global RNG user code may use
    torch.manual_seed(seed)


def detach(carry):
    """Cut the graph behind a carried state (``repackage_hidden`` of pytorch/examples)."""
    if carry is None:
        return None
    if torch.is_tensor(carry):
        return carry.detach()
    return type(carry)(detach(c) for c in carry)


def flatten_carry(carry, prefix="carry") -> dict[str, torch.Tensor]:
    if carry is None:
        return {}
    if torch.is_tensor(carry):
        return {prefix: carry}
    out = {}
    for i, c in enumerate(carry):
        out.update(flatten_carry(c, f"{prefix}.{i}"))
    return out


def unflatten_carry(tensors: dict, prefix="carry"):
    if prefix in tensors:
        return tensors[prefix]
    items, i = [], 0
    while any(k.startswith(f"{prefix}.{i}") for k in tensors):
        items.append(unflatten_carry(tensors, f"{prefix}.{i}"))
        i += 1
    return tuple(items) if items else None


class Trainer:
    """Trains one run. Build it with :meth:`start` (a new run) or :meth:`resume`."""

    def __init__(self, cfg: RunConfig, run: RunDir, task: Task | None = None, quiet: bool = False):
        self.cfg, self.run, self.quiet = cfg, run, quiet
        tc = cfg.train
        if tc.threads:
            torch.set_num_threads(tc.threads)
        if tc.deterministic:
            torch.use_deterministic_algorithms(True)
        self.device = pick_device(tc.device)
        self.task = task or task_class(cfg.task)(cfg)
        self.task.to(self.device)
        # Position and counters (all saved in checkpoints).
        self.step = 0
        self.epoch = 0
        self.batch_index = 0
        self.elapsed = 0.0
        self.best = math.inf
        self.best_step = -1
        self.evals_without_improvement = 0
        self.carry = None
        self.window = {"loss": 0.0, "steps": 0, "items": 0, "extra": {}}  # since the last log
        self.stopped = ""
        self._interrupts = StopRequests()
        self._checkpointed_step = -1  # the step of the newest checkpoint written by this process
        self._writer = None
        #: optional ``callable(trainer, metrics)`` run after every validation (once the
        #: checkpoint is written); it may raise to stop training, e.g. optuna's TrialPruned
        self.on_eval = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def start(
        cls, cfg: RunConfig, root=None, quiet: bool = False, task: Task | None = None
    ) -> Trainer:
        """A new run: make its directory, save the resolved config, seed, build everything."""
        run = RunDir.create(cfg.task, cfg.name, root)
        try:
            run.write_text("config.toml", cfg.to_toml())
            trainer = cls(cfg, run, task, quiet)
            seed_everything(cfg.seed)
            trainer.task.prepare()
            run.write_json("task.json", trainer.task.state())
            trainer._build()
        except BaseException:
            # Nothing was trained yet: a directory holding only the config would be taken for a
            # run by `eval`, `report` and name lookups.
            shutil.rmtree(run.path, ignore_errors=True)
            raise
        return trainer

    @classmethod
    def resume(cls, ref, quiet: bool = False) -> Trainer:
        """Continue a run from its last checkpoint (or from the start if it has none)."""
        run = RunDir.find(ref)
        cfg = load_run_config(run.config_path)
        trainer = cls(cfg, run, None, quiet)
        seed_everything(cfg.seed)
        trainer.task.prepare(run.read_json("task.json"))
        trainer._build()
        store = run.checkpoints
        store.prune()
        if store.exists("last"):
            tensors, state = store.load("last")
            try:
                trainer._restore(tensors, state)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise CheckpointError(
                    f"{run}: corrupt checkpoint state ({type(e).__name__}: {e}); "
                    "the run cannot be resumed from it"
                ) from None
        else:
            run.truncate_metrics(0)
        return trainer

    def _build(self) -> None:
        self.model = self.task.build_model().to(self.device)
        self.optimizer = build_optimizer(self.model.parameters(), self.cfg.train)
        self.schedule = Schedule(self.cfg.train, self._total_steps())
        ema = self.cfg.train.ema
        self.average = WeightAverage(self.model, ema) if ema else None

    def _total_steps(self) -> int:
        tc = self.cfg.train
        per_epoch = max(1, len(self.task.train_loader(0)) // tc.grad_accum)
        total = per_epoch * tc.epochs
        return min(total, tc.max_steps) if tc.max_steps else total

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> tuple[dict, dict]:
        weights = self.model.state_dict()
        # model.* are the weights to evaluate (what eval, generate and ensembles load): the average
        # under train.ema; online.* are then the weights training resumes from.
        avg = self.average.state_tensors() if self.average is not None else {}
        tensors = {f"model.{k}": avg.get(k, v) for k, v in weights.items()}
        if self.average is not None:
            tensors.update({f"online.{k}": v for k, v in weights.items()})
        opt_t, opt_j = optimizer_state(self.optimizer)
        rng_t, rng_j = rng_state()
        tensors.update(opt_t)
        tensors.update(rng_t)
        tensors.update(flatten_carry(self.carry))
        state = {
            "step": self.step,
            "epoch": self.epoch,
            "batch_index": self.batch_index,
            "elapsed": self.elapsed,
            "best": self.best if math.isfinite(self.best) else None,
            "best_step": self.best_step,
            "evals_without_improvement": self.evals_without_improvement,
            "window": self.window,
            "metrics_lines": self.run.metrics_lines(),
            "schedule": self.schedule.state_dict(),
            "optimizer": opt_j,
            "rng": rng_j,
            "config": self.cfg.to_dict(),
        }
        if self.average is not None:
            state["ema_updates"] = self.average.updates
        return tensors, state

    def save_checkpoint(self, best: bool = False) -> None:
        tensors, state = self._state()
        self.run.checkpoints.save(tensors, state, names=("last", "best") if best else ("last",))
        self._last_checkpoint = time.monotonic()
        self._checkpointed_step = self.step

    def _restore(self, tensors: dict, state: dict) -> None:
        if self.average is not None:
            model_state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
            self.average.load_state_tensors(model_state, state["ema_updates"])
        online = "online." if self.average is not None else "model."
        load_model_state(self.model, tensors, online, self.run)
        load_optimizer_state(self.optimizer, tensors, state["optimizer"])
        self.schedule.load_state_dict(state["schedule"])
        set_rng_state(tensors, state["rng"])
        carry = unflatten_carry(tensors)
        self.carry = None if carry is None else _to(carry, self.device)
        self.step, self.epoch = state["step"], state["epoch"]
        self.batch_index, self.elapsed = state["batch_index"], state["elapsed"]
        self.best = math.inf if state["best"] is None else state["best"]
        self.best_step = state["best_step"]
        self.evals_without_improvement = state["evals_without_improvement"]
        # Checkpoints written before the window kept extra metrics have no "extra".
        self.window = {"extra": {}, **state["window"]}
        self.run.truncate_metrics(state["metrics_lines"])

    # ------------------------------------------------------------------ logging
    def log(self, record: dict) -> None:
        record = {"step": self.step, "epoch": self.epoch, "time": round(self.elapsed, 3), **record}
        self.run.log(record)
        writer = self._tensorboard()
        if writer is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k not in ("step", "epoch", "time"):
                    writer.add_scalar(f"{record.get('split', 'train')}/{k}", v, self.step)

    def _tensorboard(self):
        if self._writer is None:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                self._writer = False
            else:
                self._writer = SummaryWriter(str(self.run.path / "tensorboard"))
        return self._writer or None

    def say(self, text: str) -> None:
        if not self.quiet:
            from rich.console import Console

            Console(stderr=True, soft_wrap=True).print(text, highlight=False)

    # ------------------------------------------------------------------ one step
    def train_step(self, batches: list) -> dict:
        """One optimizer step over ``batches`` (``grad_accum`` of them). Returns the mean loss
        tensor, the item count and the pre-clip gradient norm (tensors: no device sync here)."""
        tc, model = self.cfg.train, self.model
        model.train()
        self.optimizer.zero_grad(set_to_none=True)
        noise = self._add_weight_noise() if tc.weight_noise else None
        total, items, extras = 0.0, 0, {}
        amp = tc.amp and self.device.type == "cuda"
        for batch in batches:
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
                out = self.task.loss(model, batch, self.carry if self.task.carries_state else None)
            (out.loss / len(batches)).backward()
            self.carry = detach(out.carry)
            total = total + out.loss.detach()
            items += out.n_items
            for k, v in (out.extra or {}).items():
                extras[k] = extras.get(k, 0.0) + v
        if noise is not None:
            self._remove_weight_noise(noise)
        grad_norm = None
        params = [p for p in model.parameters() if p.grad is not None]
        if tc.clip_norm:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, tc.clip_norm)
        if tc.clip_value:
            torch.nn.utils.clip_grad_value_(params, tc.clip_value)
        set_lr(self.optimizer, self.schedule.lr_at(self.step))
        self.optimizer.step()
        if self.average is not None:
            self.average.update()
        n = len(batches)
        return {
            "loss": total / n,
            "items": items,
            "grad_norm": grad_norm,
            "extra": {k: v / n for k, v in extras.items()},
        }

    def step_once(self, group: list) -> dict:
        """:meth:`train_step` plus the loop's bookkeeping: the step counter, the NaN check and
        the logging window. This is what ``fit`` runs per step (and what ``rnnlab bench
        --train-step`` times)."""
        out = self.train_step(group)
        self.step += 1
        loss = float(out["loss"])
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"the training loss is {loss} at step {self.step} (epoch {self.epoch + 1}, "
                f"batch {self.batch_index + len(group)}); training stopped and no checkpoint was "
                "written after it. " + self._advice()
            )
        self.window["loss"] += loss
        self.window["items"] += sum(self.task.count_items(b) for b in group)
        self.window["steps"] += 1
        # Extra training metrics (accuracy...) are averaged over the logging window like the
        # loss, not taken from the window's last batch.
        extra = self.window["extra"]
        for k, v in out["extra"].items():
            extra[k] = extra.get(k, 0.0) + float(v)
        return out

    def _add_weight_noise(self):
        std = self.cfg.train.weight_noise
        noise = []
        with torch.no_grad():
            for p in self.model.parameters():
                if p.dim() >= 2:  # weight matrices only, as Graves (2011)
                    e = torch.randn_like(p) * std
                    p.add_(e)
                    noise.append((p, e))
        return noise

    @staticmethod
    def _remove_weight_noise(noise):
        with torch.no_grad():
            for p, e in noise:
                p.sub_(e)

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, split: str) -> dict:
        """Metrics of ``split`` with the evaluation weights (the average when ``train.ema``)."""
        self.model.eval()
        averaged = self.average.swapped() if self.average is not None else nullcontext()
        with torch.no_grad(), averaged:
            metrics = self.task.evaluate(self.model, split)
        self.model.train()
        if not math.isfinite(metrics["loss"]):
            raise TrainingDiverged(
                f"the {split} loss is {metrics['loss']} at step {self.step}; " + self._advice()
            )
        return metrics

    def _eval_and_checkpoint(self) -> bool:
        """Evaluate on valid, update best / schedule / early stopping, checkpoint.
        Returns True when early stopping says stop."""
        metrics = self.evaluate("valid")
        self.log({"split": "valid", **metrics, "lr": self.optimizer.param_groups[0]["lr"]})
        improved = metrics["loss"] < self.best
        if improved:
            self.best, self.best_step, self.evals_without_improvement = (
                metrics["loss"],
                self.step,
                0,
            )
        else:
            self.evals_without_improvement += 1
        self.schedule.eval(metrics["loss"])
        self.say(
            f"step {self.step} epoch {self.epoch + 1}: valid {self.task.headline(metrics)}"
            + (" (best)" if improved else "")
        )
        if self.cfg.train.keep_every_eval or improved:
            self.save_checkpoint(best=improved)
        if self.on_eval is not None:
            self.on_eval(self, metrics)
        patience = self.cfg.train.early_stopping
        return bool(patience and self.evals_without_improvement >= patience)

    def _advice(self) -> str:
        store = self.run.checkpoints
        last = ""
        if store.exists("last"):
            import json

            step = json.loads(store.pointer("last").read_text())["step"]
            last = f"the last good checkpoint is step {step} in {store.root}; "
        return last + "try a lower train.lr or set train.clip_norm"

    # ------------------------------------------------------------------ the loop
    def fit(self) -> dict:
        """Train to the end (epochs, max_steps or early stopping); returns the final metrics."""
        # Process-wide flag: on for training only (rnnlab gradflow measures subnormal norms).
        flush = self.cfg.train.flush_denormal and torch.set_flush_denormal(True)
        try:
            with StopRequests() as self._interrupts:
                return self._fit()
        finally:
            if flush:
                torch.set_flush_denormal(False)

    def _fit(self) -> dict:
        tc = self.cfg.train
        self._last_checkpoint = time.monotonic()
        if (
            self.step == 0
            and self.epoch == 0
            and self.batch_index == 0
            and not self.run.metrics_lines()
        ):
            metrics = self.evaluate("valid")
            self.log({"split": "valid", **metrics, "lr": tc.lr})
            self.say(f"before training: valid {self.task.headline(metrics)}")
            self.save_checkpoint()  # the initial weights: a last good checkpoint always exists
        done = bool(tc.max_steps and self.step >= tc.max_steps) or bool(
            tc.max_minutes and self.elapsed >= 60 * tc.max_minutes
        )
        while self.epoch < tc.epochs and not done:
            done = self._run_epoch()
        self.stopped = self.stopped or "end"
        return self.finish()

    def _run_epoch(self) -> bool:
        tc = self.cfg.train
        loader = self.task.train_loader(self.epoch)
        n = len(loader)
        if n == 0:
            raise UserError(
                "the training split gives no batches: is it empty, or is "
                "train.batch_size larger than the data?"
            )
        if self.batch_index == 0:
            self.carry = None
        window_start = t_mark = time.monotonic()
        win = self.window
        with progress_bar(f"epoch {self.epoch + 1}/{tc.epochs}", n) as bar:
            i = self.batch_index
            while i < n:
                group = [loader[j] for j in range(i, min(i + tc.grad_accum, n))]
                out = self.step_once(group)
                fault_point("train-step")  # tests: a signal right after a step
                i += len(group)
                self.batch_index = i
                now = time.monotonic()
                self.elapsed += now - t_mark
                t_mark = now
                if self.step % tc.log_every == 0 or i == n:
                    mean = win["loss"] / win["steps"]
                    rate = win["items"] / max(1e-9, time.monotonic() - window_start)
                    record = {
                        "split": "train",
                        "loss": mean,
                        **self.task.loss_metrics(mean),
                        "lr": self.optimizer.param_groups[0]["lr"],
                        "items_per_s": round(rate, 1),
                    }
                    if out["grad_norm"] is not None:
                        record["grad_norm"] = float(out["grad_norm"])
                    record.update({k: v / win["steps"] for k, v in win["extra"].items()})
                    self.log(record)
                    bar.update(info=f"{self.task.headline(record)} | {rate:,.0f} items/s")
                    win.update(loss=0.0, steps=0, items=0, extra={})
                    window_start = time.monotonic()
                bar.update(completed=i)
                if tc.eval_every and self.step % tc.eval_every == 0:
                    if self._eval_and_checkpoint():
                        self.stopped = f"early stopping at step {self.step}"
                        return True
                    t_mark = time.monotonic()
                elif (
                    tc.checkpoint_minutes
                    and now - self._last_checkpoint > 60 * tc.checkpoint_minutes
                ):
                    self.save_checkpoint()
                if tc.max_steps and self.step >= tc.max_steps:
                    self.stopped = f"max_steps={tc.max_steps}"
                    return self._stop_now()
                if tc.max_minutes and self.elapsed >= 60 * tc.max_minutes:
                    self.stopped = f"max_minutes={tc.max_minutes:g}"
                    return self._stop_now()
                if self._interrupts.pending:
                    self._stop_for_signal()
        # End of the epoch: evaluate (unless done every N steps), decay, checkpoint.
        stop = False
        if not tc.eval_every:
            stop = self._eval_and_checkpoint()
        self.schedule.epoch_end(self.epoch)
        self.epoch += 1
        self.batch_index = 0
        self.carry = None
        self.save_checkpoint()
        if stop:
            self.stopped = f"early stopping after epoch {self.epoch}"
        return stop

    def _stop_for_signal(self) -> None:
        """Ctrl-C or SIGTERM arrived during the step just finished: checkpoint it, then stop as
        an interrupted run (no final.json), which ``--resume`` continues exactly."""
        if self._checkpointed_step != self.step:
            self.save_checkpoint()
        self.say(
            f"{self._interrupts.pending} at step {self.step}: checkpoint saved; "
            f"`rnnlab train --resume {self.run.path}` continues from here"
        )
        raise KeyboardInterrupt

    def _stop_now(self) -> bool:
        """Stop mid-epoch (a step or time budget): a last evaluation (unless this step just had
        one) and a checkpoint of this step, from which a raised budget trains on
        (:mod:`rnnlab.train.budget`)."""
        every = self.cfg.train.eval_every
        if not (every and self.step % every == 0):
            self._eval_and_checkpoint()
        if self._checkpointed_step != self.step:  # not already written by that evaluation
            self.save_checkpoint()
        return True

    def finish(self) -> dict:
        """Evaluate the best checkpoint on the test split (when the task has one) and write
        ``final.json``. Returns the final metrics."""
        final: dict[str, Any] = {
            "stopped": self.stopped,
            "steps": self.step,
            "epochs": self.epoch,
            "train_seconds": round(self.elapsed, 1),
        }
        store = self.run.checkpoints
        if store.exists("best"):
            tensors, state = store.load("best")
            load_model_state(self.model, tensors, "model.", self.run)
            final["best_step"] = state["step"]
            self.average = None  # model.* of a checkpoint are already the averaged weights
        for split in self.task.splits:
            metrics = self.evaluate(split)
            final[split] = metrics
            if split != "valid":
                self.log({"split": split, **metrics, "best_step": final.get("best_step")})
            self.say(
                f"{split} ({'best' if 'best_step' in final else 'last'} model): "
                f"{self.task.headline(metrics)}"
            )
        self.run.write_json("final.json", final)
        if self._writer:
            self._writer.close()
        return final


def _to(carry, device):
    if torch.is_tensor(carry):
        return carry.to(device)
    return type(carry)(_to(c, device) for c in carry)


class StopRequests:
    """While training, SIGINT (Ctrl-C) and SIGTERM (a scheduler's preemption) ask the loop to stop
    after the current step, with a checkpoint of it, instead of killing it mid-step and losing
    everything since the last checkpoint. A second signal stops at once, unless it comes within
    half a second of the first: that is the same Ctrl-C relayed (``rnnlab search`` passes it on to
    its worker processes, which the terminal has already signalled). Only the main thread can own
    signal handlers; elsewhere the signals keep their usual effect."""

    RELAY_S = 0.5

    def __init__(self):
        self.pending: str | None = None  # the signal's name, once one has arrived
        self._since = 0.0
        self._previous: dict = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._request)
        return self

    def _request(self, signum, frame) -> None:
        if self.pending is None:
            self.pending, self._since = signal.Signals(signum).name, time.monotonic()
        elif time.monotonic() - self._since > self.RELAY_S:
            raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
