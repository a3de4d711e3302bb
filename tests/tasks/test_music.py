"""The music task: batching, the metric exactly as defined, training, resume, bad input."""

from __future__ import annotations

import io
import json
import math
import signal

import numpy as np
import pytest
import torch

from rnnlab.cli import main
from rnnlab.data.errors import DataError
from rnnlab.errors import ConfigError, UserError
from rnnlab.models.piano_roll import K, frame_nll
from rnnlab.tasks.base import build_run_config
from rnnlab.tasks.music import MusicTask
from rnnlab.train.trainer import Trainer
from tests.train.conftest import rnnlab

scipy_io = pytest.importorskip("scipy.io")


def _rolls(n, lengths, seed=0):
    """Learnable toy rolls: two chords alternating frame by frame (the first chord starts every
    piece); ``seed`` only shifts which lengths come first."""
    out = []
    for i in range(n):
        T = int(lengths[(i + seed) % len(lengths)])
        r = np.zeros((T, K), np.uint8)
        for t in range(T):
            r[t, [39, 43, 46] if t % 2 == 0 else [41, 45, 48]] = 1
        out.append(r)
    return out


def write_mat(path, train, valid, test):
    cells = {}
    for key, rolls in (("traindata", train), ("validdata", valid), ("testdata", test)):
        arr = np.empty((1, len(rolls)), dtype=object)  # a 1 x N MATLAB cell array
        for i, r in enumerate(rolls):
            arr[0, i] = r
        cells[key] = arr
    buf = io.BytesIO()
    scipy_io.savemat(buf, cells)
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture
def mat(tmp_path):
    return write_mat(
        tmp_path / "toy.mat",
        _rolls(10, [5, 9, 13, 30]),
        _rolls(4, [7, 11], seed=1),
        _rolls(3, [6, 10, 3], seed=2),
    )


def _cfg(mat, data=None, model=None, train=None):
    raw = {
        "task": "music",
        "name": "toy",
        "seed": 1,
        "data": {"dataset": "file", "path": str(mat), **(data or {})},
        "model": {"cell": "gru", "variant": {"reset": "before"}, "hidden_size": 8, **(model or {})},
        "train": {
            "epochs": 2,
            "batch_size": 3,
            "lr": 0.01,
            "log_every": 2,
            "checkpoint_minutes": 0.0,
            "threads": 1,
            **(train or {}),
        },
    }
    return build_run_config(raw)


def _task(mat, **kw):
    task = MusicTask(_cfg(mat, **kw))
    task.prepare()
    return task


@pytest.mark.parametrize("first_frame", ["predict", "skip"])
@pytest.mark.parametrize("crop", [0, 4])
def test_every_frame_is_trained_exactly_once_per_epoch(mat, first_frame, crop):
    task = _task(mat, data={"first_frame": first_frame, "crop": crop})
    rolls = task.rolls["train"]
    a0 = 1 if first_frame == "skip" else 0
    loader = task.train_loader(0)
    scored = {}
    for i in range(len(loader)):
        x, y, mask = loader[i]
        T, B, _ = x.shape
        assert y.shape == (T, B, K) and mask.shape == (T, B)
        assert T <= crop or crop == 0
        for b in range(B):
            n = int(mask[:, b].sum())
            assert mask[:n, b].all() and not mask[n:, b].any()  # padding only at the end
            assert not y[n:, b].any() and not x[n:, b].any()
            # inputs are the targets shifted by one frame
            torch.testing.assert_close(x[1:n, b], y[: n - 1, b])
            key = y[:n, b].numpy().tobytes()
            scored[key] = scored.get(key, 0) + 1
    assert sum(task.count_items(loader[i]) for i in range(len(loader))) == sum(
        len(r) - a0 for r in rolls
    )


def test_inputs_at_a_piece_start_are_silence_and_a_window_start_sees_the_previous_frame(mat):
    task = _task(mat, data={"crop": 4})
    segs = [s for b in task.train_loader(0).batches for s in b]
    ext = task.ext["train"]
    for p, a, b in segs:
        assert 0 < b - a <= 4
        if a == 0:
            assert not ext[p][0].any()  # the silent frame in front of every piece
        else:
            np.testing.assert_array_equal(ext[p][a], task.rolls["train"][p][a - 1])


