"""The captioning task through the trainer on tiny synthetic sets, its metrics, the real-layout
path, and `rnnlab caption`."""

from __future__ import annotations

import argparse
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab.errors import ConfigError, UserError
from rnnlab.report.attention_overlay import overlay_figure
from rnnlab.tasks.base import build_run_config, load_run_config
from rnnlab.tasks.caption import (
    attention_share,
    bleu_scores,
    encode_captions,
    localisation,
)
from rnnlab.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]

TINY_MODEL = {
    "channels": [8, 16, 16],
    "feature_size": 16,
    "embed_size": 16,
    "hidden_size": 32,
    "attention_size": 16,
}


def tiny_raw(**data) -> dict:
    return {
        "task": "caption",
        "name": "tiny",
        "seed": 1,
        "data": {"num_train": 48, "num_valid": 12, "num_test": 12, "image_size": 32, **data},
        "model": dict(TINY_MODEL),
        "train": {
            "batch_size": 16,
            "epochs": 1,
            "lr": 3e-3,
            "log_every": 1,
            "checkpoint_minutes": 0.0,
            "threads": 1,  # tiny convolutions: a second thread only adds synchronisation
        },
    }


@pytest.fixture
def trained(tmp_path):
    cfg = build_run_config(tiny_raw())
    trainer = Trainer.start(cfg, root=tmp_path, quiet=True)
    trainer.fit()
    return trainer


def test_every_shipped_caption_config_is_valid():
    paths = sorted((ROOT / "configs/caption").glob("*.toml"))
    assert len(paths) >= 3
    for path in paths:
        cfg = load_run_config(path)
        assert cfg.task == "caption", path


def test_a_tiny_run_logs_every_metric(trained):
    records = trained.run.metrics()
    first = records[0]
    assert first["split"] == "valid" and first["step"] == 0
    value, why = trained.task.expected_initial_loss()
    assert first["loss"] == pytest.approx(value, rel=0.05), why  # ln V + the uniform-attention reg
    assert first["ce"] == pytest.approx(math.log(len(trained.task.vocab)), rel=0.1)
    assert first["loc"] == pytest.approx(1.0, abs=0.15)  # near-uniform attention at init
    valid = [r for r in records if r["split"] == "valid"][-1]
    for key in (
        "bleu1",
        "bleu2",
        "bleu3",
        "bleu4",
        "bleu",
        "exact",
        "loc",
        "loc_share",
        "loc_uniform",
        "loc_forced",
        "ppl",
        "ce",
        "reg",
    ):
        assert key in valid, key
    assert valid["loss"] == pytest.approx(valid["ce"] + valid["reg"])
    assert valid["ppl"] == pytest.approx(math.exp(valid["ce"]))
    train = [r for r in records if r["split"] == "train"]
    assert len(train) == 3 and all("ce" in r and "reg" in r for r in train)


def test_resume_is_exact(tmp_path):
    """Two epochs straight, or one, a new process, and the second: the same weights."""
    raw = tiny_raw()
    raw["train"]["epochs"] = 2
    raw["model"]["dropout"] = 0.2  # RNG state must be restored too
    straight = Trainer.start(build_run_config(raw), root=tmp_path / "a", quiet=True)
    straight.fit()
    cut = Trainer.start(build_run_config(raw), root=tmp_path / "b", quiet=True)
    cut.cfg.train.epochs = 1
    cut.fit()
    resumed = Trainer.resume(cut.run.path, quiet=True)
    resumed.cfg.train.epochs = 2
    resumed.fit()
    for (k, v), w in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(v, w), k


def test_learns_to_read_colours_and_to_look_at_the_object():
    """One object per scene ("a COLOUR SHAPE"): 300 steps must get the colour word right (chance
    1/6) and put the attention of object words on the object (uniform: 1x)."""
    from rnnlab.tasks.caption import CaptionTask

    raw = tiny_raw(num_train=512, num_valid=64, max_objects=1, image_size=48, eval_batch_size=64)
    raw["model"]["attention_reg"] = 0.0
    torch.set_num_threads(1)
    torch.manual_seed(0)
    task = CaptionTask(build_run_config(raw))
    task.prepare()
    model = task.build_model()
    opt = torch.optim.Adam(model.parameters(), lr=5e-3)
    step, epoch = 0, 0
    while step < 300:
        loader = task.train_loader(epoch)
        for i in range(min(len(loader), 300 - step)):
            opt.zero_grad()
            task.loss(model, loader[i]).loss.backward()
            opt.step()
            step += 1
        epoch += 1
    metrics = task.evaluate(model, "valid")
    data = task.data["valid"]
    out = model.greedy(data.images.batch(np.arange(64), "cpu"), 5)
    words = [task.vocab.decode(t, as_list=True) for t in out.tokens]
    colour = np.mean([len(w) > 1 and w[1] == r[0][1] for w, r in zip(words, data.refs)])
    assert colour >= 0.9
    assert metrics["loc"] > 2.0 and metrics["loc_forced"] > 2.0


