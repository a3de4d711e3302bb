"""SST-2 TSV parsing: tokens, labels, header, and errors that give file and line."""

from __future__ import annotations

import pytest

from rnnlab.data import DataError
from rnnlab.data.sst2 import load_sst2, parse_sst2


def _tsv(tmp_path, text: str):
    path = tmp_path / "x.tsv"
    path.write_text(text, "utf-8")
    return path


def test_parse(tmp_path):
    path = _tsv(tmp_path, "sentence\tlabel\na fine movie \t1\n`` bad '' ( really ) \t0\n")
    assert parse_sst2(path) == [
        (["a", "fine", "movie"], 1),
        (["``", "bad", "''", "(", "really", ")"], 0),
    ]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("index\tsentence\n0\tx\n", "line 1: expected the header"),
        ("sentence\tlabel\nok \t1\nno label here\n", "line 3: expected 2 tab-separated"),
        ("sentence\tlabel\nok \t1\nx\t1\t0\n", "line 3: expected 2"),
        ("sentence\tlabel\nok \tpositive\n", "line 2: label must be 0 or 1"),
        ("sentence\tlabel\n \t1\n", "line 2: empty sentence"),
    ],
)
def test_malformed(tmp_path, text, match):
    path = _tsv(tmp_path, text)
    with pytest.raises(DataError, match=match) as err:
        parse_sst2(path)
    assert str(path) in str(err.value)


def test_split_names(data_root):
    with pytest.raises(DataError, match="train, dev"):
        load_sst2("test")
