"""Polyphonic music: 88-key binary piano rolls (Boulanger-Lewandowski et al. 2012).

Dimension letters: T time steps, B batch, K = 88 piano keys (column k is MIDI note k + 21, so
column 0 is A0 and column 87 is C8).

Needs scipy (``pip install 'rnnlab[music]'``): the files are MATLAB 5 ``.mat`` files with cell
arrays ``traindata`` / ``validdata`` / ``testdata`` of ``(T_i, 88)`` uint8 rolls.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rnnlab.data.cache import require_file
from rnnlab.data.errors import DataError

K = 88  # piano keys

#: dataset -> file
MUSIC_FILES = {
    "jsb-chorales": "JSB_Chorales.mat",
    "nottingham": "Nottingham.mat",
    "musedata": "MuseData.mat",
    "piano-midi": "Piano_midi.mat",
}
_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}


def load_music(name: str, split: str) -> list[np.ndarray]:
    """The piano rolls of one split.

    Args:
        name: ``"jsb-chorales"``, ``"nottingham"``, ``"musedata"`` or ``"piano-midi"``.
        split: ``"train"``, ``"valid"`` or ``"test"``.

    Returns:
        One ``(T_i, 88)`` float32 array of 0s and 1s per piece, lengths varying.

    Raises:
        DataError: unknown name or split, missing or corrupt file, or scipy not installed.
    """
    if name not in MUSIC_FILES:
        raise DataError(f"unknown music dataset {name!r}; valid names: {', '.join(MUSIC_FILES)}")
    if split not in _KEYS:
        raise DataError(f"no split {split!r}; the splits are: {', '.join(_KEYS)}")
    try:
        import scipy.io
    except ImportError:
        raise DataError(
            "reading the music datasets needs scipy: pip install 'rnnlab[music]'"
        ) from None
    path = require_file(name, MUSIC_FILES[name])
    try:
        cells = scipy.io.loadmat(path)[_KEYS[split]]
    except (ValueError, KeyError, OSError) as e:
        raise DataError(f"cannot read {path} as a MATLAB piano-roll file: {e}") from None
    seqs = [np.asarray(roll, dtype=np.float32) for roll in cells.ravel()]
    for i, s in enumerate(seqs):
        if s.ndim != 2 or s.shape[1] != K:
            raise DataError(f"{path} {split} piece {i} has shape {s.shape}, expected (T, {K})")
    return seqs


def pad_batch(seqs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack pieces of different lengths into one time-major batch, zero-padded at the end.

    Args:
        seqs: B arrays ``(T_b, K)``.

    Returns:
        ``x: (T, B, K)`` with ``T = max T_b`` (same dtype as the input; steps ``t >= T_b`` of
        column ``b`` are zero), and ``lengths: (B,)`` int64.
    """
    if not seqs:
        raise ValueError("pad_batch needs at least one sequence")
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    feat = seqs[0].shape[1:]
    x = np.zeros((int(lengths.max()), len(seqs), *feat), dtype=seqs[0].dtype)  # (T, B, K)
    for b, s in enumerate(seqs):
        x[: len(s), b] = s
    return x, lengths
