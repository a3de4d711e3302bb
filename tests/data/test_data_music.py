"""Piano rolls: padding, and load_music on a toy MATLAB file of the real layout."""

from __future__ import annotations

import io

import numpy as np
import pytest

from rnnlab.data import DataError, load_music, pad_batch

scipy_io = pytest.importorskip("scipy.io")


def test_pad_batch_time_major():
    a, b = np.ones((3, 88), np.float32), np.full((5, 88), 2, np.float32)
    x, lengths = pad_batch([a, b])
    assert x.shape == (5, 2, 88) and x.dtype == np.float32 and lengths.tolist() == [3, 5]
    assert (x[:3, 0] == 1).all() and (x[3:, 0] == 0).all() and (x[:, 1] == 2).all()
    with pytest.raises(ValueError):
        pad_batch([])


def _mat(rolls_by_key) -> bytes:
    buf = io.BytesIO()
    cells = {}
    for key, rolls in rolls_by_key.items():
        arr = np.empty((1, len(rolls)), dtype=object)  # a 1 x N MATLAB cell array
        for i, r in enumerate(rolls):
            arr[0, i] = r
        cells[key] = arr
    scipy_io.savemat(buf, cells)
    return buf.getvalue()


def test_load_music_toy_file(register, put):
    rng = np.random.default_rng(0)
    rolls = [(rng.random((t, 88)) < 0.1).astype(np.uint8) for t in (4, 7)]
    content = _mat({"traindata": rolls, "validdata": rolls[:1], "testdata": rolls[1:]})
    register("jsb-chorales", "polyphonic_music", {"JSB_Chorales.mat": content})
    put("polyphonic_music", "JSB_Chorales.mat", content)
    train = load_music("jsb-chorales", "train")
    assert [s.shape for s in train] == [(4, 88), (7, 88)] and train[0].dtype == np.float32
    assert np.array_equal(train[1], rolls[1])
    assert len(load_music("jsb-chorales", "valid")) == 1


def test_load_music_wrong_width(register, put):
    content = _mat({"traindata": [np.zeros((3, 12), np.uint8)]})
    register("jsb-chorales", "polyphonic_music", {"JSB_Chorales.mat": content})
    put("polyphonic_music", "JSB_Chorales.mat", content)
    with pytest.raises(DataError, match=r"piece 0 has shape \(3, 12\)"):
        load_music("jsb-chorales", "train")


def test_load_music_bad_arguments(data_root):
    with pytest.raises(DataError, match="valid names: jsb-chorales"):
        load_music("bach", "train")
    with pytest.raises(DataError, match="no split 'dev'"):
        load_music("jsb-chorales", "dev")
