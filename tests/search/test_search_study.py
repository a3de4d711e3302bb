"""Studies in one process: trials are runs, failures are recorded, studies resume, pruning, and
an interrupted trial resumes its run exactly."""

from __future__ import annotations

import json
import os
from pathlib import Path

import optuna
import pytest
import torch
from optuna.trial import TrialState

from rnnlab.errors import UserError
from rnnlab.search.plots import summarize
from rnnlab.search.space import parse_space
from rnnlab.search.study import Counts, Search
from tests.train.conftest import TEXT

LR = {"train": {"lr": {"scale": "log", "low": 1e-3, "high": 1e-1}}}
LR_WD = {
    "train": {
        "lr": {"scale": "log", "low": 1e-3, "high": 1e-1},
        "weight_decay": {"scale": "log", "low": 1e-6, "high": 1e-3},
    }
}


@pytest.fixture(autouse=True)
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def base(tmp_path) -> dict:
    """A tiny LM config: 20 steps, evaluated at steps 10 and 20."""
    text = tmp_path / "corpus.txt"
    text.write_text(TEXT)
    return {
        "task": "lm",
        "name": "tiny",
        "seed": 3,
        "data": {"dataset": "text", "path": str(text), "bptt": 8, "eval_batch_size": 2},
        "model": {"cell": "lstm", "embed_size": 8, "hidden_size": 16, "num_layers": 1},
        "train": {
            "epochs": 1,
            "max_steps": 20,
            "batch_size": 4,
            "lr": 0.01,
            "clip_norm": 1.0,
            "eval_every": 10,
            "log_every": 5,
            "checkpoint_minutes": 0.0,
        },
    }


def search(base, tmp_path, space=LR_WD, **kw) -> Search:
    settings = {"sampler": "random", "trials": 3, "study": "s", "runs_dir": tmp_path / "runs"}
    settings.update(kw)
    return Search(base, parse_space(space), say=lambda _: None, **settings)


def test_trials_are_runs_and_outputs_are_written(base, tmp_path):
    s = search(base, tmp_path)
    study = s.run()
    assert s.storage_url == f"sqlite:///{(tmp_path / 'runs/search/s/study.db').resolve()}"
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 3
    for t in study.trials:
        run = Path(t.user_attrs["run_dir"])
        assert run.parent.parent == tmp_path / "runs" / "search" / "s" / "trials"
        final = json.loads((run / "final.json").read_text())
        assert t.value == pytest.approx(final["valid"]["loss"])  # the best checkpoint's loss
        config = (run / "config.toml").read_text()
        assert f"lr = {t.params['train.lr']!r}" in config
        assert f'name = "s-t{t.number:04d}"' in config
        assert t.user_attrs["steps"] == 20
    summary = summarize(study, s.space, s.folder, top=2)
    values = sorted(t.value for t in study.trials)
    assert [float(r[2]) for r in summary.rows] == pytest.approx(values[:2], abs=1e-4)
    assert summary.header[:5] == ["rank", "trial", "valid loss", "train.lr", "train.weight_decay"]
    for name in ("best.md", "trials.csv", "scatter.png", "importances.png"):
        assert (s.folder / name).is_file(), name
    assert set(summary.importances) == {"train.lr", "train.weight_decay"}
    assert sum(summary.importances.values()) == pytest.approx(1.0)
    csv = (s.folder / "trials.csv").read_text().splitlines()
    assert len(csv) == 4 and csv[0].startswith("trial,state,value,train.lr")
    assert csv[0].endswith(",run_dir,worker") and csv[1].endswith(f":{os.getpid()}")


def test_a_study_resumes_to_its_budget_and_refuses_another_search(base, tmp_path):
    first = search(base, tmp_path, trials=2).run()
    assert len(first.trials) == 2
    study = search(base, tmp_path, trials=3).run()
    assert len(study.trials) == 3 and Counts.of(study.trials).done == 3
    # the random sampler of the second session is seeded differently: no repeated trial
    assert len({t.params["train.lr"] for t in study.trials}) == 3
    with pytest.raises(UserError, match="different --sampler"):
        search(base, tmp_path, sampler="tpe").open()
    with pytest.raises(UserError, match="different search space"):
        search(base, tmp_path, space=LR).open()
    changed = {**base, "seed": 4}
    with pytest.raises(UserError, match="different config"):
        search(changed, tmp_path).open()


