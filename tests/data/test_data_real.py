"""The registry against the real benchmark files (``$RNNLAB_DATA``), and the counts their
READMEs give."""

from __future__ import annotations

from collections import Counter

import pytest

from rnnlab.data import (
    DATASETS,
    Vocab,
    load_multi30k,
    load_music,
    load_sst2,
    load_text,
    require,
    verify,
)

pytestmark = pytest.mark.realdata


@pytest.fixture
def real(real_data_dir, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA", str(real_data_dir))
    return real_data_dir


def test_every_registered_file_matches_its_checksum(real):
    bad = [(s.dataset, s.path.name, s.status, s.detail) for s in verify() if not s.ok]
    assert bad == []


def test_registry_digests_are_the_readmes(real):
    # each sha256 and size in the registry is written in the README of the file's folder
    for d in DATASETS.values():
        readme = (real / d.folder / "README.md").read_text("utf-8")
        for f in d.files:
            assert f.sha256 in readme, f.relpath
            assert f"{f.size:,}" in readme, f.relpath


def test_require_returns_the_folder(real):
    assert require("ptb-char") == real / "ptb"  # held as .txt.gz there: the gzip alias


def test_ptb_word(real):
    train = load_text("ptb-word", "train")
    assert len(train) == 929_589 and train.count("<eos>") == 42_068
    vocab = Vocab.build(train)
    assert len(vocab) == 10_000 and "<unk>" in vocab and vocab.sep == " "
    for split, n in (("valid", 73_760), ("test", 82_430)):
        tokens = load_text("ptb-word", split)
        assert len(tokens) == n
        vocab.encode(tokens, strict=True)  # no OOV against train


def test_ptb_char(real):
    counts = {s: load_text("ptb-char", s) for s in ("train", "valid", "test")}
    assert {s: len(t) for s, t in counts.items()} == {
        "train": 5_017_482,
        "valid": 393_042,
        "test": 442_423,
    }
    train = counts["train"]
    assert isinstance(train, str) and train.count("\n") == 42_068
    assert len(set(train)) == 50 and "_" in train and " " not in train
    assert train.startswith("aer_banknote_berlitz_")
    vocab = Vocab.build(train)
    assert len(vocab) == 50 and vocab.sep == ""


def test_tinyshakespeare(real):
    train, valid = load_text("tinyshakespeare", "train"), load_text("tinyshakespeare", "valid")
    assert (len(train), len(valid)) == (1_003_854, 111_540)
    assert len(set(train + valid)) == 65 and train.startswith("First Citizen:\n")


MUSIC = {
    "jsb-chorales": ((229, 76, 77), (13_807, 4_602, 4_725)),
    "nottingham": ((694, 173, 170), (176_561, 45_513, 44_463)),
    "musedata": ((524, 135, 124), (245_202, 82_755, 64_339)),
    "piano-midi": ((87, 12, 25), (75_911, 8_540, 19_036)),
}


@pytest.mark.parametrize("name", list(MUSIC))
def test_music(real, name):
    splits = [load_music(name, s) for s in ("train", "valid", "test")]
    assert tuple(len(s) for s in splits) == MUSIC[name][0]
    assert tuple(sum(len(x) for x in s) for s in splits) == MUSIC[name][1]
    for x in splits[0]:
        assert x.dtype.name == "float32" and x.shape[1] == 88
        assert ((x == 0) | (x == 1)).all()


def test_sst2(real):
    train, dev = load_sst2("train"), load_sst2("dev")
    assert (len(train), len(dev)) == (67_349, 872)
    assert Counter(y for _, y in train) == {0: 29_780, 1: 37_569}
    assert Counter(y for _, y in dev) == {0: 428, 1: 444}
    assert train[0] == (["hide", "new", "secretions", "from", "the", "parental", "units"], 0)
    assert all(tok and " " not in tok for toks, _ in dev for tok in toks)
    assert load_sst2("valid") == dev


def test_multi30k(real):
    sizes = {s: len(load_multi30k(s)) for s in ("train", "val", "test")}
    assert sizes == {"train": 29_000, "val": 1_014, "test": 1_000}
    de, en = load_multi30k("train")[0]
    assert en == "Two young, White males are outside near many bushes."
    assert de == "Zwei junge weiße Männer sind im Freien in der Nähe vieler Büsche."
    assert load_multi30k("train", src="en", tgt="de")[0] == (en, de)
    words = sum(len(en.split()) for _, en in load_multi30k("val"))
    assert words == 12_167
