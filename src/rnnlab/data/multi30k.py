"""Multi30k task 1: German-English image-description sentence pairs (Elliott et al. 2016).

Splits: ``train`` (29,000 pairs), ``val`` (1,014; alias ``valid``), ``test`` (1,000, the 2016
Flickr test set). Sentences come back raw (cased, with punctuation); :func:`tokenize` is a simple
documented tokenizer, :func:`detokenize` its approximate inverse.
"""

from __future__ import annotations

import re

from rnnlab.data.cache import require_file
from rnnlab.data.errors import DataError
from rnnlab.data.files import read_text, split_lines

LANGUAGES = ("de", "en")
#: split -> file prefix ("valid" is an alias of "val")
M30K_SPLITS = {"train": "train", "val": "val", "valid": "val", "test": "test_2016_flickr"}

# a word: letters/digits, with inner hyphens or apostrophes kept ("t-shirt", "man's");
# anything else that is not a space is a token of its own (punctuation)
_TOKEN = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]")
# no space before closing punctuation, none after opening brackets
_NO_SPACE_BEFORE = re.compile(r" ([.,!?;:%)\]}])")
_NO_SPACE_AFTER = re.compile(r"([(\[{]) ")


def load_multi30k(split: str, src: str = "de", tgt: str = "en") -> list[tuple[str, str]]:
    """The sentence pairs of one split.

    Args:
        split: ``"train"``, ``"val"`` (alias ``"valid"``) or ``"test"`` (test_2016_flickr).
        src: source language, ``"de"`` or ``"en"``.
        tgt: target language, the other one.

    Returns:
        ``(source sentence, target sentence)`` per pair, raw text without the line break.

    Raises:
        DataError: bad split or languages, missing or corrupt files, or files whose line counts
            differ.
    """
    if split not in M30K_SPLITS:
        raise DataError(f"Multi30k has no split {split!r}; its splits: train, val (valid), test")
    if src not in LANGUAGES or tgt not in LANGUAGES or src == tgt:
        raise DataError(f"src and tgt must be 'de' and 'en' in either order, not {src!r}, {tgt!r}")
    prefix = M30K_SPLITS[split]
    paths = [require_file("multi30k", f"{prefix}.{lang}.gz") for lang in (src, tgt)]
    sources, targets = (split_lines(read_text(p)) for p in paths)
    if len(sources) != len(targets):
        raise DataError(
            f"{paths[0]} has {len(sources)} lines but {paths[1]} has {len(targets)}: the files "
            f"do not align; fetch them again with `rnnlab data fetch multi30k --force`"
        )
    return list(zip(sources, targets))


def tokenize(sentence: str) -> list[str]:
    """Lower-case, then split into words and punctuation marks.

    Words keep inner hyphens and apostrophes; every other non-space, non-word character is a
    token of its own. Example: ``"A man's T-shirt, (red)."`` gives
    ``["a", "man's", "t-shirt", ",", "(", "red", ")", "."]``.
    """
    return _TOKEN.findall(sentence.lower())


def detokenize(tokens: list[str]) -> str:
    """Join tokens with spaces, then remove the space before closing punctuation and after an
    opening bracket. Case is not restored: ``detokenize(tokenize(s)) == s.lower()`` for plainly
    punctuated text."""
    text = " ".join(tokens)
    text = _NO_SPACE_BEFORE.sub(r"\1", text)
    return _NO_SPACE_AFTER.sub(r"\1", text)
