"""Gradient flow: the per-step norms are the chain rule's, the step-by-step run is the model's,
and the exploding case and clipping do what they say."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from rnnlab.diagnostics.gradflow import (
    build_task,
    hidden_grad_norms,
    parse_cells,
    probe_batch,
    set_spectral_radius,
    sgd_with_and_without_clipping,
    stepwise_forward,
    summarize,
    train_briefly,
)
from rnnlab.errors import UserError
from tests.train.conftest import rnnlab


@pytest.mark.parametrize("task_name", ["adding", "copy"])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "lstm-fb1", "gru", "mut1"])
def test_the_step_by_step_run_is_the_model(task_name, cell):
    task, model = build_task(task_name, cell, length=9, hidden=6, batch=4, seed=0)
    model.eval()
    x = probe_batch(task, 5)[0]
    hs, out = stepwise_forward(model, x)
    assert len(hs) == x.shape[0]
    full = model(x)  # the module's own engine (builtin or fused)
    last = full if task_name == "adding" else full[-1]  # (B, C) at the last step
    torch.testing.assert_close(out, last, atol=1e-5, rtol=1e-4)


def test_tanh_rnn_norms_are_the_chain_rule():
    """dL/dh_{t-1} = W_hh^T ((1 - h_t^2) * dL/dh_t), from dL/dh_{T-1} = 2 (y_hat - y) w."""
    task, model = build_task("adding", "rnn", length=15, hidden=5, batch=4, seed=3)
    model = model.double().eval()
    x, y = probe_batch(task, 6)
    x = x.double()
    norms = hidden_grad_norms(model, task, (x, y))
    rnn = model.encoder.rnn
    W_ih, W_hh, b_ih, b_hh = (p.detach().numpy() for p in rnn.layer_params(0, 0))
    w, c = model.head.weight.detach().numpy()[0], model.head.bias.item()
    X = x.numpy()
    T, B, _ = X.shape
    h = np.zeros((B, 5))
    hs = []
    for t in range(T):
        h = np.tanh(X[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
        hs.append(h)
    err = hs[-1] @ w + c - y.double().numpy()[0]  # (B,)
    g = 2 * err[:, None] * w[None, :]  # (B, H): dL_b/dh_{T-1}
    want = [None] * T
    for t in range(T - 1, -1, -1):
        want[t] = np.linalg.norm(g, axis=1).mean()
        g = (g * (1 - hs[t] ** 2)) @ W_hh
    np.testing.assert_allclose(norms, want, rtol=1e-10)


def test_summary_of_a_geometric_decay():
    T = 40
    norms = 0.5 ** np.arange(T - 1, -1, -1.0)  # halves with every step back from the loss
    s = summarize(norms)
    assert s["log10_per_step"] == pytest.approx(np.log10(0.5))
    assert s["first_over_last"] == pytest.approx(0.5 ** (T - 1))
    assert s["steps_to_1e-3"] == 10  # 0.5^10 = 9.8e-4 is the first below 1e-3


def test_large_recurrent_weights_explode_and_clipping_bounds_the_update():
    task, model = build_task("adding", "rnn", length=30, hidden=16, batch=8, seed=0)
    batch = probe_batch(task, 20)
    vanishing = summarize(hidden_grad_norms(model, task, batch))
    old = set_spectral_radius(model, 3.0)
    W = model.encoder.rnn.layer_params(0, 0)[1].detach().double()
    assert float(torch.linalg.eigvals(W).abs().max()) == pytest.approx(3.0)
    assert old < 1.0  # torch's init: U(-1/sqrt(H), 1/sqrt(H)) has radius about 1/sqrt(3)
    exploding = summarize(hidden_grad_norms(model, task, batch))
    assert vanishing["first_over_last"] < 1e-3 < 1e3 < exploding["first_over_last"]
    runs = sgd_with_and_without_clipping(model, task, steps=4, lr=0.1, clip=1.0)
    for r in runs["clip"]:
        assert r["grad_norm_post_clip"] == pytest.approx(
            min(1.0, r["grad_norm_pre_clip"]), rel=1e-5
        )
        assert r["update_norm"] == pytest.approx(0.1 * r["grad_norm_post_clip"], rel=1e-4)
    for r in runs["no_clip"]:
        assert r["grad_norm_post_clip"] == r["grad_norm_pre_clip"]
    assert runs["no_clip"][0]["grad_norm_pre_clip"] > 1.0  # the clip had something to cut


def test_cell_names():
    assert parse_cells("rnn, lstm,gru,rnn") == ["rnn", "lstm", "gru"]
    with pytest.raises(UserError, match="valid: rnn"):
        parse_cells("rnn,elman")


def test_cli_writes_json_and_figures(tmp_path):
    out = tmp_path / "gf"
    res = rnnlab(
        "gradflow",
        "--cells",
        "rnn,lstm",
        "--length",
        "12",
        "--hidden",
        "6",
        "--steps",
        "3",
        "--probe",
        "5",
        "--explode-steps",
        "3",
        "--out",
        str(out),
        check=True,
    )
    assert "gradflow.json" in res.stdout
    data = json.loads((out / "gradflow.json").read_text())
    assert data["command"].startswith("rnnlab gradflow --cells rnn,lstm")
    for cell in ("rnn", "lstm"):
        for phase in ("init", "trained"):
            assert len(data["cells"][cell][phase]["norms"]) == 12
    assert len(data["exploding"]["runs"]["clip"]) == 3
    assert (out / "gradflow.png").stat().st_size > 1000
    assert (out / "exploding.png").stat().st_size > 1000
    bad = rnnlab("gradflow", "--cells", "rnn,elman", "--out", str(tmp_path / "x"))
    assert bad.returncode == 2 and "elman" in bad.stderr and "Traceback" not in bad.stderr


def test_a_run_without_a_terminal_logs_a_line_per_cell(capsys, monkeypatch):
    task, model = build_task("adding", "gru", length=6, hidden=4, batch=4, seed=0)
    monkeypatch.delenv("RNNLAB_NO_PROGRESS", raising=False)
    records = train_briefly(model, task, steps=20, lr=1e-3, clip=1.0, label="gru")
    err = capsys.readouterr().err.splitlines()  # captured: stderr is not a terminal
    assert err[0] == "gradflow: training gru for 20 steps"
    assert err[1].startswith("gradflow: gru trained in ") and err[1].endswith(
        f"last loss {records[-1]['loss']:.4g}"
    )
    monkeypatch.setenv("RNNLAB_NO_PROGRESS", "1")  # asked for silence
    train_briefly(model, task, steps=10, lr=1e-3, clip=1.0, label="gru")
    assert capsys.readouterr().err == ""


def test_an_interrupted_run_resumes_after_its_last_finished_cell(tmp_path, monkeypatch, capsys):
    import rnnlab.diagnostics.gradflow as gradflow
    from rnnlab.cli import main

    out = tmp_path / "gf"
    argv = [
        "gradflow",
        "--cells",
        "rnn,gru",
        "--length",
        "8",
        "--hidden",
        "4",
        "--steps",
        "5",
        "--probe",
        "3",
        "--no-explode",
        "--out",
        str(out),
    ]
    real = gradflow.train_briefly

    def interrupted_at_gru(model, task, steps, lr, clip, label=""):
        if label == "gru":
            raise KeyboardInterrupt
        return real(model, task, steps, lr, clip, label=label)

    monkeypatch.setattr(gradflow, "train_briefly", interrupted_at_gru)
    assert main(argv) == 130
    assert f"rerun with --out {out}" in capsys.readouterr().err  # where the finished cells are
    saved = json.loads((out / "gradflow.partial.json").read_text())
    assert list(saved["cells"]) == ["rnn"] and not (out / "gradflow.json").exists()

    trained = []
    monkeypatch.setattr(
        gradflow,
        "train_briefly",
        lambda *a, label="", **k: trained.append(label) or real(*a, label=label, **k),
    )
    capsys.readouterr()
    assert main(argv) == 0
    assert trained == ["gru"]  # rnn was not measured again
    assert "reusing rnn" in capsys.readouterr().err
    data = json.loads((out / "gradflow.json").read_text())
    assert data["cells"]["rnn"] == saved["cells"]["rnn"] and list(data["cells"]) == ["rnn", "gru"]
    assert not (out / "gradflow.partial.json").exists()

    # measured afresh, the reused cell has the same numbers (each cell is seeded on its own)
    fresh = tmp_path / "fresh"
    assert main([*argv[:-1], str(fresh)]) == 0
    again = json.loads((fresh / "gradflow.json").read_text())["cells"]["rnn"]
    assert again["trained"]["norms"] == data["cells"]["rnn"]["trained"]["norms"]

    # a run of other cells keeps the unfinished run's cells it did not measure for later
    partial = out / "gradflow.partial.json"
    partial.write_text(json.dumps(saved))
    assert main([*argv[:2], "gru", *argv[3:]]) == 0
    assert list(json.loads(partial.read_text())["cells"]) == ["rnn"]
    trained.clear()
    assert main(argv) == 0 and trained == ["gru"] and not partial.exists()

    # a reused cell whose numbers overflowed (inf, nan) is reported as a fresh one would be
    overflowed = json.loads(json.dumps(saved))
    overflowed["cells"]["rnn"]["trained"]["valid_loss"] = float("nan")
    overflowed["cells"]["rnn"]["trained"]["summary"]["first_over_last"] = float("inf")
    partial.write_text(json.dumps(overflowed))
    assert main(argv) == 0 and (out / "gradflow.png").is_file()
    assert (
        json.loads((out / "gradflow.json").read_text())["cells"]["rnn"]["trained"]["valid_loss"]
        is None
    )

    # a partial file of another shape is measured again, not a traceback
    for bad in (
        "null",
        "[1, 2]",
        json.dumps({**saved, "cells": []}),
        json.dumps({**saved, "cells": {"rnn": {}}}),
    ):
        partial.write_text(bad)
        trained.clear()
        assert main(argv) == 0 and trained == ["rnn", "gru"]
        assert "unreadable: measuring every cell" in capsys.readouterr().err

    # a partial file from other settings is not reused
    (out / "gradflow.partial.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert main([*argv[:7], "--steps", "6", *argv[9:]]) == 0
    assert "other settings: not reused" in capsys.readouterr().err


def test_orthogonal_tanh_rnn_keeps_the_gradient_longer_at_initialisation():
    """rnn-orth is the tanh RNN with recurrent_init = "orthogonal": the same model otherwise, and
    at initialisation dL/dh_t decays more slowly with distance than under torch.nn's uniform init
    (whose W_hh has eigenvalues of modulus up to ~1/sqrt(3))."""
    slopes = {}
    for cell in ("rnn", "rnn-orth"):
        task, model = build_task("adding", cell, length=40, hidden=32, batch=4, seed=0)
        assert model.encoder.rnn.recurrent_init == (
            "orthogonal" if cell == "rnn-orth" else "uniform"
        )
        norms = np.asarray(hidden_grad_norms(model.eval(), task, probe_batch(task, 50)))
        dist = np.arange(len(norms))[::-1]  # T-1-t
        slopes[cell] = np.polyfit(dist, np.log10(norms), 1)[0]  # decades lost per step back
    assert slopes["rnn"] < 2 * slopes["rnn-orth"] < 0
