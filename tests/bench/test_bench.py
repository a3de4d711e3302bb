"""``rnnlab bench`` at toy sizes: the rows, the JSON keys the issue names, the train-step line."""

from __future__ import annotations

import json

import pytest

from rnnlab.bench import harness, train_step
from rnnlab.cli import main

KEYS = {"cell", "variant", "engine", "T", "B", "D", "H", "device", "median_ms"}


def test_rows_cover_every_requested_cell_and_engine():
    rows = harness.run_benchmark(
        quick=True,
        sizes=[(3, 2, 4, 5)],
        cells=["lstm", "lstm-peephole", "gru-reset-before"],
        engines=["builtin", "fused", "reference"],
    )
    got = {(r.cell, r.engine) for r in rows}
    # torch has no kernel for the peephole LSTM or the reset-before GRU: no builtin row for them
    assert got == {
        ("lstm", "builtin"),
        ("lstm", "fused"),
        ("lstm", "reference"),
        ("lstm-peephole", "fused"),
        ("lstm-peephole", "reference"),
        ("gru-reset-before", "fused"),
        ("gru-reset-before", "reference"),
    }
    for r in rows:
        assert (r.T, r.B, r.D, r.H, r.device) == (3, 2, 4, 5, "cpu")
        assert r.median_ms > 0 and r.baseline_ms > 0
        # the ratio is the two medians of this run, not a separately rounded figure
        assert r.ratio_to_torch_lstm == pytest.approx(r.median_ms / r.baseline_ms, rel=1e-2)


def test_cli_json_prints_the_issue_keys(capsys):
    rc = main(["bench", "--quick", "--json", "--cells", "rnn-tanh", "--sizes", "2x2x3x4"])
    assert rc == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["engine"] for r in rows] == list(harness.ENGINES)
    for r in rows:
        assert KEYS | {"ratio_to_torch_lstm"} <= set(r)
        assert r["cell"] == "rnn-tanh" and (r["T"], r["B"], r["D"], r["H"]) == (2, 2, 3, 4)


def test_cli_rejects_bad_sizes(capsys):
    assert main(["bench", "--sizes", "35x20"]) != 0
    assert "TxBxDxH" in capsys.readouterr().err


def test_train_step_line_runs_both_loops(monkeypatch):
    for name, value in {"V": 50, "E": 8, "H": 8, "B": 2, "T": 3}.items():
        monkeypatch.setattr(train_step, name, value)
    line = train_step.bench_train_step(quick=True)
    assert line["median_ms"] > 0 and line["baseline_ms"] > 0
    assert line["ratio"] == pytest.approx(line["median_ms"] / line["baseline_ms"], rel=1e-2)
