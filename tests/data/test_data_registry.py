"""The registry itself: names, pinned URLs, digests, cache location, mirrors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rnnlab.data import DATASETS, DataError, data_root, get_dataset, list_datasets
from rnnlab.data.registry import GITHUB_RAW, url_for

NAMES = [
    "ptb-word",
    "ptb-char",
    "tinyshakespeare",
    "jsb-chorales",
    "nottingham",
    "musedata",
    "piano-midi",
    "multi30k",
    "sst2",
]
FOLDERS = {"ptb", "tinyshakespeare", "polyphonic_music", "multi30k", "sst2_glue"}


def test_names():
    assert list_datasets() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_entries_are_pinned_and_complete(name):
    d = get_dataset(name)
    assert d.folder in FOLDERS and d.description and d.citation and d.license and d.source
    for f in d.files:
        assert f.folder == d.folder
        # raw.githubusercontent.com/<owner>/<repo>/<40-hex commit>/<path>, never a branch
        assert re.fullmatch(rf"{GITHUB_RAW}/[\w.-]+/[\w.-]+/[0-9a-f]{{40}}/\S+", f.url), f.url
        assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and f.size > 0


def test_no_two_entries_share_a_file():
    paths = [f.relpath for d in DATASETS.values() for f in d.files]
    assert len(paths) == len(set(paths))


def test_ptb_char_is_the_gzip_alias_case():
    d = get_dataset("ptb-char")
    assert all(f.gzip_alias and f.filename.endswith(".txt") for f in d.files)
    assert get_dataset("sst2").file("train.tsv").url.endswith("/glue_data/SST-2/train_full.tsv")


def test_unknown_name_lists_valid_names():
    with pytest.raises(DataError, match="did you mean 'ptb-word'") as err:
        get_dataset("ptb_word")
    assert all(n in str(err.value) for n in NAMES)


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.setenv("RNNLAB_DATA", str(tmp_path))
    assert data_root() == tmp_path
    monkeypatch.delenv("RNNLAB_DATA")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_root() == Path(tmp_path) / ".cache" / "rnnlab"


def test_mirror_replaces_the_host(monkeypatch):
    spec = get_dataset("tinyshakespeare").files[0]
    monkeypatch.delenv("RNNLAB_DATA_MIRROR", raising=False)
    assert url_for(spec) == spec.url
    monkeypatch.setenv("RNNLAB_DATA_MIRROR", "http://127.0.0.1:8000/gh/")
    assert url_for(spec) == spec.url.replace(GITHUB_RAW, "http://127.0.0.1:8000/gh")
