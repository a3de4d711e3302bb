"""Progress bars (rich) for long loops, off when output is not a terminal or RNNLAB_NO_PROGRESS=1."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


def progress_enabled() -> bool:
    return os.environ.get("RNNLAB_NO_PROGRESS") != "1" and sys.stderr.isatty()


class _NullBar:
    def update(self, **_):
        pass

    def advance(self, *_, **__):
        pass


@contextmanager
def progress_bar(description: str, total: int | None, fields: str = ""):
    """A bar with a free-text field (loss, perplexity, tokens/s) updated by the caller:
    ``bar.update(completed=i, info="loss 1.23")``."""
    if not progress_enabled():
        yield _NullBar()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
    ]
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(description, total=total, info=fields)

        class _Bar:
            def update(self, **kw):
                progress.update(task, **kw)

            def advance(self, n=1):
                progress.advance(task, n)

        yield _Bar()
