"""Ensembles of classifier runs: the probability average, its metrics, and ``rnnlab eval A B``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.errors import UserError
from rnnlab.tasks.base import build_run_config
from rnnlab.train.ensemble import evaluate_runs, mean_probabilities, probability_metrics
from rnnlab.train.trainer import Trainer
from tests.tasks.test_classify import toy_raw, write_toy_tsv
from tests.train.conftest import rnnlab


def test_mean_probabilities_average_softmaxes_not_logits():
    a = np.array([[10.0, 0.0], [0.0, 0.0]])  # very sure of class 0, then undecided
    b = np.array([[0.0, 1.0], [0.0, np.log(3.0)]])
    p = mean_probabilities([a, b])
    s = 1 / (1 + np.exp(-10.0))
    e = 1 / (1 + np.e)
    np.testing.assert_allclose(p[0], [(s + e) / 2, (1 - s + 1 - e) / 2], rtol=1e-12)
    np.testing.assert_allclose(p[1], [(0.5 + 0.25) / 2, (0.5 + 0.75) / 2], rtol=1e-12)
    # averaging logits instead would give [5, 0.5]: class 0 with p = sigmoid(4.5) = 0.989
    assert p[0, 0] == pytest.approx(0.6344, abs=1e-4)


def test_probability_metrics_are_cross_entropy_and_accuracy():
    probs = np.array([[0.9, 0.1], [0.4, 0.6], [0.7, 0.3]])
    m = probability_metrics(probs, np.array([0, 0, 1]))
    assert m["loss"] == pytest.approx(-(np.log(0.9) + np.log(0.4) + np.log(0.3)) / 3)
    assert m["acc"] == pytest.approx(1 / 3)
    # one member is its own ensemble: the metrics equal torch's cross-entropy of its logits
    z = np.random.default_rng(0).normal(size=(7, 3))
    y = np.array([0, 1, 2, 2, 1, 0, 0])
    ce = torch.nn.functional.cross_entropy(torch.from_numpy(z), torch.from_numpy(y))
    assert probability_metrics(mean_probabilities([z]), y)["loss"] == pytest.approx(float(ce))


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("ens")
    folder = write_toy_tsv(root / "d", n_train=96, n_dev=40)
    runs = []
    for seed in (1, 2):
        raw = toy_raw(folder, epochs=2)
        raw["seed"], raw["name"] = seed, f"toy-s{seed}"
        trainer = Trainer.start(build_run_config(raw), root=root, quiet=True)
        trainer.fit()
        runs.append(str(trainer.run.path))
    return root, folder, runs


def test_the_ensemble_of_two_runs_averages_their_predictions(two_runs):
    from rnnlab.train.cli import load_trained

    _, _, runs = two_runs
    try:
        rows = evaluate_runs(runs, "valid")
        logits = []
        for ref in runs:
            _, _, task, model = load_trained(ref)
            z, labels = task.predict_split(model, "valid")
            logits.append(z)
            assert task.evaluate(model, "valid")["acc"] == pytest.approx(
                rows[len(logits) - 1][1]["acc"]
            )
    finally:
        torch.set_grad_enabled(True)  # load_trained turns it off for the process
    assert [name for name, _ in rows][-1] == "ensemble of 2"
    want = probability_metrics(mean_probabilities(logits), labels)
    assert rows[-1][1] == pytest.approx(want)


def test_cli_eval_of_several_runs_prints_the_ensemble_and_rejects_mismatches(two_runs, tmp_path):
    root, _, runs = two_runs
    out = rnnlab("eval", *runs, "--split", "valid", check=True)
    assert "ensemble of 2" in out.stdout and "toy-s1" in out.stdout
    # classify has no labelled test split, so without --split both forms score valid
    assert rnnlab("eval", *runs, check=True).stdout == out.stdout
    single = rnnlab("eval", runs[0], check=True).stdout
    assert "valid: loss" in " ".join(single.split())  # rich wraps long run paths
    assert single == rnnlab("eval", runs[0], "--split", "valid").stdout
    other = write_toy_tsv(tmp_path / "other", n_train=96, n_dev=30, seed=5)
    raw = toy_raw(other, epochs=1)
    trainer = Trainer.start(build_run_config(raw), root=tmp_path, quiet=True)
    trainer.fit()
    out = rnnlab("eval", runs[0], str(trainer.run.path), "--split", "valid")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "do not read the same valid examples" in out.stderr
    out = rnnlab("eval", runs[0], runs[0], "--split", "valid")
    assert out.returncode == 2 and "are the same run" in out.stderr


def test_only_classification_runs_can_be_ensembled(tmp_path):
    from tests.train.conftest import TEXT, tiny_config

    text = tmp_path / "t.txt"
    text.write_text(TEXT)
    cfg = tiny_config(tmp_path / "c.toml", text, epochs=1)
    rnnlab("train", "lm", "--config", str(cfg), "--runs-dir", str(tmp_path / "r"), check=True)
    (run,) = (tmp_path / "r" / "lm").iterdir()
    out = rnnlab("eval", str(run), str(run), "--split", "valid")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "cannot be ensembled" in out.stderr
    with pytest.raises(UserError, match="cannot be ensembled"):
        evaluate_runs([str(run)], "valid")
    torch.set_grad_enabled(True)