def test_bleu_is_sacrebleu_with_any_number_of_references():
    refs = [[["a", "red", "circle"]], [["a", "blue", "square", "above", "a", "red", "cross"]]]
    perfect = bleu_scores([r[0] for r in refs], refs)
    assert all(v == pytest.approx(100.0) for v in perfect.values())
    hyps = [["a", "red", "circle"], ["a", "blue", "square", "below", "a", "red", "cross"]]
    s = bleu_scores(hyps, refs)
    # 10 unigrams, 9 right; bigrams 8 of 10 - 2 = 8 ... computed by hand:
    assert s["bleu1"] == pytest.approx(90.0)
    assert s["bleu2"] == pytest.approx(100 * math.sqrt(0.9 * 6 / 8))
    # a second reference for the first image only: the closer one counts
    multi = bleu_scores(
        [["a", "dog"], ["a", "cat"]], [[["a", "dog"], ["one", "dog"]], [["a", "cat"]]]
    )
    assert multi["bleu2"] == pytest.approx(100.0)


def test_attention_share_and_localisation_by_hand():
    cells = np.array([[1, 1, 0, 0], [0, 0, 0, 1]], bool)  # object 0: cells 0-1; object 1: cell 3
    alphas = np.array([[0.25] * 4, [0.5, 0.3, 0.1, 0.1], [0.0, 0.0, 0.2, 0.8]])
    share, uniform, n = attention_share(alphas, [-1, 0, 1], cells)
    assert (share, uniform, n) == (pytest.approx(0.8 + 0.8), pytest.approx(0.5 + 0.25), 2)
    loc = localisation([(share, uniform, n), (0.5, 0.5, 1)])
    assert loc["loc"] == pytest.approx(2.1 / 1.25)
    assert loc["loc_share"] == pytest.approx(2.1 / 3) and loc["loc_words"] == 3
    assert math.isnan(localisation([(0.0, 0.0, 0)])["loc"])


def test_encode_captions_frames_and_pads(trained):
    v = trained.task.vocab
    inputs, targets = encode_captions(v, [["a", "red", "circle"], ["a"]])
    s, e = v.index("<start>"), v.index("<end>")
    assert inputs.tolist() == [[s, *v.encode(["a", "red", "circle"])], [s, v.index("a"), 0, 0]]
    assert targets.tolist() == [[*v.encode(["a", "red", "circle"]), e], [v.index("a"), e, 0, 0]]


def test_karpathy_layout_trains_and_scores_against_every_reference(tmp_path):
    from rnnlab.data.captions import save_as_karpathy
    from rnnlab.data.shapes import generate_shapes

    splits = {}
    for ours, theirs, n in (("train", "train", 16), ("valid", "val", 4), ("test", "test", 4)):
        s = generate_shapes(ours, n, seed=5, image_size=40)
        # two references per image: the caption, and the caption without its first word
        splits[theirs] = (s.images, [[c, c[1:]] for c in s.captions])
    js = save_as_karpathy(tmp_path / "set", splits)
    raw = tiny_raw(dataset="karpathy", json=str(js), images=str(tmp_path / "set/images"))
    raw["data"].update(image_size=32, min_freq=2)
    trainer = Trainer.start(build_run_config(raw), root=tmp_path, quiet=True)
    assert len(trainer.task.train_loader(0)) == 2  # 32 (image, caption) pairs of batch 16
    final = trainer.fit()
    assert "loc" not in final["test"] and 0 <= final["test"]["bleu4"] <= 100
    assert "<unk>" in trainer.task.vocab and len(trainer.task.vocab) < 4 + 17
    refs = trainer.task.data["test"].refs
    assert all(len(r) == 2 for r in refs)
    # A trained run captions an image without its data set (vocabulary and limits are saved).
    image = tmp_path / "one.png"
    shutil.copy(next((tmp_path / "set/images").iterdir()), image)
    shutil.move(tmp_path / "set", tmp_path / "gone")
    assert caption_cli(trainer.run.path, image, "--out", tmp_path / "o.png") == 0
    assert (tmp_path / "o.png").is_file()


def test_bad_data_config_is_a_config_error():
    with pytest.raises(ConfigError, match=r"needs data\.json"):
        build_run_config({"task": "caption", "data": {"dataset": "karpathy"}})
    with pytest.raises(ConfigError, match="max_objects"):
        build_run_config({"task": "caption", "data": {"min_objects": 3, "max_objects": 2}})
    with pytest.raises(ConfigError, match=r"unknown key data\.colour"):
        build_run_config({"task": "caption", "data": {"colour": "red"}})


