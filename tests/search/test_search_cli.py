"""``rnnlab search`` as a user runs it: several processes on one SQLite study, ``--workers``, a
search killed mid-trial and resumed, and the outputs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tests.train.conftest import TEXT, tiny_config
from tests.train.conftest import rnnlab as run_cli

SPACE = """
[train.lr]
scale = "log"
low = 1e-3
high = 1e-1

[train.weight_decay]
scale = "log"
low = 1e-6
high = 1e-3
"""


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    text = tmp_path / "corpus.txt"
    text.write_text(TEXT)
    config = tiny_config(
        tmp_path / "tiny.toml",
        text,
        epochs=1,
        max_steps=20,
        eval_every=10,
        log_every=5,
        threads=1,
    )
    space = tmp_path / "space.toml"
    space.write_text(SPACE)
    return config, space


def args(files, tmp_path, trials, *extra) -> list[str]:
    config, space = files
    return [
        "search", "--config", str(config), "--space", str(space), "--trials", str(trials),
        "--runs-dir", str(tmp_path / "runs"), "--study", "cli", *extra,
    ]  # fmt: skip


def load(tmp_path) -> optuna.Study:
    url = f"sqlite:///{tmp_path / 'runs/search/cli/study.db'}"
    return optuna.load_study(study_name="cli", storage=url)


def test_two_processes_share_one_sqlite_study(files, tmp_path):
    cmd = [sys.executable, "-m", "rnnlab", *args(files, tmp_path, 6)]
    env = {**os.environ, "RNNLAB_NO_PROGRESS": "1"}
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    study = load(tmp_path)
    assert len(study.trials) == 6  # the lock: together exactly the budget, no extra trial
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({t.user_attrs["worker"] for t in study.trials}) == 2  # both did trials
    assert len({t.params["train.lr"] for t in study.trials}) == 6  # and never the same one
    assert len({t.user_attrs["run_dir"] for t in study.trials}) == 6


def test_workers_option(files, tmp_path):
    r = run_cli(*args(files, tmp_path, 4, "--workers", "2"))
    assert r.returncode == 0, r.stderr
    study = load(tmp_path)
    assert len(study.trials) == 4
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert "best trials of cli (valid loss)" in r.stdout
    folder = tmp_path / "runs/search/cli"
    for name in ("best.md", "trials.csv", "scatter.png", "importances.png"):
        assert (folder / name).is_file(), name
    best = min(study.trials, key=lambda t: t.value)
    assert f"best run: {best.user_attrs['run_dir']}" in r.stdout


def test_report_only(files, tmp_path, capsys):
    from rnnlab.cli import main

    assert main(args(files, tmp_path, 2)) == 0
    capsys.readouterr()
    # --trials 0: the outputs of the study as it is, no new trial
    assert main(args(files, tmp_path, 0)) == 0
    out = capsys.readouterr().out
    assert "2 trials done (--trials 0: the outputs only)" in out and "trials: 2 complete" in out
    assert len(load(tmp_path).trials) == 2


def test_killed_search_resumes(files, tmp_path):
    # each trial writes 3 checkpoints (steps 0, 10, 20): the 5th write is trial 1's step 10
    r = run_cli(
        *args(files, tmp_path, 3, "--heartbeat", "1"), env={"RNNLAB_FAULT": "checkpoint-write:5"}
    )
    assert r.returncode == -signal.SIGKILL
    study = load(tmp_path)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.RUNNING]
    r = run_cli(*args(files, tmp_path, 3, "--heartbeat", "1"))
    assert r.returncode == 0, r.stderr
    assert "1 of 3 trials done, 1 running" in r.stdout
    assert "trial 1 was interrupted: queued again (it resumes its run)" in r.stdout
    study = load(tmp_path)
    states = [t.state for t in study.trials]
    assert states.count(TrialState.COMPLETE) == 3 and states.count(TrialState.FAIL) == 1
    (retry,) = [t for t in study.trials if "resume_of" in t.user_attrs]
    assert retry.user_attrs["resume_of"] == 1
    assert retry.user_attrs["run_dir"] == study.trials[1].user_attrs["run_dir"]
    assert retry.params == study.trials[1].params


def test_user_errors(files, tmp_path, capsys):
    from rnnlab.cli import main

    config, space = files
    assert main(["search", "--config", str(config), "--space", "nope.toml", "--trials", "1"]) == 2
    assert "config file not found: nope.toml" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text("[train.lr]\nlow = 1e-3\nhigh = 1e-1\n")
    assert main(["search", "--config", str(config), "--space", str(bad), "--trials", "1"]) == 2
    assert 'needs scale = "log" or "linear"' in capsys.readouterr().err
    assert main(args(files, tmp_path, 1, "--workers", "0")) == 2
    assert "--workers must be >= 1" in capsys.readouterr().err
    argv = ["search", "--config", str(config), "--space", str(space), "--trials", "1"]
    assert main([*argv, "--storage", "bogus://x"]) == 2
    assert "not a database URL sqlalchemy can open" in capsys.readouterr().err
