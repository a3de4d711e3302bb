"""Fixtures for the data layer: toy datasets registered for one test, and a local HTTP server."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from rnnlab.data import registry
from rnnlab.data.registry import GITHUB_RAW, Dataset, FileSpec

TOY_COMMIT = "0" * 40


def toy_spec(folder: str, filename: str, content: bytes, gzip_alias: bool = False) -> FileSpec:
    """A spec whose canonical URL is ``GITHUB_RAW/toy/repo/<commit>/<filename>``."""
    url = f"{GITHUB_RAW}/toy/repo/{TOY_COMMIT}/{filename}"
    sha = hashlib.sha256(content).hexdigest()
    return FileSpec(folder, filename, url, sha, len(content), gzip_alias=gzip_alias)


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    """An empty cache folder, set as ``$RNNLAB_DATA``."""
    root = tmp_path / "cache"
    root.mkdir()
    monkeypatch.setenv("RNNLAB_DATA", str(root))
    return root


@pytest.fixture
def register(monkeypatch):
    """``register(name, folder, {filename: content}, gzip_alias=())`` adds a dataset to the
    registry for this test only and returns it."""

    def _register(name, folder, files: dict[str, bytes], gzip_alias=()) -> Dataset:
        specs = tuple(
            toy_spec(folder, fn, content, fn in gzip_alias) for fn, content in files.items()
        )
        ds = Dataset(name, f"toy {name}", folder, specs, "toy/repo", "none", "none")
        monkeypatch.setitem(registry.DATASETS, name, ds)
        return ds

    return _register


@pytest.fixture
def put(data_root):
    """``put(folder, filename, content, gz=False)`` writes a file into the cache (gzipped, under
    ``filename + ".gz"``, when ``gz``) and returns its path."""

    def _put(folder: str, filename: str, content: bytes, gz: bool = False) -> Path:
        path = data_root / folder / (filename + (".gz" if gz else ""))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(content, mtime=0) if gz else content)
        return path

    return _put


@dataclass
class Route:
    """What the server answers for one path.

    Attributes:
        body: the bytes sent.
        status: HTTP status.
        length: the Content-Length announced (default ``len(body)``; -1 sends none).
        send: how many bytes of ``body`` to actually send before closing (default all).
    """

    body: bytes = b""
    status: int = 200
    length: int | None = None
    send: int | None = None


class _Handler(http.server.BaseHTTPRequestHandler):
    # set per server by the fixture (a subclass each), read by the handler threads
    routes: ClassVar[dict[str, Route]] = {}
    hits: ClassVar[list[str]] = []

    def do_GET(self):
        self.hits.append(self.path)
        route = self.routes.get(self.path, Route(b"not found", 404))
        self.send_response(route.status)
        length = len(route.body) if route.length is None else route.length
        if length >= 0:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        body = route.body if route.send is None else route.body[: route.send]
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):  # keep test output quiet
        pass


@dataclass
class Server:
    base: str
    routes: dict[str, Route]
    hits: list[str]

    def serve(self, filename: str, body: bytes, **kw) -> None:
        """Answer requests for toy file ``filename`` with ``Route(body, **kw)``."""
        self.routes[f"/toy/repo/{TOY_COMMIT}/{filename}"] = Route(body, **kw)


@pytest.fixture
def server(monkeypatch) -> Server:
    """A local HTTP server on 127.0.0.1, set as ``$RNNLAB_DATA_MIRROR``."""
    handler = type("Handler", (_Handler,), {"routes": {}, "hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    monkeypatch.setenv("RNNLAB_DATA_MIRROR", base)
    yield Server(base, handler.routes, handler.hits)
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)
