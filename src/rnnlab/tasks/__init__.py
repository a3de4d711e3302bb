"""Tasks: one module per task, each giving the trainer data, a model, a loss and metrics.

``TASKS`` maps a task name (the ``task`` key of a config, ``rnnlab train NAME``) to its class,
imported on first use.
"""

from __future__ import annotations

import importlib

from rnnlab.errors import ConfigError

TASKS = {
    "lm": "rnnlab.tasks.lm:LanguageModelTask",
}


def task_class(name: str):
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}")
    module, cls = TASKS[name].split(":")
    return getattr(importlib.import_module(module), cls)
