"""SST-2 (GLUE): binary sentiment of movie-review sentences and phrases.

Rows of ``train.tsv`` / ``dev.tsv``: ``sentence<TAB>label`` after a ``sentence\\tlabel`` header,
label 0 = negative, 1 = positive. The text is already lower-cased and tokenized (PTB style), so
tokens are the sentence split on spaces; the trailing space of each sentence is stripped. The GLUE
test split is unlabelled and not loaded: report accuracy on dev.
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.data.cache import require_file
from rnnlab.data.errors import DataError
from rnnlab.data.files import read_text, split_lines

#: split -> file ("valid" is an alias of "dev", so tasks can ask every dataset for "valid")
SST2_FILES = {"train": "train.tsv", "dev": "dev.tsv", "valid": "dev.tsv"}
HEADER = "sentence\tlabel"


def load_sst2(split: str) -> list[tuple[list[str], int]]:
    """The labelled examples of one split.

    Args:
        split: ``"train"`` (67,349 rows) or ``"dev"`` (872 rows; ``"valid"`` is an alias).

    Returns:
        ``(tokens, label)`` per row, label 0 (negative) or 1 (positive).

    Raises:
        DataError: bad split, missing or corrupt file, or a malformed row (file and line given).
    """
    if split not in SST2_FILES:
        raise DataError(f"SST-2 has no split {split!r}; its splits: train, dev (alias valid)")
    return parse_sst2(require_file("sst2", SST2_FILES[split]))


def parse_sst2(path: str | Path) -> list[tuple[list[str], int]]:
    """Parse a GLUE SST-2 ``sentence\\tlabel`` TSV file (see :func:`load_sst2`)."""
    lines = split_lines(read_text(path))
    if not lines or lines[0] != HEADER:
        first = lines[0][:60] if lines else ""
        raise DataError(f"{path} line 1: expected the header {HEADER!r}, found {first!r}")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 2:
            raise DataError(
                f"{path} line {lineno}: expected 2 tab-separated fields (sentence, label), "
                f"found {len(fields)}: {line[:60]!r}"
            )
        sentence, label = fields
        if label not in ("0", "1"):
            raise DataError(f"{path} line {lineno}: label must be 0 or 1, not {label!r}")
        tokens = sentence.split()
        if not tokens:
            raise DataError(f"{path} line {lineno}: empty sentence")
        rows.append((tokens, int(label)))
    return rows
