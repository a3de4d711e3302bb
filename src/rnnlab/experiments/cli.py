"""``rnnlab experiment NAME``: run a reproduction and write its results table."""

from __future__ import annotations

import importlib

from rnnlab.experiments import EXPERIMENTS


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "experiment",
        help="reproduce a published experiment",
        description="Run an experiment and write its results under docs/results/.",
    )
    sub = p.add_subparsers(dest="experiment", metavar="NAME")
    for name, module_name in EXPERIMENTS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name == module_name:
                continue  # not part of this build
            raise
        q = sub.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        module.add_arguments(q)
        q.set_defaults(func=module.run)
    p.set_defaults(func=lambda args: p.print_help() or 2)
