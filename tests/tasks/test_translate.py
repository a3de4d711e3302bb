"""The translation task: text handling, batches, BLEU, training on the toy pairs, the translate
command and the heatmap."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from rnnlab.cli import main
from rnnlab.data import DataError, tokenize
from rnnlab.errors import ConfigError
from rnnlab.models.seq2seq import Hypothesis
from rnnlab.report.heatmap import alignment_figure, save_alignment
from rnnlab.tasks.base import build_run_config, load_run_config
from rnnlab.tasks.translate import (
    TranslateTask,
    bucket_batches,
    cased_tokenize,
    collate,
    corpus_bleu,
    detokenize,
    toy_pairs,
)
from rnnlab.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def _toy_config(**model):
    return build_run_config(
        {
            "task": "translate",
            "name": "toy",
            "seed": 0,
            "data": {
                "dataset": "toy",
                "toy_pairs": 320,
                "toy_words": 6,
                "toy_max_len": 5,
                "min_freq": 1,
                "eval_bleu": False,
            },
            "model": {
                "embed_size": 16,
                "hidden_size": 32,
                "attention": "bahdanau",
                "dropout": 0.0,
                "beam_size": 3,
                **model,
            },
            "train": {
                "epochs": 10,
                "batch_size": 16,
                "lr": 0.02,
                "clip_norm": 1.0,
                "threads": 1,
                "checkpoint_minutes": 0.0,
                "log_every": 100,
            },
        }
    )


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """A toy run trained to the end (a few seconds): reversal with Bahdanau attention."""
    trainer = Trainer.start(_toy_config(), root=tmp_path_factory.mktemp("runs"), quiet=True)
    trainer.fit()
    return trainer


@pytest.fixture
def keep_grad_mode():
    """``load_trained`` (inside the translate command) turns autograd off for the process."""
    mode = torch.is_grad_enabled()
    yield
    torch.set_grad_enabled(mode)


# ---------------------------------------------------------------------- text and BLEU
def test_cased_tokens_are_the_data_tokenizer_without_lowercasing():
    s = "Zwei junge, weiße Männer (im T-Shirt) \"Kids' Club\" sind's."
    toks = cased_tokenize(s)
    assert toks[:4] == ["Zwei", "junge", ",", "weiße"]
    assert [t.lower() for t in toks] == tokenize(s)
    assert detokenize(toks) == s.replace("Kids' ", "Kids ' ")  # the one thing not undone


def test_detokenize_hugs_quotes_and_punctuation():
    toks = cased_tokenize('A boat named "El Corazon" drops (black) weights.')
    assert detokenize(toks) == 'A boat named "El Corazon" drops (black) weights.'


def test_corpus_bleu_and_its_signature():
    score, sig = corpus_bleu(["A man eats bread."], ["A man eats bread."])
    assert score == pytest.approx(100.0)
    assert "case:mixed" in sig and "tok:13a" in sig and sig.startswith("nrefs:1")
    cased, _ = corpus_bleu(["a man is eating bread ."], ["A man is eating bread."])
    lower, sig_lc = corpus_bleu(["a man is eating bread ."], ["A man is eating bread."], True)
    assert "case:lc" in sig_lc
    assert lower == pytest.approx(100.0)  # 13a splits the '.' off in both
    assert cased == pytest.approx(75.98, abs=0.01)  # 'a' vs 'A': one unigram of 6 wrong


def test_toy_pairs_reverse_and_map_the_words():
    pairs = toy_pairs(50, seed=1, words=5, max_len=4)
    assert pairs == toy_pairs(50, seed=1, words=5, max_len=4)
    for s, t in pairs:
        src, tgt = s.split(), t.split()
        assert 2 <= len(src) <= 4
        assert tgt == [w.replace("q", "W") for w in reversed(src)]


# ---------------------------------------------------------------------- data and batches
def test_vocab_specials_min_freq_and_state_round_trip():
    task = TranslateTask(_toy_config())
    task.prepare()
    assert task.src_vocab.itos[:10] == [
        "<pad>",
        "<unk>",
        "<start>",
        "<end>",
        "q0",
        "q1",
        "q2",
        "q3",
        "q4",
        "q5",
    ]
    assert len(task.src_vocab) == len(task.tgt_vocab) == 10
    again = TranslateTask(_toy_config())
    again.prepare(task.state())
    assert again.src_vocab == task.src_vocab and again.ids == task.ids
    cfg = _toy_config()
    cfg.data.min_freq = 10**6
    rare = TranslateTask(cfg)
    rare.prepare()
    assert len(rare.src_vocab) == 4
    assert all(i == 1 for s, _ in rare.ids["test"] for i in s)  # every word is <unk>


def test_collate_shifts_the_target_and_pads():
    b = collate([([5, 6, 7], [8]), ([9], [10, 11])], [4, 2])
    assert b.src.T.tolist() == [[5, 6, 7], [9, 0, 0]]
    assert b.src_lens.tolist() == [3, 1]
    assert b.tgt_in.T.tolist() == [[2, 8, 0], [2, 10, 11]]
    assert b.tgt_out.T.tolist() == [[8, 3, 0], [10, 11, 3]]
    assert b.index.tolist() == [4, 2]


def test_bucketed_batches_cover_every_pair_once_with_little_padding():
    rng = random.Random(0)
    lengths = [(rng.randint(1, 30), rng.randint(1, 30)) for _ in range(1000)]
    batches = bucket_batches(lengths, 20, random.Random(7))
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert batches == bucket_batches(lengths, 20, random.Random(7))
    assert batches != bucket_batches(lengths, 20, random.Random(8))

    def padding(bs):
        return sum(
            max(lengths[i][0] for i in b) * len(b) - sum(lengths[i][0] for i in b) for b in bs
        )

    order = list(range(1000))
    random.Random(7).shuffle(order)
    plain = [order[i : i + 20] for i in range(0, 1000, 20)]
    assert padding(batches) < padding(plain) / 5


def test_train_loader_is_a_function_of_seed_and_epoch():
    task = TranslateTask(_toy_config())
    task.prepare()
    a, b, c = task.train_loader(0), task.train_loader(0), task.train_loader(1)
    assert len(a) == 20  # 320 pairs / 16
    assert all(torch.equal(a[i].src, b[i].src) for i in range(len(a)))
    assert any(not torch.equal(a[i].index, c[i].index) for i in range(len(a)))


def test_data_config_errors():
    with pytest.raises(ConfigError, match="must differ"):
        build_run_config({"task": "translate", "data": {"src": "en", "tgt": "en"}})
    with pytest.raises(ConfigError, match="min_freq"):
        build_run_config({"task": "translate", "data": {"min_freq": 0}})
    with pytest.raises(ConfigError, match=r"model\.attention"):
        build_run_config({"task": "translate", "model": {"attention": "luong"}})


def test_every_shipped_translate_config_is_valid():
    names = []
    for path in sorted((ROOT / "configs/translate").glob("*.toml")):
        cfg = load_run_config(path)
        assert cfg.task == "translate", path
        names.append(cfg.name)
    assert {"toy", "multi30k-bahdanau", "multi30k-none", "multi30k-luong"} <= set(names)


# ---------------------------------------------------------------------- training and decoding
def test_toy_run_learns_the_reversal_and_attends_anti_diagonally(toy_run):
    task, model = toy_run.task, toy_run.model
    bleu, sig, out = task.split_bleu(model, "test", beam_size=3)
    assert bleu > 90, bleu
    assert "case:mixed" in sig
    hits = rows = 0
    for t in out:
        S = len(t.source)
        for i in range(min(len(t.output), S)):
            rows += 1
            hits += int(t.attention[i].argmax()) == S - 1 - i  # output i reads source S-1-i
    assert hits / rows > 0.9


def test_evaluate_reports_the_mean_nll_and_bleu(toy_run):
    task, model = toy_run.task, toy_run.model
    task.cfg.data.eval_bleu = True
    try:
        m = task.evaluate(model, "valid")
    finally:
        task.cfg.data.eval_bleu = False
    total = n = 0
    with torch.no_grad():
        for batch in task.eval_batches("valid"):
            o, _ = model(batch.src, batch.src_lens, batch.tgt_in)
            keep = batch.tgt_out != 0
            logits = model.generator(o[keep])
            total += float(F.cross_entropy(logits, batch.tgt_out[keep], reduction="sum"))
            n += int(keep.sum())
    assert m["loss"] == pytest.approx(total / n, rel=1e-5)
    assert m["ppl"] == pytest.approx(torch.tensor(total / n).exp().item(), rel=1e-5)
    assert m["bleu"] == pytest.approx(task.split_bleu(model, "valid")[0])


def test_unk_handling():
    task = TranslateTask(_toy_config())
    task.prepare()
    attn = torch.tensor([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.2, 0.2, 0.6]])
    hyp = Hypothesis([task.tgt_vocab.index("W1"), 1], attn, -1.0)  # W1 <unk> (<end>)
    src = ["q1", "Zürich", "q2"]
    copy = task._finish(src, Hypothesis(hyp.tokens[::-1], attn, -1.0), "copy")
    assert copy.output == ["Zürich", "W1"] and copy.text == "Zürich W1"
    assert task._finish(src, hyp, "copy").output == ["W1", "q1"]
    assert task._finish(src, hyp, "remove").text == "W1"
    assert task._finish(src, hyp, "keep").text == "W1 <unk>"


def test_empty_and_unknown_sources(toy_run):
    task, model = toy_run.task, toy_run.model
    out = task.translate(model, ["", "q1 q2 neverseen", "q3"])
    assert out[0].text == "" and out[0].output == []
    assert out[1].source == ["q1", "q2", "neverseen"]
    assert out[2].attention.shape == (len(out[2].output) + 1, 1)


def test_a_trained_run_translates_without_the_data_set(toy_run, tmp_path, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path / "empty"))
    cfg = _toy_config()
    cfg.data.dataset = "multi30k"
    task = TranslateTask(cfg)
    task.prepare(toy_run.task.state())  # the vocabularies of a trained run: no data read
    (t,) = task.translate(toy_run.model, ["q1 q2 q3"])
    (want,) = toy_run.task.translate(toy_run.model, ["q1 q2 q3"])  # the task that read the data
    assert t.text == want.text and t.output == want.output
    assert t.output and set(t.output) <= {"W1", "W2", "W3"}  # a reversal-ish answer, not <unk>s
    with pytest.raises(DataError, match="multi30k"):
        task.raw  # noqa: B018 - reading the data now fails, and says which data set


def test_report_section_shows_translations_and_a_heatmap(toy_run):
    from rnnlab.report.html import write_report

    path = write_report(toy_run.run, model=toy_run.model, task=toy_run.task)
    page = path.read_text()
    assert "Translations (valid)" in page
    src, ref = toy_run.task.raw["valid"][0]
    assert f"<td>{src}</td>" in page and f"<td>{ref}</td>" in page
    assert 'alt="attention"' in page


# ---------------------------------------------------------------------- the command
def test_translate_command_prints_and_draws(toy_run, capsys, keep_grad_mode):
    run = toy_run.run.path
    assert main(["translate", str(run), "q1 q2 q3 q4"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == "W4 W3 W2 W1"
    png = run / "plots" / "translate-q1-q2-q3-q4.png"
    assert str(png) in err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # options may come between the run and the sentence
    assert main(["translate", str(run), "--beam", "2", "--heatmap", str(png), "q1 q2 q3 q4"]) == 0
    assert capsys.readouterr().out.strip() == "W4 W3 W2 W1"
    assert main(["translate", str(run), "--split", "test", "--beam", "3"]) == 0
    out, _ = capsys.readouterr()
    assert "BLEU" in out and "nrefs:1|case:mixed|eff:no|tok:13a" in out


def test_translate_command_files_and_errors(toy_run, tmp_path, capsys, keep_grad_mode):
    run = str(toy_run.run.path)
    src, ref, hyp = tmp_path / "in.txt", tmp_path / "ref.txt", tmp_path / "out.txt"
    src.write_text("q1 q2 q3 q4\nq5 q0 q3 q2 q1\n")  # BLEU needs 4-grams
    ref.write_text("W4 W3 W2 W1\nW1 W2 W3 W0 W5\n")
    assert (
        main(["translate", run, "-i", str(src), "-r", str(ref), "-o", str(hyp), "--beam", "1"]) == 0
    )
    assert hyp.read_text() == "W4 W3 W2 W1\nW1 W2 W3 W0 W5\n"
    assert "BLEU 100.00" in capsys.readouterr().out
    ref.write_text("W2 W1\n")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("q1 caf\xe9\n".encode("latin-1"))
    for argv, needle in (
        ([run, "-i", str(latin1)], "not UTF-8"),
        ([run, "-i", str(src), "-o", str(tmp_path)], "is a folder"),
        ([run, "-i", str(src), "-o", str(tmp_path / "no" / "out.txt")], "does not exist"),
    ):
        assert main(["translate", *argv]) == 2, argv
        assert needle in capsys.readouterr().err
    for argv in (
        [run, ""],
        [run],
        [run, "q1", "--split", "test"],
        [run, "-i", str(src), "-r", str(ref)],
        [run, "q1", "--beam", "0"],
        [run, "-i", str(tmp_path / "missing.txt")],
    ):
        assert main(["translate", *argv]) == 2, argv
        assert "error" in capsys.readouterr().err


# ---------------------------------------------------------------------- heatmap
def test_heatmap_checks_its_labels_and_writes_a_png(tmp_path):
    w = torch.softmax(torch.randn(3, 4), -1)
    fig = alignment_figure(w, ["a", "b", "c", "d"], ["x", "y", "<end>"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c", "d"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y", "<end>"]
    with pytest.raises(ValueError, match="do not match"):
        alignment_figure(w, ["a", "b"], ["x", "y", "<end>"])
    path = save_alignment(tmp_path / "sub" / "h.png", w.numpy(), list("abcd"), ["x", "y", "<end>"])
    assert path.read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------------- real data
def test_multi30k_vocabularies_and_detokenised_references(real_data_dir, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA", str(real_data_dir))
    task = TranslateTask(load_run_config(ROOT / "configs/translate/multi30k-bahdanau.toml"))
    task.prepare()
    assert [len(task.ids[s]) for s in ("train", "valid", "test")] == [29000, 1014, 1000]
    # lower-cased German and cased English tokens seen at least twice, plus the 4 specials
    assert (len(task.src_vocab), len(task.tgt_vocab)) == (7857, 6278)
    refs = [t for _, t in task.raw["test"]]
    same = [detokenize(t) == r for (_, t), r in zip(task.tokens["test"], refs)]
    assert same.count(False) == 2  # "E. S. E." and "cafe '." do not survive tokenisation
    assert corpus_bleu([detokenize(t) for _, t in task.tokens["test"]], refs)[0] > 99.9


# ---------------------------------------------------------------------- the results experiment
def test_results_experiment_measures_and_renders_a_run(toy_run, tmp_path, keep_grad_mode):
    import argparse

    from rnnlab.experiments import translation as exp

    m = exp.measure(toy_run.run, beam=2, alphas=[0.0, 1.0])
    assert set(m["valid_alpha"]) == {0.0, 1.0}
    assert m["alpha"] == max(m["valid_alpha"], key=m["valid_alpha"].get)
    bleu, _, _ = toy_run.task.split_bleu(
        toy_run.model, "test", beam_size=2, length_penalty=m["alpha"]
    )
    assert m["beam2"]["bleu"] == pytest.approx(bleu)
    maps = exp.heatmaps({"toy": m}, tmp_path)
    assert len(maps) == 1 and maps[0][3].read_bytes()[:4] == b"\x89PNG"
    decoder = [("cell", 10.0, 9.0), ("builtin", 10.5, 9.5), ("fused", 20.0, 18.0)]
    args = argparse.Namespace(beam=2)
    text = exp.render(
        {"toy": m, "multi30k-none": None},
        {"by_length": None, "heatmaps": maps, "decoder": decoder},
        args,
    )
    row = next(line for line in text.splitlines() if line.startswith("| toy |"))
    assert f"| {m['beam1']['bleu']:.2f} | {m['beam2']['bleu']:.2f} |" in row
    assert "rnnlab train translate --config configs/translate/toy.toml" in row
    assert "| multi30k-none | no attention" in text and "not run yet" in text
    assert "Fastest: cell (100% ahead of the slowest)" in text
