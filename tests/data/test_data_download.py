"""fetch() against a local HTTP server: success, and every failure leaves no partial file."""

from __future__ import annotations

import socket

import pytest

from rnnlab.data import DataError, fetch, require_file, verify
from rnnlab.data import download as download_mod

GOOD = b"the quick brown fox jumps over the lazy dog\n" * 1000


@pytest.fixture
def toy(register):
    return register("toy", "toyfolder", {"a.txt": GOOD})


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_fetch_downloads_checks_and_renames(data_root, server, toy):
    server.serve("a.txt", GOOD)
    (result,) = fetch("toy")
    assert result.downloaded and result.path == data_root / "toyfolder" / "a.txt"
    assert result.path.read_bytes() == GOOD
    assert leftovers(data_root / "toyfolder") == ["a.txt"]  # no temp file left
    assert [s.status for s in verify("toy")] == ["ok"]
    assert require_file("toy", "a.txt") == result.path


def test_fetch_skips_valid_files_and_force_downloads_again(data_root, server, toy):
    server.serve("a.txt", GOOD)
    fetch("toy")
    (again,) = fetch("toy")
    assert not again.downloaded and len(server.hits) == 1
    (forced,) = fetch("toy", force=True)
    assert forced.downloaded and len(server.hits) == 2


def test_fetch_replaces_a_corrupt_file(data_root, server, toy, put):
    put("toyfolder", "a.txt", b"x" * len(GOOD))
    server.serve("a.txt", GOOD)
    (result,) = fetch("toy")
    assert result.downloaded and result.path.read_bytes() == GOOD


def _assert_failure_leaves_previous(data_root, put, match, previous: bool):
    """fetch fails with ``match``, leaves no temp file, and a previous good copy untouched."""
    folder = data_root / "toyfolder"
    if previous:
        path = put("toyfolder", "a.txt", GOOD)
        before = path.stat().st_mtime_ns
    with pytest.raises(DataError, match=match) as err:
        fetch("toy", force=previous)
    assert "toyfolder/a.txt" in str(err.value)  # which file
    if previous:
        assert leftovers(folder) == ["a.txt"]
        assert path.read_bytes() == GOOD and path.stat().st_mtime_ns == before
    else:
        assert leftovers(folder) == []


FAILURES = {
    "checksum mismatch": (dict(body=b"X" * len(GOOD)), "checksum mismatch"),
    "truncated, connection closed early": (
        dict(body=GOOD, send=len(GOOD) // 3),
        "truncated|failed after",
    ),
    "short body, honest length": (dict(body=GOOD[:100]), "announces 100 bytes"),
    "longer body, no length": (dict(body=GOOD + b"extra", length=-1), "more than the expected"),
    "server error 500": (dict(body=b"oops", status=500), "HTTP 500"),
    "not found 404": (dict(body=b"", status=404), "HTTP 404"),
}


@pytest.mark.parametrize("previous", [False, True], ids=["no previous", "previous good copy"])
@pytest.mark.parametrize("case", list(FAILURES))
def test_fetch_failure_is_clean(data_root, server, toy, put, case, previous):
    route, match = FAILURES[case]
    server.serve("a.txt", **route)
    _assert_failure_leaves_previous(data_root, put, match, previous)


def test_unreachable_server_is_a_clear_error(data_root, toy, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("RNNLAB_DATA_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(DataError, match=r"cannot reach .* RNNLAB_DATA_MIRROR"):
        fetch("toy")
    assert leftovers(data_root / "toyfolder") == []


def test_mirror_without_scheme(data_root, toy, monkeypatch):
    monkeypatch.setenv("RNNLAB_DATA_MIRROR", "127.0.0.1:8000")
    with pytest.raises(DataError, match=r"invalid URL .* RNNLAB_DATA_MIRROR"):
        fetch("toy")
    assert leftovers(data_root / "toyfolder") == []


def test_file_mirror(data_root, toy, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / toy.files[0].url.split("githubusercontent.com/")[1]).parent.mkdir(parents=True)
    (mirror / toy.files[0].url.split("githubusercontent.com/")[1]).write_bytes(GOOD)
    monkeypatch.setenv("RNNLAB_DATA_MIRROR", mirror.as_uri())
    (result,) = fetch("toy")
    assert result.path.read_bytes() == GOOD


def test_gzip_alias_counts_as_present(data_root, server, register, put):
    register("toygz", "toyfolder", {"b.txt": GOOD}, gzip_alias={"b.txt"})
    put("toyfolder", "b.txt", GOOD, gz=True)
    (result,) = fetch("toygz")
    assert not result.downloaded and result.path.name == "b.txt.gz" and server.hits == []


def test_unwritable_cache_is_a_clear_error(tmp_path, server, toy, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("RNNLAB_DATA", str(blocker))
    server.serve("a.txt", GOOD)
    with pytest.raises(DataError, match=r"cannot write .* RNNLAB_DATA"):
        fetch("toy")


def test_progress_bar_path(data_root, server, toy, monkeypatch, capsys):
    monkeypatch.setattr(download_mod, "show_progress", lambda: True)
    server.serve("a.txt", GOOD)
    (result,) = fetch("toy")
    assert result.downloaded
    assert "toyfolder/a.txt" in capsys.readouterr().err


def test_progress_off_when_asked(monkeypatch):
    monkeypatch.setenv("RNNLAB_NO_PROGRESS", "1")
    assert not download_mod.show_progress()
