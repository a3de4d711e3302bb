"""Errors of the data layer. Each message says which file, what went wrong and what to do.

:class:`DataError` is a :class:`rnnlab.errors.UserError`, so the CLI prints it without a traceback.
"""

from __future__ import annotations

from rnnlab.errors import UserError


class DataError(UserError):
    """A data file is missing, corrupt, unreadable or malformed, or a download failed."""


class DataMissingError(DataError):
    """A dataset file is not in the cache; the message names the command that fetches it."""