def test_batches_depend_on_seed_and_epoch_only(mat):
    a, b = _task(mat, data={"crop": 4}), _task(mat, data={"crop": 4})
    assert a.train_loader(3).batches == b.train_loader(3).batches
    assert a.train_loader(3).batches != a.train_loader(4).batches


def test_evaluate_matches_the_definition_piece_by_piece(mat):
    torch.manual_seed(0)
    task = _task(mat, train={"eval_batch_size": 2})
    model = task.build_model().eval()
    got = task.evaluate(model, "test")
    nll = first = 0.0
    frames = tp = fp = fn = 0
    pieces = []
    with torch.no_grad():
        for r in task.rolls["test"]:
            y = torch.from_numpy(r)[:, None]  # (T, 1, K)
            x = torch.cat([torch.zeros(1, 1, K), y[:-1]])  # frame 1 predicted from silence
            logits, _ = model(x)
            per = frame_nll(logits, y)[:, 0]
            nll += float(per.sum())
            first += float(per[0])
            pieces.append(float(per.mean()))
            frames += len(r)
            on = logits[:, 0] > 0
            tp += int((on & (y[:, 0] > 0)).sum())
            fp += int((on & (y[:, 0] == 0)).sum())
            fn += int((~on & (y[:, 0] > 0)).sum())
    n = len(task.rolls["test"])
    assert got["frames"] == frames == 6 + 10 + 3
    assert got["loss"] == pytest.approx(nll / frames, rel=1e-5)
    assert got["nll_first"] == pytest.approx(first / n, rel=1e-5)
    assert got["nll_rest"] == pytest.approx((nll - first) / (frames - n), rel=1e-5)
    assert got["acc"] == pytest.approx(tp / max(tp + fp + fn, 1))
    assert got["nll_piece_mean"] == pytest.approx(sum(pieces) / n, rel=1e-5)
    # the padded, batched evaluation equals the one-piece-at-a-time loop above
    assert task.evaluate(model, "test")["loss"] == pytest.approx(got["loss"])


def test_skip_scores_frames_two_to_t_from_frame_one(mat):
    torch.manual_seed(0)
    task = _task(mat, data={"first_frame": "skip"})
    model = task.build_model().eval()
    got = task.evaluate(model, "valid")
    nll, frames = 0.0, 0
    with torch.no_grad():
        for r in task.rolls["valid"]:
            y = torch.from_numpy(r)[:, None]  # (T, 1, K)
            logits, _ = model(y[:-1])  # frame t+1 from frames 1..t, zero initial state
            nll += float(frame_nll(logits, y[1:]).sum())
            frames += len(r) - 1
    assert got["frames"] == frames
    assert got["loss"] == pytest.approx(nll / frames, rel=1e-5)
    assert "nll_first" not in got


def test_training_learns_the_toy_and_reports_every_split(mat, tmp_path):
    cfg = _cfg(mat, train={"epochs": 40, "optimizer": "adam", "lr": 0.03, "clip_norm": 1.0})
    trainer = Trainer.start(cfg, root=tmp_path, quiet=True)
    final = trainer.fit()
    first = trainer.run.metrics()[0]
    assert first["split"] == "valid" and first["loss"] == pytest.approx(K * math.log(2), rel=0.05)
    assert set(final) >= {"valid", "test", "train"}
    # two alternating chords: learnt almost exactly (a fresh model scores K ln 2 = 61 nats)
    assert final["valid"]["loss"] < 1.0 and final["valid"]["acc"] > 0.9
    assert trainer.task.expected_initial_loss()[0] == pytest.approx(K * math.log(2))


def test_marginal_output_bias_starts_at_the_independent_key_entropy(mat):
    task = _task(mat, model={"output_bias": "marginal"})
    value, why = task.expected_initial_loss()
    p = task.key_freq.clamp(1e-4, 1 - 1e-4).double()
    assert value == pytest.approx(float(-(p * p.log() + (1 - p) * (1 - p).log()).sum()))
    assert value < K * math.log(2) / 4 and "entropy" in why


