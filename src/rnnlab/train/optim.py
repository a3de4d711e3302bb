"""Optimizers and learning-rate schedules, built from :class:`TrainConfig`.

Schedules are small classes of our own (not torch.optim.lr_scheduler) so their whole state is a
JSON dict that checkpoints store and restore exactly.
"""

from __future__ import annotations

import math

import torch

from rnnlab.train.config import TrainConfig


def build_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer named by ``cfg.optimizer``."""
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params,
            lr=cfg.lr,
            momentum=cfg.momentum,
            nesterov=cfg.nesterov,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(
            params,
            lr=cfg.lr,
            alpha=cfg.rho,
            eps=cfg.eps,
            momentum=cfg.momentum,
            weight_decay=cfg.weight_decay,
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(
            params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay
        )
    return torch.optim.AdamW(
        params, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay
    )


class Schedule:
    """Learning-rate schedule. The trainer calls :meth:`epoch_end` after every epoch and
    :meth:`eval` after every evaluation (they update the state), and sets the learning rate to
    :meth:`lr_at` right before every optimizer step."""

    def __init__(self, cfg: TrainConfig, total_steps: int):
        self.cfg = cfg
        self.total_steps = max(1, total_steps)
        self.lr = cfg.lr  # the decayed base rate (step and plateau schedules)
        self.best = math.inf
        self.bad_evals = 0

    def lr_at(self, step: int) -> float:
        """The learning rate of optimizer step ``step`` (counting from 0)."""
        cfg = self.cfg
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return self.lr * (step + 1) / cfg.warmup_steps
        if cfg.schedule == "cosine":
            span = max(1, self.total_steps - cfg.warmup_steps)
            progress = min(1.0, (step - cfg.warmup_steps) / span)
            return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))
        return self.lr

    def epoch_end(self, epoch: int) -> None:
        """``epoch`` counts from 0. Step decay starts after epoch ``decay_start`` (Zaremba et al.'s
        "halve after epoch 4" is decay_start = 4, decay_factor = 0.5)."""
        cfg = self.cfg
        if cfg.schedule == "step" and epoch + 1 >= cfg.decay_start:
            if (epoch + 1 - cfg.decay_start) % cfg.decay_every == 0:
                self.lr = max(cfg.min_lr, self.lr * cfg.decay_factor)

    def eval(self, val_loss: float) -> None:
        """Decay on plateau: when the validation loss has not improved for more than
        ``plateau_patience`` evaluations, multiply the rate by ``plateau_factor``."""
        cfg = self.cfg
        if val_loss < self.best:
            self.best, self.bad_evals = val_loss, 0
        elif cfg.schedule == "plateau":
            self.bad_evals += 1
            if self.bad_evals > cfg.plateau_patience:
                self.lr = max(cfg.min_lr, self.lr * cfg.plateau_factor)
                self.bad_evals = 0

    def state_dict(self) -> dict:
        return {
            "lr": self.lr,
            "best": self.best if math.isfinite(self.best) else None,
            "bad_evals": self.bad_evals,
        }

    def load_state_dict(self, state: dict) -> None:
        self.lr = state["lr"]
        self.best = math.inf if state["best"] is None else state["best"]
        self.bad_evals = state["bad_evals"]


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
