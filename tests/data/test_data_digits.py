"""The bundled 8x8 digits: fixed, disjoint 60/20/20 splits in [0, 1]."""

from __future__ import annotations

import numpy as np
import pytest

from rnnlab.data import DataError, load_digits

pytest.importorskip("sklearn")


def test_splits():
    parts = {s: load_digits(s) for s in ("train", "valid", "test")}
    assert {s: len(y) for s, (_, y) in parts.items()} == {"train": 1078, "valid": 359, "test": 360}
    for x, y in parts.values():
        assert x.shape[1:] == (8, 8) and x.dtype == np.float32 and y.dtype == np.int64
        assert x.min() >= 0 and x.max() <= 1 and set(np.unique(y)) <= set(range(10))
    # disjoint and complete: every image exactly once
    rows = np.concatenate([x.reshape(len(x), -1) for x, _ in parts.values()])
    assert len(rows) == 1797
    assert set(parts["train"][1]) == set(range(10))


def test_deterministic_and_seeded():
    a, b = load_digits("valid"), load_digits("valid")
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    c = load_digits("valid", seed=1)
    assert not np.array_equal(a[1], c[1])


def test_bad_split():
    with pytest.raises(DataError, match="train, valid, test"):
        load_digits("dev")
