"""``rnnlab train --resume RUN --set train.max_steps=N``: a finished run trained on to a larger
budget equals a run started with that budget."""

from __future__ import annotations

import json

from tests.train.conftest import rnnlab, tiny_config
from tests.train.test_resume import _assert_same, _final_state, _only_run, train_args


def test_a_raised_budget_trains_on_to_what_a_longer_run_gets(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "long.toml", text_file, max_steps=28)
    rnnlab(*train_args(cfg, tmp_path / "long"), check=True)
    reference = _final_state(_only_run(tmp_path / "long"))

    short = tiny_config(tmp_path / "short.toml", text_file, max_steps=14)
    rnnlab(*train_args(short, tmp_path / "short"), check=True)
    run = _only_run(tmp_path / "short")
    before = json.loads((run / "final.json").read_text())
    assert before["steps"] == 14
    out = rnnlab("train", "--resume", str(run), "--set", "train.max_steps=28", "--no-report")
    assert out.returncode == 0, out.stderr
    assert "train.max_steps: 14 -> 28" in out.stdout
    _assert_same(_final_state(run), reference)  # weights, optimizer, final.json, metrics
    # the results at the old budget are kept beside the new ones
    assert json.loads((run / "final-step14.json").read_text()) == before
    assert "max_steps = 28" in (run / "config.toml").read_text()


def test_only_the_budget_of_a_run_may_change(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, max_steps=7)
    rnnlab(*train_args(cfg, tmp_path / "a"), check=True)
    run = _only_run(tmp_path / "a")
    config = (run / "config.toml").read_text()
    out = rnnlab("train", "--resume", str(run), "--set", "model.hidden_size=32")
    assert out.returncode == 2 and "only for the training budget" in out.stderr
    assert "Traceback" not in out.stderr

    cosine = tiny_config(tmp_path / "cos.toml", text_file, max_steps=7, schedule="cosine")
    rnnlab(*train_args(cosine, tmp_path / "b"), check=True)
    out = rnnlab("train", "--resume", str(_only_run(tmp_path / "b")), "--set", "train.max_steps=14")
    assert out.returncode == 2 and "cosine" in out.stderr
    out = rnnlab("train", "--resume", str(_only_run(tmp_path / "b")), "--set", "train.max_steps=3")
    assert out.returncode == 2 and "may only raise a budget" in out.stderr  # the first reason

    early = tiny_config(tmp_path / "es.toml", text_file, lr=1e-12, early_stopping=1)
    rnnlab(*train_args(early, tmp_path / "c"), check=True)
    stopped = _only_run(tmp_path / "c")
    out = rnnlab("train", "--resume", str(stopped), "--set", "train.epochs=9")
    assert out.returncode == 2 and "stopped early" in out.stderr
    assert (run / "config.toml").read_text() == config and (stopped / "final.json").is_file()


def test_a_raise_that_leaves_the_ending_limit_in_place_is_refused(tmp_path, text_file):
    # Ended by train.epochs: raising max_steps alone would train no step.
    cfg = tiny_config(tmp_path / "e.toml", text_file, epochs=1)
    rnnlab(*train_args(cfg, tmp_path / "e"), check=True)
    run = _only_run(tmp_path / "e")
    config, final = (run / "config.toml").read_text(), (run / "final.json").read_text()
    assert json.loads(final)["stopped"] == "end"
    out = rnnlab("train", "--resume", str(run), "--set", "train.max_steps=100000")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "ended after its 1 epochs" in out.stderr and "--set train.epochs=" in out.stderr
    assert (run / "config.toml").read_text() == config
    assert (run / "final.json").read_text() == final

    # Ended by train.max_steps: a raise of epochs alone is refused, one of max_steps trains on.
    steps = tiny_config(tmp_path / "s.toml", text_file, max_steps=7)
    rnnlab(*train_args(steps, tmp_path / "s"), check=True)
    run = _only_run(tmp_path / "s")
    out = rnnlab("train", "--resume", str(run), "--set", "train.epochs=9")
    assert out.returncode == 2 and "train.max_steps = 7" in out.stderr
    out = rnnlab("train", "--resume", str(run), "--set", "train.max_steps=9", "--no-report")
    assert out.returncode == 0, out.stderr
    assert json.loads((run / "final.json").read_text())["steps"] == 9
