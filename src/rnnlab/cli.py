"""The ``rnnlab`` command: one entry point, a subcommand per job, every one with ``--help``.

Subcommands are imported lazily, so ``rnnlab --help`` answers at once. A :class:`UserError` (bad
config, missing data, unknown run...) is printed without a traceback and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter for subcommands with examples: a paragraph written as one line is
    filled to the terminal's width, as argparse's default formatter does; a paragraph whose
    lines are broken by hand (an example block) is kept as written."""

    def _fill_text(self, text, width, indent):
        import textwrap

        out = []
        for para in text.strip("\n").split("\n\n"):
            if "\n" in para:
                out.append("\n".join(indent + line for line in para.splitlines()))
            else:
                out.append(
                    textwrap.fill(
                        " ".join(para.split()),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,
                    )
                )
        return "\n\n".join(out)


#: subcommand modules; each has ``add_parser(subparsers)``
_COMMANDS = [
    "rnnlab.train.cli",  # train, eval, sample, report, demo
    "rnnlab.tasks.translate_cli",  # translate
    "rnnlab.tasks.caption_cli",  # caption
    "rnnlab.experiments.cli",  # experiment NAME
    "rnnlab.diagnostics.gradflow_cli",  # gradflow
    "rnnlab.diagnostics.cli",  # check, lr-find, curves
    "rnnlab.search.cli",  # search
    "rnnlab.bench.cli",  # bench
    "rnnlab.data.cli",  # data
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rnnlab",
        description="Recurrent sequence models: train, evaluate, sample, benchmark and explain.",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # that subcommand is not part of this build
                continue
            raise
        module.add_parser(sub)
    return parser


def _version() -> str:
    from rnnlab import __version__

    return f"rnnlab {__version__}"


def main(argv=None) -> int:
    from rnnlab.errors import UserError

    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `rnnlab translate RUN --beam 2 "a sentence"`: argparse (before Python 3.12) gives an
    # optional positional its empty value at RUN and then rejects the sentence after the options.
    late = getattr(args, "late_positional", None)
    if late and len(extra) == 1 and getattr(args, late) is None and not extra[0].startswith("-"):
        setattr(args, late, extra.pop())
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    user_errors: tuple = (UserError,)
    try:
        from rnnlab.data.errors import DataError

        user_errors += (DataError,)
    except ImportError:
        pass
    try:
        return int(args.func(args) or 0)
    except user_errors as e:
        print_error(str(e))
        return 2
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as e:
        # A path given on the command line (or in a config) that cannot be read or written.
        where = e.filename if e.filename is not None else ""
        print_error(f"{where}: {e.strerror or e}" if where else str(e))
        return 2
    except KeyboardInterrupt:
        print_error("interrupted")
        return 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


def print_error(message: str) -> None:
    from rich.console import Console
    from rich.markup import escape

    # soft_wrap: never break a message (and the file paths in it) at the terminal width
    Console(stderr=True, soft_wrap=True).print(
        f"[bold red]error:[/bold red] {escape(message)}", highlight=False
    )


if __name__ == "__main__":
    sys.exit(main())
