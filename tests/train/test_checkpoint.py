"""Checkpoints: tensors in safetensors, state in JSON, atomic, verified on load."""

from __future__ import annotations

import json

import pytest
import torch

from rnnlab.train.checkpoint import CheckpointError, CheckpointStore


def _tensors(v=1.0):
    w = torch.full((3, 2), v)
    return {"model.a": w, "model.tied": w, "rng.torch": torch.get_rng_state()}


def test_round_trip_with_tied_tensors(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(_tensors(2.0), {"step": 5, "x": [1, 2]})
    tensors, state = store.load()
    assert state["step"] == 5 and state["x"] == [1, 2]
    assert torch.equal(tensors["model.a"], torch.full((3, 2), 2.0))
    assert torch.equal(tensors["model.tied"], tensors["model.a"])


def test_last_and_best_pointers_and_pruning(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(_tensors(1.0), {"step": 1}, names=("last", "best"))
    store.save(_tensors(2.0), {"step": 2})
    store.save(_tensors(3.0), {"step": 3})
    assert store.load("last")[1]["step"] == 3
    assert store.load("best")[1]["step"] == 1
    dirs = sorted(d.name for d in tmp_path.iterdir() if d.is_dir())
    assert len(dirs) == 2  # the best and the last; step 2 was pruned


def test_truncated_tensor_file_is_reported_and_never_trusted(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(_tensors(1.0), {"step": 1})
    target = (
        tmp_path / json.loads((tmp_path / "last.json").read_text())["dir"] / "tensors.safetensors"
    )
    data = target.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"tensors\.safetensors.*truncated or corrupt"):
        store.load()


def test_corrupt_state_json_is_reported(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(_tensors(1.0), {"step": 1})
    target = tmp_path / json.loads((tmp_path / "last.json").read_text())["dir"] / "state.json"
    target.write_text("{not json")
    with pytest.raises(CheckpointError, match=r"state\.json"):
        store.load()


def test_a_write_killed_midway_leaves_the_last_good_checkpoint(tmp_path):
    store = CheckpointStore(tmp_path)
    store.save(_tensors(1.0), {"step": 1})
    # What a kill during the next save leaves behind: a temporary directory with a partial file.
    partial = tmp_path / ".tmp-deadbeef"
    partial.mkdir()
    (partial / "tensors.safetensors").write_bytes(b"\x00" * 10)
    (tmp_path / ".last.json.1234.tmp").write_text('{"dir": "nowhere"')
    assert store.load()[1]["step"] == 1
    store.prune()
    assert not partial.exists()
    assert store.load()[1]["step"] == 1


def test_missing_checkpoint_says_so(tmp_path):
    with pytest.raises(CheckpointError, match="no 'last' checkpoint"):
        CheckpointStore(tmp_path).load()


def test_checkpoints_are_never_pickles(tmp_path):
    store = CheckpointStore(tmp_path)
    path = store.save(_tensors(1.0), {"step": 1})
    names = sorted(p.name for p in path.iterdir())
    assert names == ["state.json", "tensors.safetensors"]
    assert not (path / "tensors.safetensors").read_bytes().startswith(b"\x80")  # pickle protocol
