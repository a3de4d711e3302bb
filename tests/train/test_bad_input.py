"""Bad input gives a clear message and exit status 2, never a traceback, and loses nothing."""

from __future__ import annotations

import json
import re

from tests.train.conftest import rnnlab, tiny_config


def _fails_cleanly(out, *needles):
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    for n in needles:
        assert n in out.stderr, out.stderr


def test_unknown_config_key_lists_valid_keys(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file)
    out = rnnlab("train", "lm", "--config", str(cfg), "--set", "train.learning_rate=0.1")
    _fails_cleanly(out, "unknown key train.learning_rate", "valid keys in [train]", "lr")


def test_wrong_type(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file)
    out = rnnlab("train", "lm", "--config", str(cfg), "--set", 'train.batch_size="big"')
    _fails_cleanly(out, "train.batch_size", "expected int")


def test_missing_data_file_names_the_fetch_command(tmp_path):
    (tmp_path / "empty").mkdir()
    out = rnnlab(
        "train",
        "lm",
        "--set",
        'data.dataset="ptb-word"',
        "--runs-dir",
        str(tmp_path),
        env={"RNNLAB_DATA": str(tmp_path / "empty")},
    )
    _fails_cleanly(out, "rnnlab data fetch ptb-word")
    assert list((tmp_path / "lm").iterdir()) == []  # no run directory left behind


def test_non_utf8_text(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf\xe9 ".encode("latin-1") * 200)
    cfg = tiny_config(tmp_path / "c.toml", bad)
    _fails_cleanly(
        rnnlab("train", "lm", "--config", str(cfg), "--runs-dir", str(tmp_path)), "UTF-8", str(bad)
    )


def test_empty_split(tmp_path):
    tiny = tmp_path / "tiny.txt"
    tiny.write_text("abcdefgh")  # 10% of 8 characters: an empty validation split
    cfg = tiny_config(tmp_path / "c.toml", tiny)
    _fails_cleanly(
        rnnlab("train", "lm", "--config", str(cfg), "--runs-dir", str(tmp_path)), "empty"
    )


def test_prime_outside_the_vocabulary(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, epochs=1)
    rnnlab(
        "train",
        "lm",
        "--config",
        str(cfg),
        "--runs-dir",
        str(tmp_path / "r"),
        "--no-report",
        check=True,
    )
    (run,) = list((tmp_path / "r" / "lm").iterdir())
    out = rnnlab("sample", str(run), "--prime", "QZ!", "--length", "5")
    _fails_cleanly(out, "--prime", "not in the vocabulary", "'Q'", "'Z'")
    ok = rnnlab("sample", str(run), "--prime", "the ", "--length", "20", "--temperature", "0.5")
    assert ok.returncode == 0 and ok.stdout.startswith("the ") and len(ok.stdout.rstrip("\n")) == 24
    # A trained run samples without its training text (the vocabulary lives in the run).
    text_file.rename(text_file.with_suffix(".gone"))
    greedy = [
        rnnlab("sample", str(run), "--prime", "the ", "--temperature", "0", "--seed", s)
        for s in ("1", "2")
    ]
    assert greedy[0].returncode == 0, greedy[0].stderr
    assert greedy[0].stdout == greedy[1].stdout  # temperature 0 is greedy: no randomness left
    _fails_cleanly(rnnlab("sample", str(run), "--temperature", "-1"), "--temperature", ">= 0")
    _fails_cleanly(rnnlab("sample", str(run), "--temperature", "nan"), "--temperature", "nan")
    _fails_cleanly(rnnlab("sample", str(run), "--top-k", "-1"), "--top-k", ">= 0")
    _fails_cleanly(rnnlab("train", "classify", "--resume", str(run)), "is a 'lm' run")
    cfg_lr = ("lr-find", "--config", str(cfg), "--runs-dir", str(tmp_path / "d"))
    _fails_cleanly(rnnlab(*cfg_lr, "--max-lr", "inf"), "must be finite")
    # a plot name without an extension is written, and reported, as a PNG
    out = rnnlab("curves", str(run), "--out", str(tmp_path / "plot"), "--json", check=True)
    assert json.loads(out.stdout)["plot"] == str(tmp_path / "plot.png")
    assert (tmp_path / "plot.png").is_file()
    _fails_cleanly(rnnlab("curves", str(run), "--out", str(tmp_path)), "is a folder")


def test_run_that_does_not_exist(tmp_path):
    for cmd in (
        ["eval", "nope-run"],
        ["sample", "nope-run"],
        ["report", "nope-run"],
        ["train", "--resume", str(tmp_path / "missing")],
    ):
        _fails_cleanly(rnnlab(*cmd, cwd=tmp_path), "no run at")


def test_nan_loss_stops_keeps_last_good_checkpoint_and_says_which_step(tmp_path, text_file):
    # A relu RNN under plain SGD with a huge learning rate blows up within a few steps.
    relu = 'cell = "rnn"\nvariant = { nonlinearity = "relu" }'
    cfg = tiny_config(
        tmp_path / "c.toml",
        text_file,
        model=relu,
        eval_every=1,
        clip_norm=0.0,
        optimizer="sgd",
        lr=1e6,
    )
    out = rnnlab("train", "lm", "--config", str(cfg), "--runs-dir", str(tmp_path / "r"))
    _fails_cleanly(out, "loss is nan at step", "last good checkpoint", "train.lr")
    (run,) = list((tmp_path / "r" / "lm").iterdir())
    bad_step = int(re.search(r"loss is nan at step (\d+)", out.stderr).group(1))
    good_step = json.loads((run / "checkpoints" / "last.json").read_text())["step"]
    assert good_step < bad_step
    assert f"the last good checkpoint is step {good_step}" in out.stderr
    assert rnnlab("eval", str(run), "--checkpoint", "last", "--split", "valid").returncode == 0


def test_bad_command_line_values(tmp_path):
    _fails_cleanly(rnnlab("train"), "name a task")
    _fails_cleanly(rnnlab("bench", "--sizes", "35x20"), "TxBxDxH")
    _fails_cleanly(rnnlab("bench", "--sizes", "0x2x4x4"), "must all be >= 1")
    _fails_cleanly(rnnlab("bench", "--sizes="), "--sizes is empty")
    _fails_cleanly(rnnlab("bench", "--device", "gpu"), "cpu or cuda")
    _fails_cleanly(rnnlab("bench", "--markdown", str(tmp_path)), "is a folder")
    _fails_cleanly(rnnlab("bench", "--markdown", str(tmp_path / "no" / "t.md")), "does not exist")
    _fails_cleanly(
        rnnlab(
            "bench",
            "--quick",
            "--sizes",
            "2x2x3x3",
            "--cells",
            "lstm-peephole",
            "--engines",
            "builtin",
        ),
        "nothing to time",
    )
    _fails_cleanly(rnnlab("train", "nosuchtask"), "valid tasks")