def test_train_cli_run_kill_resume_equals_uninterrupted(mat, tmp_path, capsys):
    cfg_file = tmp_path / "c.toml"
    cfg_file.write_text(_cfg(mat, train={"epochs": 3, "eval_every": 3}).to_toml())
    args = ("train", "music", "--config", str(cfg_file), "--no-report")
    assert main([*args, "--runs-dir", str(tmp_path / "ref")]) == 0
    killed = rnnlab(
        *args, "--runs-dir", str(tmp_path / "cut"), env={"RNNLAB_FAULT": "checkpoint-write:3"}
    )
    assert killed.returncode == -signal.SIGKILL
    (run,) = (tmp_path / "cut" / "music").iterdir()
    assert not (run / "final.json").exists()
    assert main(["train", "--resume", str(run), "--no-report"]) == 0
    (ref,) = (tmp_path / "ref" / "music").iterdir()
    a, b = (json.loads((r / "final.json").read_text()) for r in (ref, run))
    a.pop("train_seconds"), b.pop("train_seconds")
    assert a == b
    capsys.readouterr()
    try:
        assert main(["eval", str(run), "--split", "train"]) == 0
    finally:
        torch.set_grad_enabled(True)  # `rnnlab eval` turns gradients off for its process
    assert "nll" in capsys.readouterr().out


def _fails_cleanly(capsys, argv, *needles):
    assert main(argv) == 2
    err = capsys.readouterr().err
    for n in needles:
        assert n in err, err


def test_bad_input_on_the_command_line(tmp_path, capsys, monkeypatch):
    run = ["train", "music", "--runs-dir", str(tmp_path / "r")]
    out = rnnlab(*run, "--set", 'data.dataset="file"')  # one real process: status 2, no traceback
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "needs data.path" in out.stderr
    missing = f'data.path="{tmp_path}/no.mat"'
    _fails_cleanly(
        capsys, [*run, "--set", 'data.dataset="file"', "--set", missing], "no piano-roll"
    )
    _fails_cleanly(capsys, [*run, "--set", 'data.dataset="bach"'], "data.dataset", "nottingham")
    _fails_cleanly(capsys, [*run, "--set", "data.crop=-1"], "data.crop")
    _fails_cleanly(capsys, [*run, "--set", "model.input_dropout=1.5"], "model.input_dropout")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path / "empty"))
    _fails_cleanly(
        capsys, [*run, "--set", 'data.dataset="nottingham"'], "rnnlab data fetch nottingham"
    )


def test_bad_piano_roll_files(tmp_path):
    wide = write_mat(tmp_path / "w.mat", [np.zeros((3, 12), np.uint8)], [], [])
    with pytest.raises(DataError, match=r"piece 0 has shape \(3, 12\)"):
        _task(wide)
    half = write_mat(
        tmp_path / "h.mat", [np.full((3, K), 0.5)], [np.ones((2, K))], [np.ones((2, K))]
    )
    with pytest.raises(DataError, match="not a 0/1 piano roll"):
        _task(half)
    empty = write_mat(tmp_path / "e.mat", _rolls(2, [4]), [], _rolls(1, [4]))
    with pytest.raises(UserError, match="valid split of 'file' has no pieces"):
        _task(empty)
    (tmp_path / "junk.mat").write_bytes(b"not a matlab file")
    with pytest.raises(DataError, match="cannot read"):
        _task(tmp_path / "junk.mat")
    with pytest.raises(ConfigError, match=r"data\.path"):
        _cfg("")


def test_real_jsb_chorales_counts_and_a_short_run(real_data_dir, tmp_path):
    raw = {
        "task": "music",
        "data": {"dataset": "jsb-chorales", "max_pieces": 20, "crop": 32},
        "model": {"cell": "rnn", "hidden_size": 16},
        "train": {
            "epochs": 2,
            "batch_size": 8,
            "lr": 0.01,
            "threads": 1,
            "checkpoint_minutes": 0.0,
        },
    }
    full = MusicTask(build_run_config({**raw, "data": {"dataset": "jsb-chorales"}}))
    full.prepare()
    assert [len(full.rolls[s]) for s in ("train", "valid", "test")] == [229, 76, 77]
    assert sum(len(r) for r in full.rolls["train"]) == 13_807
    final = Trainer.start(build_run_config(raw), root=tmp_path, quiet=True).fit()
    assert final["valid"]["frames"] == sum(len(r) for r in full.rolls["valid"][:20])
    assert final["valid"]["loss"] < 0.5 * K * math.log(2)  # two epochs already halve 61 nats