def test_report_section_has_overlays(trained):
    sections = trained.task.report_sections(trained.model, trained.run)
    title, body = sections[0]
    assert "attention" in title.lower() and body.count("data:image/png;base64,") == 4
    assert (trained.run.path / "report.html").exists() is False  # the section alone, no file


def test_overlay_figure_has_a_panel_per_word():
    img = np.zeros((32, 32, 3), np.uint8)
    fig = overlay_figure(img, ["a", "red", "<end>"], np.full((3, 16), 1 / 16), (4, 4), cols=2)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles[1:] == ["a", "red", "<end>"] and titles[0] == "a red"
    import matplotlib.pyplot as plt

    plt.close(fig)
    with pytest.raises(ValueError, match="do not fit 2 words"):
        overlay_figure(img, ["a", "b"], np.zeros((3, 16)), (4, 4))


# ---------------------------------------------------------------------- the command
def caption_cli(*argv) -> int:
    """Run `rnnlab caption ...` in this process through the command's own parser."""
    from rnnlab.tasks import caption_cli as mod

    parser = argparse.ArgumentParser()
    mod.add_parser(parser.add_subparsers())
    args = parser.parse_args(["caption", *map(str, argv)])
    try:
        return args.func(args)
    finally:
        torch.set_grad_enabled(True)  # load_trained turns it off for the process


def test_caption_command_prints_and_draws(trained, tmp_path, capsys):
    run = trained.run.path
    image = tmp_path / "scene.png"
    assert caption_cli(run, image, "--new-scene", 4) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"scene 4 written to {image}: a ")
    caption = out[1]
    assert caption and all(w in trained.task.vocab for w in caption.split())
    overlay = tmp_path / "scene_attention.png"
    assert out[2] == f"overlay: {overlay}"
    import matplotlib.image as mpimg

    assert mpimg.imread(overlay).shape[0] > 100
    # the same image again, by path only, with beam search, to a chosen file
    assert caption_cli(run, image, "--beam", "2", "--out", tmp_path / "b.png") == 0
    assert (tmp_path / "b.png").is_file()


def test_heldout_and_results(trained, tmp_path, capsys):
    run = trained.run.path
    assert caption_cli(run, "--heldout", 77, "--count", 10) == 0
    out = capsys.readouterr().out
    assert "held-out seed 77" in out and "bleu4" in out and "loc_forced" in out
    md = tmp_path / "docs" / "captioning.md"
    md.parent.mkdir()
    md.write_text(
        "# Title\n\nprose\n\n<!-- caption-results:begin tiny -->\nold\n"
        "<!-- caption-results:end tiny -->\n\nmore prose\n"
    )
    assert caption_cli(run, "--results", md, "--heldout-seeds", "8,9", "--count", 6) == 0
    text = md.read_text()
    assert text.startswith("# Title\n\nprose\n\n") and text.endswith("\n\nmore prose\n")
    assert "old" not in text and "| held-out, data seed 9 | 6 | greedy |" in text
    assert "| test | 12 | beam 3 |" in text and "| colour words |" in text
    for k in (1, 2, 3):
        assert (md.parent / "figures" / f"caption_tiny_overlay_{k}.png").is_file()
    assert (md.parent / "figures" / "caption_tiny_curves.png").is_file()
    # a file without the run's block gets one appended; a file with half a block is refused
    other = tmp_path / "other.md"
    other.write_text("# Other\n")
    assert caption_cli(run, "--results", other, "--heldout-seeds", "8", "--count", 4) == 0
    text = other.read_text()
    assert text.startswith("# Other\n\n## Run tiny\n\n<!-- caption-results:begin tiny -->\n")
    other.write_text("<!-- caption-results:begin tiny -->\n")
    with pytest.raises(UserError, match="only one of the lines"):
        caption_cli(run, "--results", other, "--count", 4)


def test_command_errors(trained, tmp_path):
    run = trained.run.path
    with pytest.raises(UserError, match="name an IMAGE"):
        caption_cli(run)
    with pytest.raises(UserError, match="own data seed"):
        caption_cli(run, "--heldout", 0, "--count", 3)
    from rnnlab.data.errors import DataError

    with pytest.raises(DataError, match="image not found"):
        caption_cli(run, tmp_path / "missing.png")
    with pytest.raises(UserError, match="--beam"):
        caption_cli(run, tmp_path / "x.png", "--beam", "-1")
    with pytest.raises(UserError, match="--new-scene must be a seed >= 0"):
        caption_cli(run, tmp_path / "x.png", "--new-scene", "-1")
    with pytest.raises(UserError, match="not several"):
        caption_cli(run, tmp_path / "x.png", "--heldout", 5)
    with pytest.raises(UserError, match="is a folder"):
        caption_cli(run, "--results", tmp_path)
    # an overlay name without an extension is written, and printed, as a PNG
    assert caption_cli(run, tmp_path / "s.png", "--new-scene", 1, "--out", tmp_path / "ov") == 0
    assert (tmp_path / "ov.png").is_file()
