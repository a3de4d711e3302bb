"""Errors that mean "the user asked for something wrong": the CLI prints them without a traceback
and exits with status 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in a command, config, file or argument; the message says what to do."""


class ConfigError(UserError):
    """An unknown key, a value of the wrong type, or an impossible combination in a config."""
