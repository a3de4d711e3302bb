"""Sentence classification: batching, vocabulary, learning a toy sentiment set, the CLI (report,
bad input, kill and resume), and SST-2 itself when the benchmark data is present."""

from __future__ import annotations

import json
import random
import signal
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.tasks.base import build_run_config
from rnnlab.tasks.classify import bucketed_batches, shuffled_batches
from rnnlab.train.trainer import Trainer
from tests.train.conftest import rnnlab

POS, NEG = ["good", "great", "fine", "lovely"], ["bad", "awful", "poor", "dull"]
FILLER = ["the", "film", "a", "plot", "is", "was", "and", "very", "it", "story", "acting"]


def _sentence(rng: random.Random, label: int) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(2, 12))]
    words.insert(rng.randint(0, len(words)), rng.choice(POS if label else NEG))
    return " ".join(words)


def write_toy_tsv(folder: Path, n_train=240, n_dev=60, seed=0) -> Path:
    """A sentiment set in SST-2's format: the label is carried by one word among fillers."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train.tsv", n_train), ("dev.tsv", n_dev)):
        rows = ["sentence\tlabel"]
        for i in range(n):
            label = i % 2
            s = _sentence(rng, label)
            if name == "dev.tsv" and i == 0:
                s += " unseenword"
            rows.append(f"{s} \t{label}")
        (folder / name).write_text("\n".join(rows) + "\n")
    return folder


def toy_raw(folder: Path, **train) -> dict:
    return {
        "task": "classify",
        "name": "toy",
        "seed": 1,
        "data": {"dataset": "tsv", "path": str(folder)},
        "model": {
            "cell": "gru",
            "embed_size": 16,
            "hidden_size": 16,
            "pooling": "max",
            "bidirectional": True,
        },
        "train": {
            "batch_size": 16,
            "lr": 1e-2,
            "epochs": 4,
            "threads": 1,
            "log_every": 5,
            "checkpoint_minutes": 0.0,
            **train,
        },
    }


def test_bucketed_batches_cover_every_example_once_and_cut_padding():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 50, size=1000)
    batches = bucketed_batches(lengths, 16, seed=3, epoch=2, pool=10)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    again = bucketed_batches(lengths, 16, seed=3, epoch=2, pool=10)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))  # a function of (seed, epoch)
    other = bucketed_batches(lengths, 16, seed=3, epoch=3, pool=10)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other))
    plain = shuffled_batches(1000, 16, seed=3, epoch=2)

    def padded(bs):
        return sum(lengths[b].max() * len(b) for b in bs)

    assert padded(batches) < 0.7 * padded(plain)


def test_vocabulary_and_unknown_words(tmp_path):
    folder = write_toy_tsv(tmp_path / "d")
    trainer = Trainer.start(build_run_config(toy_raw(folder)), root=tmp_path, quiet=True)
    task = trainer.task
    assert task.vocab.index("<pad>") == 0 and task.vocab.index("<unk>") == 1
    ids, lengths, labels = task.examples["valid"]
    assert ids[0][-1] == task.vocab.unk_id  # "unseenword" is not in the training data
    assert set(labels.tolist()) == {0, 1}
    x, L, y = task.train_loader(0)[0]
    assert x.shape == (int(L.max()), 16) and x.dtype == torch.long
    for b in range(16):
        assert (x[L[b] :, b] == 0).all() and (x[: L[b], b] != 0).all()


def test_word_dropout_replaces_training_tokens_only_and_replays(tmp_path):
    folder = write_toy_tsv(tmp_path / "d", n_train=2000)
    raw = toy_raw(folder, batch_size=64)
    raw["data"]["word_dropout"] = 0.25
    task = Trainer.start(build_run_config(raw), root=tmp_path / "a", quiet=True).task
    plain = task._make("train")  # no epoch: what evaluation uses
    unk = task.vocab.unk_id
    loader = task.train_loader(3)
    dropped = real = 0
    for k in range(len(loader)):
        x, L, _ = loader[k]
        clean, _, _ = plain(loader.index_lists[k])
        pad = clean == 0
        assert (x[pad] == 0).all()  # padding stays padding
        changed = x != clean
        assert (x[changed] == unk).all()  # a dropped word becomes <unk>, nothing else
        dropped += int(changed.sum())
        real += int((~pad & (clean != unk)).sum())
    # about a quarter of the known words go: 4 standard deviations of Binomial(real, 0.25)
    assert abs(dropped / real - 0.25) < 4 * (0.25 * 0.75 / real) ** 0.5
    x1 = task.train_loader(3)[5][0]
    assert torch.equal(x1, loader[5][0])  # a function of (seed, epoch, batch): resume replays it
    assert not torch.equal(task.train_loader(4)[5][0], x1)
    with pytest.raises(Exception, match="word_dropout"):
        bad = toy_raw(folder)
        bad["data"]["word_dropout"] = 1.0
        build_run_config(bad)


def test_a_bidirectional_gru_learns_the_toy_sentiment(tmp_path):
    folder = write_toy_tsv(tmp_path / "d")
    trainer = Trainer.start(build_run_config(toy_raw(folder)), root=tmp_path, quiet=True)
    first = trainer.evaluate("valid")
    assert first["loss"] == pytest.approx(np.log(2), abs=0.15)  # chance: ln 2
    final = trainer.fit()
    assert final["valid"]["acc"] > 0.95, final  # one word decides: nearly all right


def _toml(raw: dict) -> str:
    lines = []
    for k in ("task", "name", "seed"):
        lines.append(f"{k} = {json.dumps(raw[k])}")
    for section in ("data", "model", "train"):
        lines.append(f"[{section}]")
        for k, v in raw[section].items():
            lines.append(f"{k} = {json.dumps(v)}")
    return "\n".join(lines) + "\n"


def test_cli_train_report_and_exact_resume(tmp_path):
    folder = write_toy_tsv(tmp_path / "d", n_train=96, n_dev=20)
    cfg = tmp_path / "c.toml"
    cfg.write_text(_toml(toy_raw(folder, epochs=2, eval_every=4)))
    ref = rnnlab(
        "train", "classify", "--config", str(cfg), "--runs-dir", str(tmp_path / "ref"), check=True
    )
    (run,) = (tmp_path / "ref" / "classify").iterdir()
    report = (run / "report.html").read_text()
    assert "Dev confusion matrix" in report and "acc" in ref.stdout
    cut = rnnlab(
        "train",
        "classify",
        "--config",
        str(cfg),
        "--runs-dir",
        str(tmp_path / "cut"),
        "--no-report",
        env={"RNNLAB_FAULT": "checkpoint-write:3"},
    )
    assert cut.returncode == -signal.SIGKILL
    (killed,) = (tmp_path / "cut" / "classify").iterdir()
    rnnlab("train", "--resume", str(killed), "--no-report", check=True)
    a, b = (json.loads((r / "final.json").read_text()) for r in (run, killed))
    a.pop("train_seconds")
    b.pop("train_seconds")
    assert a == b  # the resumed run ends exactly where the uninterrupted one did


def test_cli_bad_inputs_fail_cleanly(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(_toml(toy_raw(tmp_path / "missing")))
    out = rnnlab("train", "classify", "--config", str(cfg), "--runs-dir", str(tmp_path / "r"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "train.tsv" in out.stderr
    folder = write_toy_tsv(tmp_path / "d")
    bad = folder / "dev.tsv"
    bad.write_text(bad.read_text() + "an extra row\t7\n")
    cfg.write_text(_toml(toy_raw(folder)))
    out = rnnlab("train", "classify", "--config", str(cfg), "--runs-dir", str(tmp_path / "r"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "dev.tsv line 62" in out.stderr and "label" in out.stderr


def test_bad_model_options_name_the_key(tmp_path):
    from rnnlab.errors import ConfigError

    raw = toy_raw(tmp_path)
    raw["model"]["pooling"] = "sum"
    with pytest.raises(ConfigError, match=r"model\.pooling"):
        build_run_config(raw)
    raw["model"].update(pooling="max", cell="lstm", variant={"reset": "before"})
    folder = write_toy_tsv(tmp_path / "d")
    raw["data"]["path"] = str(folder)
    with pytest.raises(ConfigError, match="reset"):
        Trainer.start(build_run_config(raw), root=tmp_path, quiet=True)


def test_sst2_loads_with_its_published_sizes(real_data_dir, monkeypatch):
    from rnnlab.tasks.classify import ClassifyTask

    monkeypatch.setenv("RNNLAB_DATA", str(real_data_dir))
    cfg = build_run_config({"task": "classify", "data": {"dataset": "sst2"}})
    task = ClassifyTask(cfg)
    task.prepare()
    assert len(task.examples["train"][0]) == 67349
    assert len(task.examples["valid"][0]) == 872
    assert task.vocab.index("<pad>") == 0
    assert len(task.vocab) > 10000
    # the dev set is nearly balanced (444 positive of 872)
    assert int(task.examples["valid"][2].sum()) == 444


def _suffixed_dev(folder: Path) -> Path:
    """The toy set, but every dev sentence's sentiment word wears a suffix training never saw
    ("good" -> "goodly"): only its character n-grams can tell the class."""
    dev = folder / "dev.tsv"
    rows = dev.read_text().splitlines()
    out = [rows[0]]
    for row in rows[1:]:
        words = [w + "ly" if w in POS + NEG else w for w in row.split("\t")[0].split()]
        out.append(" ".join(words) + "\t" + row.split("\t")[1])
    dev.write_text("\n".join(out) + "\n")
    return folder


def test_subwords_classify_words_never_seen_in_training_and_survive_a_reload(tmp_path):
    from rnnlab.train.cli import load_trained

    folder = _suffixed_dev(write_toy_tsv(tmp_path / "d", n_train=400, n_dev=100))
    accs = {}
    for subwords in (False, True):
        raw = toy_raw(folder, epochs=6)
        raw["data"].update(subwords=subwords, subword_min_types=1, word_dropout=0.3)
        raw["name"] = f"toy-sub{int(subwords)}"
        trainer = Trainer.start(build_run_config(raw), root=tmp_path / "runs", quiet=True)
        accs[subwords] = trainer.fit()["valid"]["acc"]
    # without n-grams every dev sentiment word is <unk>: chance; with them, learned
    assert accs[False] < 0.65 and accs[True] > 0.9, accs
    task = trainer.task
    V = len(task.vocab)
    assert "goodly" in task.state()["extra_types"]
    assert max(max(ids) for ids in task.examples["valid"][0]) >= V  # outside-vocabulary ids
    sentence = task.decode(task.examples["valid"][0][1])
    assert "ly" in sentence and "<unk>" not in sentence  # unseen words keep their spelling
    from rnnlab.report.html import write_report

    report = write_report(trainer.run, model=trainer.model, task=task).read_text()
    assert task.decode(task.examples["valid"][0][0]) in report  # the dev examples' table
    try:
        _, _, again, model = load_trained(str(trainer.run.path))
        np.testing.assert_array_equal(again.subwords[0], task.subwords[0])
        z, _ = again.predict_split(model, "valid")
        assert again.evaluate(model, "valid")["acc"] == pytest.approx(accs[True])
    finally:
        torch.set_grad_enabled(True)  # load_trained turns it off for the process


def test_distillation_targets_are_the_teachers_tempered_probabilities(tmp_path):
    from rnnlab.errors import ConfigError, UserError
    from rnnlab.train.cli import load_trained

    folder = write_toy_tsv(tmp_path / "d")
    teachers = []
    for seed in (1, 2):
        raw = toy_raw(folder)
        raw.update(seed=seed, name=f"teacher{seed}")
        teachers.append(Trainer.start(build_run_config(raw), root=tmp_path / "t", quiet=True))
        teachers[-1].fit()
    raw = toy_raw(folder, epochs=3)
    raw["data"].update(
        teachers=[str(t.run.path) for t in teachers], distill_weight=0.7, distill_temperature=3.0
    )
    student = Trainer.start(build_run_config(raw), root=tmp_path / "s", quiet=True)
    task = student.task
    # the soft targets: the teachers' last checkpoints, softmax(z / 3), averaged
    probs = []
    for t in teachers:
        _, _, ttask, model = load_trained(str(t.run.path), "last")
        z, _ = ttask.predict_split(model, "train")
        probs.append(torch.softmax(torch.from_numpy(z).double() / 3.0, -1))
    want = (probs[0] + probs[1]) / 2
    np.testing.assert_allclose(task.soft_targets, want.numpy(), rtol=1e-5, atol=1e-7)
    # the training loss: 0.3 CE + 0.7 * 3^2 * KL(q || softmax(z / 3)), batch-mean
    loader = task.train_loader(0)
    batch = loader[0]
    idx = loader.index_lists[0]
    assert torch.equal(batch[3], torch.from_numpy(task.soft_targets[idx]))
    model = student.model.eval()
    with torch.no_grad():
        out = task.loss(model, batch)
        z = model(batch[0], batch[1]).double()
    q = batch[3].double()
    kl = (q * (q.log() - torch.log_softmax(z / 3.0, -1))).sum(-1).mean()
    ce = torch.nn.functional.cross_entropy(z, batch[2])
    assert out.loss.item() == pytest.approx(float(0.3 * ce + 0.7 * 9.0 * kl), rel=1e-5)
    assert len(task._make("valid")(np.arange(4))) == 3  # evaluation batches carry no soft targets
    assert student.fit()["valid"]["acc"] > 0.95  # the teachers score 100%: so does the student
    # teachers of other examples, and bad settings, are refused with the reason
    other = write_toy_tsv(tmp_path / "o", n_train=100, n_dev=20, seed=5)
    bad = toy_raw(other)
    bad["data"]["teachers"] = [str(teachers[0].run.path)]
    with pytest.raises(UserError, match="other training examples"):
        Trainer.start(build_run_config(bad), root=tmp_path / "b", quiet=True)
    bad["data"]["teachers"] = ["no-such-run"]
    with pytest.raises(UserError, match=r"data\.teachers: no run at 'no-such-run'"):
        Trainer.start(build_run_config(bad), root=tmp_path / "b", quiet=True)
    for key, value in (("distill_weight", 1.5), ("distill_temperature", 0.0)):
        wrong = toy_raw(folder)
        wrong["data"][key] = value
        with pytest.raises(ConfigError, match=key):
            build_run_config(wrong)
