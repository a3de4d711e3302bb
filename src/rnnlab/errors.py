"""Errors that mean "the user asked for something wrong": the CLI prints them without a traceback
and exits with status 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in a command, config, file or argument; the message says what to do."""


class ConfigError(UserError):
    """An unknown key, a value of the wrong type, or an impossible combination in a config."""


def output_file(path, option: str, make_folders: bool = False):
    """``path`` (a file the command will write) as a Path, checked before any work is done: a
    folder, or (unless ``make_folders``: then it is created) a file in a folder that does not
    exist, is a :class:`UserError` naming ``option``."""
    from pathlib import Path

    p = Path(path)
    if p.is_dir():
        raise UserError(f"{option} {path} is a folder: give the name of a file to write")
    if make_folders:
        p.parent.mkdir(parents=True, exist_ok=True)
    elif not p.parent.is_dir():
        raise UserError(f"{option} {path}: the folder {p.parent} does not exist")
    return p
