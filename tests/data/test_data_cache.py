"""verify / require / check_file on a toy cache: ok, missing, bad checksum, gzip aliases."""

from __future__ import annotations

import gzip
import os

import pytest

from rnnlab.data import DataError, DataMissingError, require, require_file, verify

A, B = b"alpha\n" * 100, b"beta\n" * 50


@pytest.fixture
def toy(register):
    return register("toy", "toyfolder", {"a.txt": A, "b.txt": B}, gzip_alias={"b.txt"})


def statuses(name="toy"):
    return {s.spec.filename: s.status for s in verify(name)}


def test_missing_files(data_root, toy):
    assert statuses() == {"a.txt": "missing", "b.txt": "missing"}
    with pytest.raises(DataMissingError) as err:
        require("toy")
    msg = str(err.value)
    assert "rnnlab data fetch toy" in msg and "RNNLAB_DATA" in msg and "toyfolder/a.txt" in msg


def test_ok_plain_and_gzip_alias(data_root, toy, put):
    put("toyfolder", "a.txt", A)
    gz = put("toyfolder", "b.txt", B, gz=True)
    assert statuses() == {"a.txt": "ok", "b.txt": "ok"}
    assert require("toy") == data_root / "toyfolder"
    assert require_file("toy", "b.txt") == gz


def test_plain_copy_of_an_alias_file_also_ok(data_root, toy, put):
    put("toyfolder", "b.txt", B)
    assert statuses()["b.txt"] == "ok"


def test_bad_checksum_same_size(data_root, toy, put):
    put("toyfolder", "a.txt", A.replace(b"a", b"A"))
    (status,) = [s for s in verify("toy") if s.spec.filename == "a.txt"]
    assert status.status == "bad checksum" and "sha256" in status.detail
    with pytest.raises(DataError, match=r"rnnlab data fetch toy --force"):
        require_file("toy", "a.txt")


def test_bad_size_and_bad_gzip(data_root, toy, put):
    put("toyfolder", "a.txt", A[:-1])
    (data_root / "toyfolder" / "b.txt.gz").write_bytes(b"not gzip at all")
    assert statuses() == {"a.txt": "bad checksum", "b.txt": "bad checksum"}
    details = {s.spec.filename: s.detail for s in verify("toy")}
    assert "expected 600" in details["a.txt"] and "gzip" in details["b.txt"]


def test_gzip_alias_with_wrong_content(data_root, toy, put):
    put("toyfolder", "b.txt", B + b"x", gz=True)
    (status,) = [s for s in verify("toy") if s.spec.filename == "b.txt"]
    assert status.status == "bad checksum" and "decompressed" in status.detail


def test_a_replaced_file_is_checked_again(data_root, toy, put):
    path = put("toyfolder", "a.txt", A)
    assert statuses()["a.txt"] == "ok"
    path.write_bytes(A.upper())
    os.utime(path, ns=(1, 1))  # a different mtime, even on coarse clocks
    assert statuses()["a.txt"] == "bad checksum"


def test_unknown_names(data_root, toy):
    with pytest.raises(DataError, match=r"unknown dataset 'tyo'.*did you mean 'toy'"):
        verify("tyo")
    with pytest.raises(DataError, match=r"has no file 'c.txt'.*a.txt, b.txt"):
        require_file("toy", "c.txt")


def test_gzip_helper_files_are_deterministic():
    # the fixture's gzip must not embed a timestamp, or cached digests would vary
    assert gzip.compress(A, mtime=0) == gzip.compress(A, mtime=0)
