"""batchify / get_batch / BPTTBatches on the alphabet, as in the module's diagram."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.data.lm import BPTTBatches, batchify, get_batch


def test_batchify_columns_and_remainder():
    ids = torch.arange(26)  # a .. z
    src = batchify(ids, 4)
    assert src.shape == (6, 4) and src.is_contiguous()
    assert src[:, 0].tolist() == [0, 1, 2, 3, 4, 5]  # a..f
    assert src[0].tolist() == [0, 6, 12, 18]  # a g m s
    assert 24 not in src and 25 not in src  # y z dropped


def test_batchify_takes_what_encode_returns():
    # Vocab.encode returns a list of ints; a NumPy array works too. Both become int64 tensors.
    want = batchify(torch.arange(26), 4)
    for ids in (list(range(26)), np.arange(26, dtype=np.int32)):
        got = batchify(ids, 4)
        assert got.dtype == torch.long and torch.equal(got, want)


def test_get_batch_shifts_by_one():
    src = batchify(torch.arange(26), 4)
    x, y = get_batch(src, 0, 2)
    assert x.tolist() == [[0, 6, 12, 18], [1, 7, 13, 19]]
    assert y.tolist() == [[1, 7, 13, 19], [2, 8, 14, 20]]
    x, y = get_batch(src, 4, 35)  # the last chunk is shorter
    assert x.shape == y.shape == (1, 4) and y[0, 0] == 5


def test_batches_cover_every_target_once():
    src = batchify(torch.arange(103), 5)  # (20, 5)
    batches = BPTTBatches(src, 6)
    assert len(batches) == 4  # rows 0..18 as inputs: 6 + 6 + 6 + 1
    ys = torch.cat([y for _, y in batches])
    assert torch.equal(ys, src[1:])
    with pytest.raises(IndexError):
        batches[4]


def test_errors():
    with pytest.raises(ValueError, match="cannot cut 3 tokens into 4 streams"):
        batchify(torch.arange(3), 4)
    with pytest.raises(ValueError, match="1-D"):
        batchify(torch.zeros(2, 2), 1)
    with pytest.raises(ValueError, match="bptt"):
        BPTTBatches(torch.zeros(4, 1), 0)
