"""``rnnlab data list | fetch | verify``: output and exit status (0 ok, 1 failures, 2 user error)."""

from __future__ import annotations

import argparse

import pytest

from rnnlab.data.cli import add_parser

GOOD = b"some toy data\n" * 10


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="rnnlab")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["data", *argv])
    return args.func(args)


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no folding in captured output


@pytest.fixture
def toy(register):
    return register("toy", "toyfolder", {"a.txt": GOOD})


def test_list(data_root, capsys):
    assert run("list") == 0
    out = capsys.readouterr().out
    assert "ptb-char" in out and "sst2" in out and str(data_root) in out and "0/3" in out


def test_verify_ok_and_missing(data_root, toy, put, capsys):
    assert run("verify", "toy") == 1
    out = capsys.readouterr().out
    assert "missing" in out and "rnnlab data fetch toy" in out
    put("toyfolder", "a.txt", GOOD)
    assert run("verify", "toy") == 0
    assert "all 1 files ok" in capsys.readouterr().out


def test_verify_bad_checksum_suggests_force(data_root, toy, put, capsys):
    put("toyfolder", "a.txt", GOOD.upper())
    assert run("verify", "toy") == 1
    out = capsys.readouterr().out
    assert "bad checksum" in out and "rnnlab data fetch toy --force" in out


def test_unknown_names_are_user_errors(data_root, capsys):
    assert run("verify", "shakespeare") == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'shakespeare'" in err and "tinyshakespeare" in err
    assert run("fetch", "ptb-word", "nope") == 2
    assert "valid names: ptb-word" in capsys.readouterr().err


def test_fetch(data_root, server, toy, capsys):
    server.serve("a.txt", GOOD)
    assert run("fetch", "toy") == 0
    assert "downloaded" in capsys.readouterr().out
    assert run("fetch", "toy", "toy") == 0
    assert "already present" in capsys.readouterr().out and len(server.hits) == 1
    assert run("fetch", "--force", "toy") == 0 and len(server.hits) == 2


def test_fetch_failure_exit_1(data_root, server, toy, capsys):
    server.serve("a.txt", b"", status=500)
    assert run("fetch", "toy") == 1
    assert "HTTP 500" in capsys.readouterr().err


def test_help_texts(capsys):
    for argv in (["--help"], ["fetch", "--help"], ["verify", "--help"], ["list", "--help"]):
        with pytest.raises(SystemExit) as e:
            run(*argv)
        assert e.value.code == 0
    out = capsys.readouterr().out
    assert "RNNLAB_DATA" in out and "--force" in out and "sha256" in out


def test_through_the_project_cli(data_root, capsys):
    from rnnlab.cli import main

    assert main(["data", "verify", "nope"]) == 2
    assert "valid names" in capsys.readouterr().err
