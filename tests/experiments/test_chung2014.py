"""``rnnlab experiment chung2014``: sizes within the budget, the learning-rate candidates, the
config files, and the experiment end to end on toy rolls (reuse and resume of finished runs)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from rnnlab.cli import main
from rnnlab.config import read_toml
from rnnlab.experiments import chung2014 as c14
from rnnlab.models.piano_roll import K, PianoRollConfig, count_parameters

ROOT = Path(__file__).resolve().parents[2]


def _count(unit, H):
    return count_parameters(PianoRollConfig(cell=unit.cell, variant=unit.variant, hidden_size=H))


def test_our_sizes_are_the_largest_within_the_papers_counts():
    got = {u.key: c14.fit_hidden(u, u.paper_params) for u in c14.UNITS}
    assert got == {"tanh": 78, "gru": 41, "lstm": 33}
    for u in c14.UNITS:
        H = got[u.key]
        assert _count(u, H) <= u.paper_params < _count(u, H + 1)
        assert _count(u, u.paper_hidden) > u.paper_params  # the paper's sizes are over budget


def test_recurrent_layer_alone_with_100_inputs_matches_the_papers_counts():
    counts = [c14._recurrent_count(u, u.paper_hidden, 100) for u in c14.UNITS]
    assert counts == [20_100, 20_286, 19_836]
    for c, u in zip(counts, c14.UNITS):
        assert abs(c - u.paper_params) / u.paper_params < 0.005


def test_learning_rate_candidates_are_log_uniform_and_reproducible():
    a = c14.lr_candidates(10, 0, "nottingham", "gru")
    assert a == c14.lr_candidates(10, 0, "nottingham", "gru")
    assert a != c14.lr_candidates(10, 0, "nottingham", "lstm")
    assert a != c14.lr_candidates(10, 1, "nottingham", "gru")
    assert all(math.exp(-12) <= lr <= math.exp(-6) for lr in a)
    many = np.log(c14.lr_candidates(4000, 3, "jsb-chorales", "tanh"))
    assert many.mean() == pytest.approx(-9.0, abs=0.1)  # uniform in log space on [-12, -6]
    assert many.std() == pytest.approx(6 / math.sqrt(12), abs=0.1)


def test_config_files_are_the_protocols():
    assert read_toml(ROOT / "configs/music/paper.toml") == c14.PAPER_CONFIG
    assert read_toml(ROOT / "configs/music/ours.toml") == c14.OURS_CONFIG
    careful = read_toml(ROOT / "configs/music/ours-careful.toml")
    assert careful == {
        **c14._merge(c14.OURS_CONFIG, c14.OURS_RECIPES["careful"]),
        "name": "chung2014-ours-careful",
    }


def _toy_rolls(name, split):
    """Stand-in for load_music: a few short two-chord pieces (no data needed)."""
    n = {"train": 6, "valid": 3, "test": 3}[split]
    out = []
    for i in range(n):
        r = np.zeros((8 + 3 * i, K), np.float32)
        r[0::2, [39, 43, 46]] = 1
        r[1::2, [41, 45, 48]] = 1
        out.append(r)
    return out


def test_quick_experiment_end_to_end_then_reused_and_resumed(tmp_path, monkeypatch, capsys):
    import rnnlab.data.music

    monkeypatch.setattr(rnnlab.data.music, "load_music", _toy_rolls)
    out = tmp_path / "res" / "c14.md"
    argv = [
        "experiment",
        "chung2014",
        "--quick",
        "--datasets",
        "jsb-chorales",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "H=100: recurrent 19,000 + output 8,888 = 27,888" in printed.err  # counts printed
    assert "| JSB Chorales | GRU | 8.54 |" in printed.out  # the table, beside the paper's number
    runs = sorted((tmp_path / "runs" / "music").iterdir())
    # 3 units x (2 recipes of ours + 2 search candidates + 1 finalist)
    unfinished = [r.name for r in runs if not (r / "final.json").is_file()]
    assert len(runs) == 15 and not unfinished, ([r.name for r in runs], unfinished, printed.err)
    text = out.read_text()
    assert "rnnlab experiment chung2014 --datasets jsb-chorales --seeds 1 --quick" in text
    assert (out.parent / "figures" / "c14_jsb-chorales.png").is_file()  # named after the page
    assert "| GRU | ours | 41 | 16,113 | 3,696 | 19,809 | ~20,200 | yes |" in text
    measured = re.findall(r"\| JSB Chorales \| tanh RNN \| 9\.10 \| ([\d.]+) \|", text)
    assert measured and float(measured[0]) < K * math.log(2), (measured, text)

    # again: every run is reused, nothing is trained
    assert main(argv) == 0
    assert sorted((tmp_path / "runs" / "music").iterdir()) == runs
    err = capsys.readouterr().err
    assert "resuming" not in err, err
    # an interrupted run (no final.json) is resumed, not restarted
    (runs[0] / "final.json").unlink()
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "resuming" in err, err
    assert (runs[0] / "final.json").is_file()
    assert sorted((tmp_path / "runs" / "music").iterdir()) == runs, err


def test_plan_lists_the_runs(tmp_path, monkeypatch, capsys):
    argv = ["experiment", "chung2014", "--plan", "--datasets", "piano-midi", "--units", "lstm"]
    assert main([*argv, "--runs-dir", str(tmp_path)]) == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if x.startswith("todo")]
    assert len(lines) == 2 + 10  # ours' 2 recipes, the ten candidates (finalists need the search)
    assert all("c14-" in x and "piano-midi-lstm" in x for x in lines)


def test_bad_arguments(capsys):
    assert main(["experiment", "chung2014", "--seeds", "0"]) == 2
    assert "--seeds" in capsys.readouterr().err


def test_a_key_added_later_at_its_default_leaves_the_digest_alone():
    from rnnlab.experiments.chung2014 import config_digest

    before = {"name": "a", "model": {"cell": "gru", "hidden_size": 41}, "train": {"lr": 0.01}}
    now = {**before, "model": {**before["model"], "recurrent_init": "uniform"}}
    other = {**before, "model": {**before["model"], "recurrent_init": "orthogonal"}}
    assert config_digest(now) == config_digest(before)  # published runs keep their names
    assert config_digest(other) != config_digest(before)


def test_a_partial_experiment_never_writes_the_published_page(tmp_path):
    import argparse

    from rnnlab.experiments.chung2014 import add_arguments, results_path

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    where = lambda *a: results_path(parser.parse_args(list(a)), tmp_path)  # noqa: E731
    assert where() == Path("docs/results/chung2014.md")
    assert where("--seeds", "3") == Path("docs/results/chung2014.md")
    assert where("--units", "gru") == tmp_path / "chung2014-subset.md"
    assert where("--datasets", "jsb-chorales") == tmp_path / "chung2014-subset.md"
    assert where("--protocols", "ours") == tmp_path / "chung2014-subset.md"
    assert where("--quick") == tmp_path / "chung2014-quick.md"
    assert where("--units", "gru", "--out", "x.md") == Path("x.md")
