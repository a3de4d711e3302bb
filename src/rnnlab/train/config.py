"""The ``[train]`` section of every config: how to optimise, evaluate, checkpoint and log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from rnnlab.errors import ConfigError


@dataclass
class TrainConfig:
    """Training settings shared by every task.

    Attributes:
        epochs: passes over the training data.
        max_steps: stop after this many optimizer steps (0: no limit).
        max_minutes: stop after this much training time (0: no limit); for demos and budgets.
        batch_size: sequences per batch (the task decides what a sequence is).
        eval_batch_size: batch size for evaluation (0: same as batch_size).
        optimizer: sgd, rmsprop, adam or adamw.
        lr: learning rate.
        momentum: SGD/RMSProp momentum.
        nesterov: Nesterov momentum for SGD.
        betas: Adam betas.
        rho: RMSProp smoothing constant (torch's ``alpha``).
        eps: Adam/RMSProp epsilon.
        weight_decay: L2 penalty (decoupled for adamw).
        clip_norm: clip the global gradient norm to this (0: off). The pre-clip norm is logged.
        clip_value: clip every gradient entry to [-v, v] (0: off).
        schedule: constant; step (multiply by decay_factor every decay_every epochs from
            decay_start); plateau (multiply by plateau_factor when the validation loss fails to
            improve); cosine (to min_lr over the run, after warmup_steps of linear warm-up).
        weight_noise: std of Gaussian noise added to every weight for each gradient evaluation
            (Graves 2011; Chung et al. 2014 use 0.075). 0: off.
        ema: decay of an exponential moving average of the weights (e.g. 0.999), which is what
            is evaluated, selected as "best" and saved for evaluation (Polyak averaging;
            :mod:`rnnlab.train.averaging`). 0: off, the trained weights themselves.
        eval_every: evaluate every N steps (0: at the end of every epoch).
        log_every: log training metrics every N steps.
        checkpoint_minutes: also checkpoint after this many minutes since the last one (0: off).
        keep_every_eval: checkpoint at every evaluation (the last and the best are kept).
        early_stopping: stop after this many evaluations without improvement (0: off).
        grad_accum: accumulate gradients over N batches per optimizer step.
        amp: mixed precision (bfloat16 autocast) on CUDA; ignored on the CPU.
        device: auto (cuda when available), cpu or cuda.
        threads: torch CPU threads (0: torch's default).
        deterministic: ask torch for deterministic algorithms.
        flush_denormal: while training, flush subnormal floats to zero on the CPU
            (``torch.set_flush_denormal``). A vanishing gradient otherwise sinks into the subnormal
            range, where x86 CPUs compute many times slower: an LSTM on the adding problem at
            T = 400 ran 7x slower per step on an Intel Xeon. Changes only values below 1.2e-38.
    """

    epochs: int = 10
    max_steps: int = 0
    max_minutes: float = 0.0
    batch_size: int = 32
    eval_batch_size: int = 0
    optimizer: Literal["sgd", "rmsprop", "adam", "adamw"] = "adam"
    lr: float = 1e-3
    momentum: float = 0.0
    nesterov: bool = False
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    rho: float = 0.9
    eps: float = 1e-8
    weight_decay: float = 0.0
    clip_norm: float = 0.0
    clip_value: float = 0.0
    schedule: Literal["constant", "step", "plateau", "cosine"] = "constant"
    decay_start: int = 0
    decay_every: int = 1
    decay_factor: float = 0.5
    plateau_factor: float = 0.25
    plateau_patience: int = 0
    warmup_steps: int = 0
    min_lr: float = 0.0
    weight_noise: float = 0.0
    ema: float = 0.0
    eval_every: int = 0
    log_every: int = 50
    checkpoint_minutes: float = 10.0
    keep_every_eval: bool = True
    early_stopping: int = 0
    grad_accum: int = 1
    amp: bool = False
    device: str = "auto"
    threads: int = 0
    deterministic: bool = False
    flush_denormal: bool = True

    def validate(self) -> None:
        positive = ("epochs", "batch_size", "log_every", "grad_accum", "decay_every")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"train.{name} must be >= 1, got {getattr(self, name)}")
        for name in (
            "max_steps",
            "max_minutes",
            "eval_batch_size",
            "eval_every",
            "early_stopping",
            "threads",
            "clip_norm",
            "clip_value",
            "weight_decay",
            "weight_noise",
            "momentum",
            "warmup_steps",
            "checkpoint_minutes",
            "min_lr",
            "decay_start",
            "plateau_patience",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"train.{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.ema < 1:
            raise ConfigError(f"train.ema must be in [0, 1) (0: off), got {self.ema}")
        if self.lr <= 0:
            raise ConfigError(f"train.lr must be > 0, got {self.lr}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"train.betas must be two numbers in [0, 1), got {self.betas}")
        if not 0 < self.decay_factor <= 1 or not 0 < self.plateau_factor <= 1:
            raise ConfigError("train.decay_factor and train.plateau_factor must be in (0, 1]")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"train.device must be auto, cpu or cuda, got {self.device!r}")
