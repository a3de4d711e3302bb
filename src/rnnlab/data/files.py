"""Reading data files: gzip-transparent, strict UTF-8, errors that name the file."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

from rnnlab.data.errors import DataError


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, decompressed when its name ends in ``.gz``.

    Raises:
        DataError: missing or unreadable file, or broken gzip data.
    """
    path = Path(path)
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"file not found: {path}") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        raise DataError(f"{path} is not valid gzip data ({e}); fetch it again") from None
    except OSError as e:
        raise DataError(f"cannot read {path}: {e.strerror or e}") from None


def read_text(path: str | Path) -> str:
    """The file's text, decoded as strict UTF-8 (``.gz`` decompressed first).

    Raises:
        DataError: as :func:`read_bytes`, or the bytes are not UTF-8 (the message gives the
            offset and the offending bytes).
    """
    data = read_bytes(path)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        bad = data[e.start : e.end].hex(" ")
        line = data.count(b"\n", 0, e.start) + 1
        raise DataError(
            f"{path} is not UTF-8 text: byte(s) {bad} at offset {e.start} (line {line}). "
            f"Convert it to UTF-8 (e.g. `iconv -f latin1 -t utf-8`)."
        ) from None


def split_lines(text: str) -> list[str]:
    """Lines of ``text`` split on ``\\n`` only (not on the other separators ``str.splitlines``
    knows), without a last empty piece after a final newline."""
    lines = text.split("\n")
    if lines and not lines[-1].strip():
        lines.pop()
    return lines
