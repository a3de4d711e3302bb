"""``rnnlab data``: list, fetch and verify the benchmark datasets.

Exit status: 0 all good, 1 a file failed (missing, bad checksum, download error), 2 a user error
(an unknown dataset name; the message lists the valid ones).
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from rnnlab.cli import print_error  # one printer: paths and URLs never wrapped
from rnnlab.data.cache import candidates, verify
from rnnlab.data.download import fetch
from rnnlab.data.errors import DataError
from rnnlab.data.registry import DATASETS, data_root, unknown_dataset_message

_EPILOG = (
    "Files live in $RNNLAB_DATA (default ~/.cache/rnnlab), one folder per source (ptb/, "
    "tinyshakespeare/, polyphonic_music/, multi30k/, sst2_glue/). Set RNNLAB_DATA_MIRROR to "
    "replace https://raw.githubusercontent.com in every URL (http://, https:// or file://)."
)


def add_parser(subparsers) -> None:
    """Add ``data`` and its ``list``, ``fetch``, ``verify`` subcommands to ``subparsers``."""
    names = ", ".join(DATASETS)
    p = subparsers.add_parser(
        "data",
        help="list, fetch and verify benchmark datasets",
        description="Benchmark datasets: each file pinned to a URL and checked by sha256.",
        epilog=_EPILOG,
    )
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=lambda args: _help(p))

    q = sub.add_parser(
        "list",
        help="show the registered datasets and whether their files are present",
        description="Show every registered dataset: size, source, and how many of its files are "
        "present in the data folder (presence only; use `rnnlab data verify` for checksums).",
    )
    q.set_defaults(func=cmd_list)

    q = sub.add_parser(
        "fetch",
        help="download datasets into the data folder",
        description="Download the files of each NAME that are missing or fail their sha256 "
        "check, atomically (a failed download leaves no partial file). Valid names: " + names,
        epilog=_EPILOG,
    )
    q.add_argument("names", nargs="+", metavar="NAME", help="dataset name(s)")
    q.add_argument(
        "--force", action="store_true", help="download again even if the files are valid"
    )
    q.set_defaults(func=cmd_fetch)

    q = sub.add_parser(
        "verify",
        help="check files against their sha256",
        description="Check the files of NAME (of every dataset when omitted) against the "
        "registry's sizes and sha256 digests. Exit status 1 if any is missing or bad.",
    )
    q.add_argument("name", nargs="?", metavar="NAME", help="dataset name (default: all)")
    q.set_defaults(func=cmd_verify)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registry as a table. Returns 0."""
    console = Console()
    root = data_root()
    table = Table(title=f"datasets (data folder: {root})")
    for col in ("name", "description", "size", "present", "source"):
        table.add_column(col, overflow="fold")
    for d in DATASETS.values():
        present = sum(any(p.is_file() for p, _ in candidates(s, root)) for s in d.files)
        mark = "green" if present == len(d.files) else ("yellow" if present else "dim")
        table.add_row(
            d.name,
            d.description,
            _mb(d.size),
            f"[{mark}]{present}/{len(d.files)}[/{mark}]",
            d.source,
        )
    console.print(table)
    console.print(
        "Built in, no download: [bold]embedded[/bold] (Python standard-library docstrings) "
        "and [bold]digits[/bold] (scikit-learn's 8x8 digits).",
        highlight=False,
    )
    return 0


def _unknown(names: list[str]) -> int:
    bad = [n for n in names if n not in DATASETS]
    for n in bad:
        print_error(unknown_dataset_message(n))
    return 2 if bad else 0


def cmd_fetch(args: argparse.Namespace) -> int:
    """Fetch each named dataset. Returns 0, 1 if a download failed, 2 for an unknown name."""
    if _unknown(args.names):
        return 2
    console = Console()
    table = Table(title=f"fetch (data folder: {data_root()})")
    for col in ("dataset", "file", "size", "result"):
        table.add_column(col, overflow="fold")
    failed = []
    for name in dict.fromkeys(args.names):  # each name once, in order
        try:
            results = fetch(name, force=args.force)
        except DataError as e:
            failed.append(str(e))
            table.add_row(name, "", "", "[red]failed[/red]")
            continue
        for r in results:
            result = "[green]downloaded[/green]" if r.downloaded else "already present"
            table.add_row(name, r.path.name, _mb(r.path.stat().st_size), result)
    console.print(table)
    for msg in failed:
        print_error(msg)
    return 1 if failed else 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check files against the registry. Returns 0 if all are ok, 1 if not, 2 for an unknown
    name."""
    if args.name is not None and _unknown([args.name]):
        return 2
    console = Console()
    statuses = verify(args.name)
    table = Table(title=f"verify (data folder: {data_root()})")
    for col in ("dataset", "file", "status", "detail"):
        table.add_column(col, overflow="fold")
    style = {"ok": "green", "missing": "yellow", "bad checksum": "red"}
    for s in statuses:
        st = style[s.status]
        table.add_row(s.dataset, s.path.name, f"[{st}]{s.status}[/{st}]", s.detail)
    console.print(table)
    not_ok = [s for s in statuses if not s.ok]
    if not not_ok:
        console.print(f"all {len(statuses)} files ok")
        return 0
    names = " ".join(dict.fromkeys(s.dataset for s in not_ok))
    console.print(
        f"{len(not_ok)} of {len(statuses)} files not ok; to download them: "
        f"[bold]rnnlab data fetch {names}{' --force' if _any_bad(not_ok) else ''}[/bold]",
        highlight=False,
    )
    return 1


def _any_bad(statuses) -> bool:
    return any(s.status == "bad checksum" for s in statuses)
