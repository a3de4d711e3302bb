"""Fault injection for the crash tests: ``RNNLAB_FAULT=NAME:N`` kills the process (SIGKILL, no
cleanup) the Nth time the code passes the fault point NAME; ``NAME:N:SIG`` sends the signal SIG
instead (e.g. ``train-step:5:INT``: a Ctrl-C right after the 5th training step). Unset, a fault
point costs one dictionary lookup."""

from __future__ import annotations

import os
import signal

_counts: dict[str, int] = {}


def fault_point(name: str) -> None:
    spec = os.environ.get("RNNLAB_FAULT")
    if not spec:
        return
    target, _, rest = spec.partition(":")
    if target != name:
        return
    nth, _, sig = rest.partition(":")
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(nth or 1):
        os.kill(os.getpid(), getattr(signal, f"SIG{sig or 'KILL'}"))
