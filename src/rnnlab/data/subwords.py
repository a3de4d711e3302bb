"""Character n-grams of words (Bojanowski et al. 2017, fastText), learned from scratch.

A word is wrapped in boundary marks, ``<where>``, and cut into its character n-grams for n in
``N_MIN..N_MAX``: ``<wh, whe, her, ere, re>, <whe, ...``. A word's subword vector is the mean of
its n-grams' embeddings, added to its own word embedding, so a word never seen in training
(``unfunny``) still gets a vector from the pieces it shares with words that were (``un``,
``fun``, ``nny>``).

The n-gram vocabulary is built from the training word types only, and keeps the n-grams that
at least ``MIN_TYPES`` of them share (an n-gram of a single word tells nothing that word's own
vector does not, and SST-2's 14.8K training words have 65K distinct n-grams but 21K shared by
three or more: a third of the parameters). Any other n-gram has no embedding and is skipped.
Id 0 is padding (an empty bag: a zero vector).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

N_MIN, N_MAX = 3, 5
MIN_TYPES = 3


def char_ngrams(word: str, n_min: int = N_MIN, n_max: int = N_MAX) -> list[str]:
    """The character n-grams of ``<word>``, shortest first, in order of position.

    Example:
        >>> char_ngrams("fun", 3, 4)
        ['<fu', 'fun', 'un>', '<fun', 'fun>']
    """
    w = f"<{word}>"
    return [w[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(w) - n + 1)]


def ngram_vocabulary(words: Iterable[str], min_types: int = MIN_TYPES) -> dict[str, int]:
    """``{n-gram: id}`` over the n-grams found in at least ``min_types`` of the distinct
    ``words``, ids from 1 in first-seen order."""
    count: dict[str, int] = {}
    for word in dict.fromkeys(words):
        for g in dict.fromkeys(char_ngrams(word)):
            count[g] = count.get(g, 0) + 1
    kept = (g for g, n in count.items() if n >= min_types)
    return {g: i for i, g in enumerate(kept, start=1)}


def ngram_table(
    types: list[str], index: dict[str, int], no_ngrams: Iterable[int] = ()
) -> np.ndarray:
    """``(len(types), G)`` int64: row i holds the ids of ``types[i]``'s known n-grams, padded
    with 0 (G: the longest row). Rows listed in ``no_ngrams`` (padding, ``<unk>``) stay empty."""
    empty = set(no_ngrams)
    rows = [
        [] if i in empty else [index[g] for g in char_ngrams(t) if g in index]
        for i, t in enumerate(types)
    ]
    table = np.zeros((len(types), max(1, max(map(len, rows), default=0))), dtype=np.int64)
    for i, r in enumerate(rows):
        table[i, : len(r)] = r
    return table