def test_diverged_trials_fail_and_the_study_goes_on(base, tmp_path):
    base["model"].update(cell="rnn", variant={"nonlinearity": "relu"})
    base["train"].update(optimizer="sgd", clip_norm=0.0)
    space = {"train": {"lr": {"choices": [0.01, 1e4]}}}
    study = search(base, tmp_path, space=space, sampler="grid", trials=5).run()  # grid: 2 points
    by_lr = {t.params["train.lr"]: t for t in study.trials}
    assert len(study.trials) == 2
    assert by_lr[1e4].state == TrialState.FAIL
    assert by_lr[1e4].user_attrs["failure"].startswith("diverged: the training loss is nan")
    assert by_lr[0.01].state == TrialState.COMPLETE
    assert Counts.of(study.trials) == Counts(done=2, running=0, waiting=0, interrupted=0)
    summary = summarize(study, parse_space(space), tmp_path / "out")
    assert summary.counts == {"complete": 1, "fail": 1}


def test_pruner_stops_a_bad_trial_at_an_evaluation(base, tmp_path):
    base["train"]["max_steps"] = 40  # evaluations at steps 10, 20, 30, 40
    s = search(base, tmp_path, space=LR, pruner="median", trials=3)
    s.open()
    for lr in (0.05, 0.03, 1e-3):  # the third learns far less
        s.study.enqueue_trial({"train.lr": lr})
    study = s.run()
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.PRUNED]
    pruned = study.trials[2]
    assert pruned.user_attrs["steps"] == 30  # its 3rd evaluation: the first one judged
    assert list(pruned.intermediate_values) == [10, 20, 30]
    assert pruned.intermediate_values[30] > max(t.intermediate_values[30] for t in study.trials[:2])


def test_interrupted_trial_is_requeued_and_resumes_its_run_exactly(base, tmp_path, monkeypatch):
    from rnnlab.train.trainer import Trainer

    space = {"train": {"lr": {"choices": [0.02]}}}
    # the same trial, never interrupted
    reference = search(base, tmp_path, space=space, sampler="grid", trials=1, study="ref").run()
    # interrupt the first run after its checkpoint at step 10 (the 2nd: step 0 is the 1st)
    real, calls = Trainer.save_checkpoint, {"n": 0}

    def interrupted(self, best=False):
        real(self, best)
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "save_checkpoint", interrupted)
    with pytest.raises(KeyboardInterrupt):
        search(base, tmp_path, space=space, sampler="grid", trials=1).run()
    monkeypatch.setattr(Trainer, "save_checkpoint", real)
    said = []
    s = search(base, tmp_path, space=space, sampler="grid", trials=1)
    s.say = said.append
    study = s.run()
    first, retry = study.trials
    assert first.state == TrialState.FAIL and "failure" not in first.user_attrs
    assert retry.state == TrialState.COMPLETE and retry.user_attrs["resume_of"] == 0
    assert retry.user_attrs["run_dir"] == first.user_attrs["run_dir"]
    assert "trial 0 was interrupted: queued again (it resumes its run)" in said
    assert any("resuming trial 0's run at step 10" in line for line in said)
    # exact resume: the same validation loss as the run never interrupted
    assert retry.value == reference.trials[0].value
    records = [json.loads(x) for x in open(Path(retry.user_attrs["run_dir"]) / "metrics.jsonl")]
    assert [r["step"] for r in records if r["split"] == "valid"].count(10) == 1


def test_bad_arguments(base, tmp_path):
    with pytest.raises(UserError, match="unknown sampler"):
        search(base, tmp_path, sampler="annealing")
    with pytest.raises(UserError, match="--study"):
        search(base, tmp_path, study="a/b")
    with pytest.raises(UserError, match="expected an RDB URL"):
        search(base, tmp_path, storage="study.db").open()
    s = search(base, tmp_path, space={"train": {"lr": {"choices": [0.01, 0.02]}}}, sampler="grid")
    assert s.trials == 2  # a grid of 2 points: 2 trials, not 3
    # every choice is checked before the search starts, not only the first and the last
    cells = {"model": {"cell": {"choices": ["lstm", "lstmm", "gru"]}}}
    with pytest.raises(UserError, match="unknown cell 'lstmm'"):
        search(base, tmp_path, space=cells, sampler="grid")


def test_memory_storage_for_one_process(base, tmp_path):
    study = search(base, tmp_path, storage=":memory:", trials=2).run()
    assert isinstance(study._storage, optuna.storages.InMemoryStorage)
    assert Counts.of(study.trials).done == 2
