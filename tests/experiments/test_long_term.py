"""``rnnlab experiment long-term``: the grid, the page it writes, reuse and resume of its runs."""

from __future__ import annotations

import argparse
import json

import pytest

from rnnlab.errors import UserError
from rnnlab.experiments import long_term
from tests.train.conftest import rnnlab


def _args(tmp_path, **kw):
    p = argparse.ArgumentParser()
    long_term.add_arguments(p)
    a = p.parse_args([])
    a.runs_dir = str(tmp_path / "runs")
    a.out = str(tmp_path / "page" / "long-term.md")
    a.quick = True
    for k, v in kw.items():
        setattr(a, k, v)
    return a


def test_the_grid_and_each_run_config(tmp_path):
    a = _args(tmp_path, quick=False)
    points = long_term.grid(a)
    assert len(points) == 2 * 4 * 5
    assert points[0] == ("adding", 50, "rnn") and points[-1] == ("copy", 400, "mut1")
    cfg = long_term.run_config("copy", 200, "lstm-fb1", a)
    assert cfg.task == "copy" and cfg.name == "copy-T200-lstm-fb1"
    assert cfg.data.length == 200 and cfg.model.cell == "lstm"
    assert cfg.model.variant == {"forget_bias": 1.0}
    # the page's command for a run builds the same config
    cmd = long_term.command_for("copy", 200, "lstm-fb1", a)
    assert "--set 'model.variant={ forget_bias = 1.0 }'" in cmd
    cfg = long_term.run_config("adding", 50, "rnn-orth", a)  # an init that is not a variant
    assert (cfg.model.cell, cfg.model.variant, cfg.model.recurrent_init) == (
        "rnn",
        {},
        "orthogonal",
    )
    assert "model.recurrent_init=" in long_term.command_for("adding", 50, "rnn-orth", a)
    with pytest.raises(UserError, match="valid: adding, copy"):
        long_term.grid(_args(tmp_path, tasks="adding,music"))
    with pytest.raises(UserError, match="integers"):
        long_term.grid(_args(tmp_path, lengths="50,long"))


def test_quick_run_writes_the_page_then_reuses_and_resumes(tmp_path, capsys):
    a = _args(tmp_path, tasks="adding,copy", cells="rnn,gru")
    assert long_term.run(a) == 0
    page = (tmp_path / "page" / "long-term.md").read_text()
    assert "| tanh RNN |" in page and "| GRU |" in page and "T = 10" in page and "T = 20" in page
    assert "| *baseline* | 0.1667 | 0.1667 |" in page
    assert "0.6931" in page  # copy baseline 10 ln 8 / (10 + 20)
    assert (tmp_path / "page" / "figures" / "long-term-copy.png").is_file()
    runs = sorted((tmp_path / "runs").glob("*/*/final.json"))
    assert len(runs) == 8
    # an interrupted run: drop one run's final.json and go back to its first checkpoint
    victim = runs[0].parent
    final_before = json.loads(runs[0].read_text())
    runs[0].unlink()
    capsys.readouterr()
    assert long_term.run(a) == 0
    out = capsys.readouterr().out
    assert out.count("reused") == 7 and out.count("resumed") == 1
    assert len(sorted((tmp_path / "runs").glob("*/*/final.json"))) == 8  # no new run
    assert json.loads((victim / "final.json").read_text())["test"] == final_before["test"]


def test_the_page_includes_a_gradflow_result(tmp_path):
    from rnnlab.cli import main

    gf = tmp_path / "gf"
    args = ["gradflow", "--cells", "rnn,gru", "--length", "10", "--hidden", "4", "--steps", "2"]
    assert main([*args, "--probe", "4", "--explode-steps", "2", "--out", str(gf)]) == 0
    # as gradflow.json records a norm that overflowed to inf: null
    g = json.loads((gf / "gradflow.json").read_text())
    g["exploding"]["runs"]["no_clip"][-1].update(
        grad_norm_pre_clip=None, update_norm=None, loss=None
    )
    g["exploding"]["summary"]["first_over_last"] = None
    g["cells"]["gru"]["trained"]["valid_loss"] = None  # a diverged training
    (gf / "gradflow.json").write_text(json.dumps(g))
    a = _args(tmp_path, tasks="adding", cells="rnn", lengths="10", gradflow=str(gf))
    assert long_term.run(a) == 0
    page = (tmp_path / "page" / "long-term.md").read_text()
    assert "## Gradient flow" in page and "| GRU | trained |" in page
    # Copied under the page's stem, so two pages in one folder keep their own figures.
    assert "![gradflow.png](figures/long-term-gradflow.png)" in page
    assert (tmp_path / "page" / "figures" / "long-term-exploding.png").is_file()
    assert "**Adding problem**" in page and "**Copy memory**" not in page  # only the tasks run
    over = "inf/nan (overflow)"
    assert f"| no clipping | 2 | {over} | {over} | {over} |" in page
    assert f"||dL/dh_0|| / ||dL/dh_T-1|| = {over}." in page
    assert f"| GRU | trained | {over} |" in page

    # a second folder adds its own table and figure after the first's
    gf2 = tmp_path / "gf2"
    args2 = ["gradflow", "--cells", "lstm-fb1", "--length", "10", "--hidden", "4", "--steps", "2"]
    assert main([*args2, "--probe", "4", "--no-explode", "--out", str(gf2)]) == 0
    a.gradflow = [str(gf), str(gf2)]
    assert long_term.run(a) == 0
    page = (tmp_path / "page" / "long-term.md").read_text()
    assert page.count("## Gradient flow") == 1 and "| LSTM, forget bias 1 | trained |" in page
    assert page.index("| GRU | trained |") < page.index("| LSTM, forget bias 1 | init |")
    assert "![gf2/gradflow.png](figures/long-term-gf2-gradflow.png)" in page
    assert f"--gradflow {gf} {gf2}" in page


