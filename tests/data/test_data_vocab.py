"""Vocab: deterministic building, encode/decode round trips, unknown symbols, JSON."""

from __future__ import annotations

import json

import pytest

from rnnlab.data import Vocab
from rnnlab.data.vocab import EOS, PAD, UNK


def test_char_vocab_round_trip():
    v = Vocab.build("hello world")
    assert v.itos == [" ", "d", "e", "h", "l", "o", "r", "w"] and v.sep == ""
    ids = v.encode("hello")
    assert ids == [3, 2, 4, 4, 5] and v.decode(ids) == "hello"
    assert v.decode(ids, as_list=True) == list("hello")
    assert len(v) == 8 and "h" in v and "z" not in v


def test_order_does_not_depend_on_input_order():
    assert Vocab.build("abcab").itos == Vocab.build("bacba").itos


def test_word_vocab_specials_min_freq_max_size():
    words = "the cat sat on the mat the end".split()
    v = Vocab.build(words, specials=[PAD, UNK, EOS], min_freq=2)
    assert v.itos == [PAD, UNK, EOS, "the"] and v.sep == " "
    assert v.encode(["the", "dog"]) == [3, 1] and v.unk_id == 1
    v = Vocab.build(words, specials=[UNK], max_size=3)
    # keep the 2 most frequent: "the" (3), then ties broken by code point: "cat"
    assert v.itos == [UNK, "cat", "the"]
    assert v.decode([2, 1]) == "the cat"


def test_specials_in_the_data_are_not_duplicated():
    v = Vocab.build(["a", "<unk>", "b", EOS], specials=[UNK, EOS])
    assert v.itos == [UNK, EOS, "a", "b"]


def test_unknown_symbols_without_unk_raise_and_list_them():
    v = Vocab.build("abc")
    with pytest.raises(ValueError, match=r"2 symbol\(s\) not in the vocabulary of 3: 'x', 'é'"):
        v.encode("abxé")


def test_strict_refuses_unknowns_even_with_unk():
    v = Vocab.build("abc", specials=[UNK])
    assert v.encode("az") == [v.index("a"), v.unk_id]
    with pytest.raises(ValueError, match="'z'"):
        v.encode("az", strict=True)


def test_decode_out_of_range():
    with pytest.raises(ValueError, match=r"id 5 is outside the vocabulary \(0 .. 2\)"):
        Vocab.build("abc").decode([5])


def test_json_round_trip(tmp_path):
    v = Vocab.build("the cat sat".split(), specials=[PAD, UNK])
    data = v.to_json()
    assert json.loads(json.dumps(data)) == data  # JSON-able, nothing else
    assert Vocab.from_json(data) == v and Vocab.from_json(json.dumps(data)) == v
    v.save(tmp_path / "vocab.json")
    w = Vocab.load(tmp_path / "vocab.json")
    assert w == v and w.encode(["cat", "dog"]) == v.encode(["cat", "dog"]) and w.sep == " "
    assert w.specials == (PAD, UNK)


def test_from_json_rejects_other_data():
    with pytest.raises(ValueError, match="not an rnnlab vocabulary"):
        Vocab.from_json({"symbols": ["a"]})
    with pytest.raises(ValueError, match="duplicate"):
        Vocab(["a", "a"])
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build("a", min_freq=0)
