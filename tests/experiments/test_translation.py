"""The translation results table: a finished run and an unfinished one (measured at its best
checkpoint so far, and labelled so)."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from rnnlab.experiments import translation
from rnnlab.train.trainer import Trainer
from tests.tasks.test_translate import _toy_config


def test_an_unfinished_run_is_measured_at_its_best_checkpoint(tmp_path):
    trainer = Trainer.start(_toy_config(), root=tmp_path, quiet=True)
    trainer.fit()
    done = translation.measure(trainer.run, beam=2, alphas=[0.0, 1.0])
    assert "unfinished" not in done["final"] and 0 <= done["beam1"]["bleu"] <= 100

    # The same run without its final.json is what a run still training looks like.
    cut = tmp_path / "cut"
    shutil.copytree(trainer.run.path, cut)
    (cut / "final.json").unlink()
    part = translation.measure(SimpleNamespace(path=cut), beam=2, alphas=[0.0, 1.0])
    f = part["final"]
    best = done["final"]["best_step"]
    at = [m for m in trainer.run.metrics() if m.get("split") == "valid" and m["step"] == best]
    assert f["unfinished"] and f["epochs"] == at[-1]["epoch"] + 1
    # the best checkpoint is the same model either way: the same test numbers
    assert f["test"]["ppl"] == pytest.approx(done["final"]["test"]["ppl"], rel=1e-6)
    assert part["beam1"]["bleu"] == pytest.approx(done["beam1"]["bleu"])
    args = SimpleNamespace(beam=2)
    extras = {
        "by_length": None,
        "heatmaps": [],
        "decoder": [("cell", 2.0, 1.9), ("fused", 1.0, 0.9)],
    }
    text = translation.render({"toy": part}, extras, args)
    row = next(line for line in text.splitlines() if line.startswith("| toy |"))
    assert "**unfinished run**" in row and f"(epoch {f['epochs']})" in row and "--continue" in row


def test_length_reading_states_the_share_of_bleu_kept_on_long_sentences():
    bl = {"labels": ["1-8", "22+"], "table": {"a": [40.0, 30.0], "b": [20.0, 5.0], "c": [0.0, 0.0]}}
    (line, blank) = translation.length_reading(bl)
    assert line == (
        "From each model's best bucket to the longest sentences (22+ tokens): "
        "a 40.0 -> 30.0 (75% kept); b 20.0 -> 5.0 (25% kept)."
    )
    assert blank == ""
