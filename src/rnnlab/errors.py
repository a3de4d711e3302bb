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


def check_dataset_fields(section, dataset_for: dict[str, str]) -> None:
    """Refuse a data setting the chosen dataset never reads (``data.path`` with a built-in
    dataset would otherwise train silently on the built-in data). ``dataset_for`` maps each such
    field to the one ``data.dataset`` that reads it."""
    for field, reader in dataset_for.items():
        if getattr(section, field) and section.dataset != reader:
            raise ConfigError(
                f"data.{field} is read only with data.dataset = {reader!r}, but the dataset is "
                f"{section.dataset!r}: drop data.{field}, or set data.dataset = {reader!r} to "
                "train on your own files"
            )
