"""What a task gives the trainer, and the run config that names it.

A task owns its data, its model and its loss; the trainer (:mod:`rnnlab.train.trainer`) owns the
loop, the optimizer, checkpoints and logging, and knows no task by name. Tasks are registered by
name in :data:`rnnlab.tasks.TASKS`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch

from rnnlab.config import apply_overrides, as_dict, dumps_toml, from_dict, read_toml
from rnnlab.errors import ConfigError
from rnnlab.train.config import TrainConfig


@dataclass
class StepOutput:
    """What :meth:`Task.loss` returns for one batch.

    Attributes:
        loss: scalar tensor, the mean loss over the batch's items (what ``backward`` is called on).
        n_items: how many items that mean is over (tokens, frames, sentences).
        carry: state to carry into the next batch (truncated BPTT), or None.
        extra: other per-batch numbers to log (floats or 0-d tensors), e.g. accuracy.
    """

    loss: torch.Tensor
    n_items: int
    carry: Any = None
    extra: dict | None = None


class Task:
    """Base class of tasks. Subclasses set the class attributes and implement the methods."""

    name: ClassVar[str] = ""
    DataConfig: ClassVar[type]
    ModelConfig: ClassVar[type]
    #: carry the recurrent state from one training batch to the next (truncated BPTT)
    carries_state: ClassVar[bool] = False
    #: the splits :meth:`evaluate` accepts; "valid" is used for model selection
    splits: ClassVar[tuple[str, ...]] = ("valid", "test")

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg
        self.device = torch.device("cpu")

    # ------------------------------------------------------------------ lifecycle
    def prepare(self, state: dict | None = None) -> None:
        """Load the data and build what the model needs (vocabularies...). ``state`` is what
        :meth:`state` returned in an earlier process (a resumed or evaluated run): use it instead
        of rebuilding, so ids mean the same."""

    def state(self) -> dict:
        """JSON-able task state saved with the run (e.g. the vocabulary)."""
        return {}

    def build_model(self) -> torch.nn.Module:  # pragma: no cover - abstract
        raise NotImplementedError

    def to(self, device: torch.device) -> Task:
        self.device = device
        return self

    # ------------------------------------------------------------------ training
    def train_loader(self, epoch: int) -> Sequence:  # pragma: no cover - abstract
        """The batches of one epoch, indexable (so a resumed run restarts at batch i exactly).
        The order may depend on ``epoch`` and the config seed, on nothing else."""
        raise NotImplementedError

    def loss(self, model, batch, carry=None) -> StepOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def count_items(self, batch) -> int:
        """Items in a batch, for throughput (tokens/s, frames/s)."""
        return 1

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(self, model, split: str) -> dict[str, float]:  # pragma: no cover - abstract
        """Metrics over a whole split; must include ``loss`` (lower is better)."""
        raise NotImplementedError

    def loss_metrics(self, loss: float) -> dict[str, float]:
        """Metrics derived from a mean loss (perplexity, bits per character...)."""
        return {}

    def headline(self, metrics: dict) -> str:
        """A short text of the metrics that matter, for progress bars and summaries."""
        return f"loss {metrics['loss']:.4f}"

    def expected_initial_loss(self) -> tuple[float, str] | None:
        """The loss a correctly initialised model should start near, and why (for
        ``rnnlab check initial-loss``); None if the task cannot say."""
        return None

    # ------------------------------------------------------------------ reports
    def report_sections(self, model, run) -> list[tuple[str, str]]:
        """Extra ``(title, html)`` sections for the run's report (samples, tables, figures)."""
        return []


def ln2_bits(loss: float) -> float:
    return loss / math.log(2)


@dataclass
class RunConfig:
    """A whole config: the task, a run name, a seed and the three sections."""

    task: str
    name: str
    seed: int
    data: Any
    model: Any
    train: TrainConfig

    def to_dict(self) -> dict:
        return {
            "task": self.task,
            "name": self.name,
            "seed": self.seed,
            "data": as_dict(self.data),
            "model": as_dict(self.model),
            "train": as_dict(self.train),
        }

    def to_toml(self) -> str:
        return dumps_toml(self.to_dict())

    def replace_train(self, **changes) -> RunConfig:
        return dataclasses.replace(self, train=dataclasses.replace(self.train, **changes))


_TOP = ("task", "name", "seed", "data", "model", "train")


def build_run_config(raw: dict, task: str | None = None) -> RunConfig:
    """A :class:`RunConfig` from a parsed TOML dict (after overrides)."""
    from rnnlab.tasks import task_class

    unknown = sorted(set(raw) - set(_TOP))
    if unknown:
        raise ConfigError(f"unknown top-level keys {unknown}; valid: {', '.join(_TOP)}")
    name = raw.get("task", task)
    if task is not None:
        task_class(task)  # an unknown task is named as such, before any mismatch
    if task is not None and name != task:
        raise ConfigError(f"this config is for task {name!r}, not {task!r}")
    if name is None:
        raise ConfigError('the config names no task (add task = "lm", for example)')
    cls = task_class(name)
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"seed = {seed!r}: expected an integer")
    run_name = raw.get("name", name)
    if not isinstance(run_name, str) or not run_name or "/" in run_name:
        raise ConfigError(f"name = {run_name!r}: expected a non-empty string without '/'")
    return RunConfig(
        task=name,
        name=run_name,
        seed=seed,
        data=from_dict(cls.DataConfig, raw.get("data", {}), "data"),
        model=from_dict(cls.ModelConfig, raw.get("model", {}), "model"),
        train=from_dict(TrainConfig, raw.get("train", {}), "train"),
    )


def load_run_config(
    path: str | Path | None, overrides: list[str] = (), task: str | None = None
) -> RunConfig:
    """Read a TOML config, apply ``--set`` overrides and check everything."""
    raw = read_toml(path) if path is not None else {}
    return build_run_config(apply_overrides(raw, list(overrides)), task)
