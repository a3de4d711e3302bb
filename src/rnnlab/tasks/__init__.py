"""Tasks: one module per task, each giving the trainer data, a model, a loss and metrics.

``TASKS`` maps a task name (the ``task`` key of a config, ``rnnlab train NAME``) to its class,
imported on first use.
"""

from __future__ import annotations

import importlib

from rnnlab.errors import ConfigError

TASKS = {
    "lm": "rnnlab.tasks.lm:LanguageModelTask",
    "music": "rnnlab.tasks.music:MusicTask",
    "classify": "rnnlab.tasks.classify:ClassifyTask",
    "digits": "rnnlab.tasks.digits:DigitsTask",
    "tagging": "rnnlab.tasks.tagging:TaggingTask",
    "adding": "rnnlab.tasks.adding:AddingTask",
    "copy": "rnnlab.tasks.copy:CopyTask",
    "translate": "rnnlab.tasks.translate:TranslateTask",
    "caption": "rnnlab.tasks.caption:CaptionTask",
}


def task_class(name: str):
    if name not in TASKS:
        raise ConfigError(f"unknown task {name!r}; valid tasks: {', '.join(sorted(TASKS))}")
    module, cls = TASKS[name].split(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except ModuleNotFoundError as e:
        if e.name == module:
            raise ConfigError(f"task {name!r} is not available in this build") from None
        raise