def test_cli_estimate_and_bad_arguments(tmp_path):
    out = rnnlab(
        "experiment",
        "long-term",
        "--quick",
        "--estimate",
        "--tasks",
        "adding",
        "--cells",
        "rnn",
        "--lengths",
        "10",
    )
    assert out.returncode == 0, out.stderr
    assert "ms/step" in out.stdout and "total:" in out.stdout
    bad = rnnlab("experiment", "long-term", "--cells", "rnn,transformer")
    assert bad.returncode == 2 and "transformer" in bad.stderr and "Traceback" not in bad.stderr


def test_report_only_trains_nothing_and_marks_missing_runs(tmp_path):
    a = _args(tmp_path, tasks="copy", cells="lstm", lengths="10")
    assert long_term.run(a) == 0  # one finished run
    b = _args(tmp_path, tasks="copy", cells="lstm,gru", lengths="10,30", report_only=True)
    assert long_term.run(b) == 0
    assert len(list((tmp_path / "runs").glob("*/*/final.json"))) == 1  # nothing trained
    page = (tmp_path / "page" / "long-term.md").read_text()
    assert "**3 of 4 runs have not finished yet**" in page
    assert "| GRU | not run yet | not run yet |" in page
    # the baselines come from the definition: 10 ln 8 / (T + 20)
    assert "| *baseline* | 0.6931 | 0.4159 |" in page


def test_a_page_of_another_name_keeps_its_own_figures_and_command(tmp_path):
    a = _args(tmp_path, tasks="adding", cells="rnn", lengths="10")
    a.out = str(tmp_path / "page" / "budget.md")
    assert long_term.run(a) == 0
    page = (tmp_path / "page" / "budget.md").read_text()
    # rerunning the page's command must rewrite this page, not the default one
    assert f"--out {a.out}" in page
    assert "![validation error against steps](figures/budget-adding.png)" in page
    assert not (tmp_path / "page" / "figures" / "long-term-adding.png").exists()


def test_lengths_per_task(tmp_path):
    a = _args(tmp_path, quick=False, cells="rnn", lengths="adding:50,400/copy:100")
    assert long_term.grid(a) == [
        ("adding", 50, "rnn"),
        ("adding", 400, "rnn"),
        ("copy", 100, "rnn"),
    ]
    for bad, message in (
        ("adding:50/music:10", "TASK one of adding, copy"),
        ("adding:50", "no length for copy"),
        ("adding:50/copy:x", "integers"),
        ("adding:50/copy:", "at least one value"),
    ):
        with pytest.raises(UserError, match=message):
            long_term.grid(_args(tmp_path, lengths=bad))
    # each task's table has its own columns
    b = _args(tmp_path, cells="rnn", lengths="adding:10,20/copy:30", report_only=True)
    assert long_term.run(b) == 0
    page = (tmp_path / "page" / "long-term.md").read_text()
    assert "| *baseline* | 0.1667 | 0.1667 |" in page and "| *baseline* | 0.4159 |" in page
    assert "--lengths adding:10,20/copy:30" in page


def test_only_the_published_grid_writes_the_published_page(tmp_path):
    from pathlib import Path

    def where(**kw):
        return long_term.results_path(
            _args(tmp_path, **{"out": None, "quick": False, **kw}), tmp_path
        )

    published = Path("docs/results/long-term.md")
    assert where() == published
    assert where(report_only=True, gradflow="docs/results/gradflow") == published
    other = tmp_path / "long-term-other.md"
    assert where(cells="rnn") == other
    assert where(lengths="50") == other
    assert where(tasks="adding") == other
    assert where(overrides=["train.max_steps=10"]) == other
    assert where(quick=True) == tmp_path / "long-term-quick.md"
    assert where(cells="rnn", out="x.md") == Path("x.md")
