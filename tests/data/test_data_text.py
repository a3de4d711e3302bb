"""Text loading: the registered corpora on toy files, your own files, the embedded corpus."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys

import pytest

from rnnlab.data import DataError, DataMissingError, load_embedded, load_file, load_text

PTB_WORD = b" the cat sat \n a <unk> on the mat \n"
PTB_CHAR = b"t h e _ c a t \n a _ < u n k > \n "


@pytest.fixture
def toy_ptb(register, put, monkeypatch):
    """ptb-word and ptb-char replaced by tiny files of the real format, for this test."""
    words = {
        f"ptb.{s}.txt.gz": gzip.compress(PTB_WORD, mtime=0) for s in ("train", "valid", "test")
    }
    chars = {f"ptb.char.{s}.txt": PTB_CHAR for s in ("train", "valid", "test")}
    register("ptb-word", "ptb", words)
    register("ptb-char", "ptb", chars, gzip_alias=set(chars))
    for name, content in words.items():
        put("ptb", name, content)
    for name, content in chars.items():
        put("ptb", name, content, gz=name.endswith("test.txt"))  # both forms are accepted


def test_ptb_word_tokens(toy_ptb):
    assert load_text("ptb-word", "train") == [
        "the", "cat", "sat", "<eos>", "a", "<unk>", "on", "the", "mat", "<eos>",
    ]  # fmt: skip


def test_ptb_char_stream(toy_ptb):
    expected = "the_cat\na_<unk>\n"  # symbols, "_" word boundary, one "\n" per line
    assert load_text("ptb-char", "train") == expected
    assert load_text("ptb-char", "test") == expected  # read from ptb.char.test.txt.gz


def test_tinyshakespeare_split_90_10(register, put):
    text = bytes(range(97, 107)) * 10  # 100 ASCII characters
    register("tinyshakespeare", "tinyshakespeare", {"input.txt": text})
    put("tinyshakespeare", "input.txt", text)
    train, valid = load_text("tinyshakespeare", "train"), load_text("tinyshakespeare", "valid")
    assert (len(train), len(valid)) == (90, 10) and train + valid == text.decode()


def test_non_utf8_is_a_clear_error(register, put):
    text = "café\n".encode("latin-1")
    register("tinyshakespeare", "tinyshakespeare", {"input.txt": text})
    path = put("tinyshakespeare", "input.txt", text)
    with pytest.raises(DataError, match="not UTF-8") as err:
        load_text("tinyshakespeare", "train")
    assert str(path) in str(err.value) and "offset 3" in str(err.value)


def test_missing_corpus_names_the_command(data_root):
    with pytest.raises(DataMissingError, match="rnnlab data fetch ptb-word"):
        load_text("ptb-word", "train")


def test_bad_name_or_split(data_root):
    with pytest.raises(DataError, match="unknown text corpus"):
        load_text("ptb", "train")
    with pytest.raises(DataError, match=r"its splits: train, valid$"):
        load_text("tinyshakespeare", "test")


def test_load_file(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("one two three\nfour five six seven eight nine ten\n" * 3, "utf-8")
    chars = load_file(str(path), "train") + load_file(str(path), "valid")
    assert chars == path.read_text()
    words = load_file(str(path), "train", level="word")
    assert words[:4] == ["one", "two", "three", "<eos>"] and len(words) == int(36 * 0.9)
    (tmp_path / "bad.txt").write_bytes(b"ok\n\xff\xfe")
    with pytest.raises(DataError, match=r"bad\.txt is not UTF-8 text: byte\(s\) ff"):
        load_file(str(tmp_path / "bad.txt"), "train")
    with pytest.raises(DataError, match="file not found"):
        load_file(str(tmp_path / "nope.txt"), "train")
    with pytest.raises(DataError, match="level must be"):
        load_file(str(path), "train", level="byte")


def test_embedded_corpus_size_and_content():
    train, valid = load_embedded("train"), load_embedded("valid")
    total = len(train) + len(valid)
    assert 300_000 <= total <= 600_000
    assert 0.85 <= len(train) / total <= 0.95  # every tenth docstring is held out
    assert set(valid) <= set(train)  # both splits mix all modules: no unseen characters
    assert set(train + valid) <= {"\n", *map(chr, range(32, 127))}
    assert "\t" not in train and "\n\n\n" not in train and " \n" not in train
    assert load_embedded("train") is train or load_embedded("train") == train


_SNIPPET = """
import hashlib, json, time
t = time.perf_counter()
from rnnlab.data.text import load_embedded
text = load_embedded("train") + load_embedded("valid")
print(json.dumps([hashlib.sha256(text.encode()).hexdigest(), time.perf_counter() - t]))
"""


def test_embedded_corpus_is_deterministic_and_fast():
    # a fresh process, with unrelated modules imported first: same text, built in < 1 s
    here = load_embedded("train") + load_embedded("valid")
    out = subprocess.run(
        [sys.executable, "-c", "import email.mime.text, logging.handlers" + _SNIPPET],
        capture_output=True,
        text=True,
        check=True,
    )
    digest, seconds = json.loads(out.stdout)
    assert digest == hashlib.sha256(here.encode()).hexdigest()
    assert seconds < 1.0
