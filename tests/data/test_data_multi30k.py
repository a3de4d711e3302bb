"""Multi30k: pairs from the gzip files, alignment check, tokenizer."""

from __future__ import annotations

import gzip

import pytest

from rnnlab.data import DataError, detokenize, load_multi30k, tokenize


@pytest.fixture
def toy_m30k(register, put):
    def make(en_lines, de_lines):
        files = {}
        for split in ("train", "val", "test_2016_flickr"):
            for lang, lines in (("en", en_lines), ("de", de_lines)):
                files[f"{split}.{lang}.gz"] = gzip.compress("".join(lines).encode(), mtime=0)
        register("multi30k", "multi30k", files)
        for name, content in files.items():
            put("multi30k", name, content)

    return make


def test_pairs(toy_m30k):
    toy_m30k(["A dog.\n", "Two cats run.\n"], ["Ein Hund.\n", "Zwei Katzen rennen.\n"])
    assert load_multi30k("train") == [
        ("Ein Hund.", "A dog."),
        ("Zwei Katzen rennen.", "Two cats run."),
    ]
    assert load_multi30k("test", src="en", tgt="de")[0] == ("A dog.", "Ein Hund.")
    assert load_multi30k("valid") == load_multi30k("val")


def test_misaligned_files(toy_m30k):
    toy_m30k(["A dog.\n", "Two cats.\n"], ["Ein Hund.\n"])
    with pytest.raises(DataError, match=r"has 2 lines but .* has 1"):
        load_multi30k("train", src="en", tgt="de")


def test_bad_arguments(data_root):
    with pytest.raises(DataError, match="no split 'dev'"):
        load_multi30k("dev")
    with pytest.raises(DataError, match="'de' and 'en'"):
        load_multi30k("train", src="en", tgt="en")


def test_tokenize():
    assert tokenize("A man's T-shirt, (red).") == [
        "a", "man's", "t-shirt", ",", "(", "red", ")", ".",
    ]  # fmt: skip
    assert tokenize("Männer im Freien!") == ["männer", "im", "freien", "!"]


@pytest.mark.parametrize(
    "sentence",
    ["two young, white males are outside near many bushes.", "a dog (brown) jumps: high!"],
)
def test_detokenize_inverts_tokenize(sentence):
    assert detokenize(tokenize(sentence)) == sentence
