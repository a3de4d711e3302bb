"""Fetching datasets: stream each file to a temp file beside its target, check it, rename.

A file is written in three steps so that no reader ever sees half a file: stream the body into
``.NAME.XXXX.part`` in the target folder while hashing it, check its size and sha256 against the
registry, then ``fsync`` and ``os.replace`` it over the target (atomic on one file system). Any
failure (HTTP error, unreachable host, truncated body, wrong checksum, full disk) removes the temp
file, leaves a previous copy untouched and raises :class:`DataError`.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from rnnlab.data.cache import check_file
from rnnlab.data.errors import DataError
from rnnlab.data.registry import FileSpec, data_root, get_dataset, url_for

_CHUNK = 1 << 16
_TIMEOUT_S = 60


@dataclass(frozen=True)
class FetchResult:
    """What :func:`fetch` did for one file.

    Attributes:
        path: the checked file in the cache.
        downloaded: True if it was downloaded now, False if a valid copy was already there.
    """

    path: Path
    downloaded: bool


def fetch(name: str, force: bool = False, root: Path | None = None) -> list[FetchResult]:
    """Download the files of dataset ``name`` that are missing or fail their check.

    Args:
        name: registry name (see :func:`rnnlab.data.list_datasets`).
        force: download every file again, even valid ones (a valid copy is replaced only once
            the new one has passed its check).
        root: cache folder; default :func:`rnnlab.data.data_root` (``$RNNLAB_DATA``).

    Returns:
        One :class:`FetchResult` per file, in registry order.

    Raises:
        DataError: unknown name, or a download failed (the message says which file, why, and
            what to do); files fetched before the failure stay in place.
    """
    dataset = get_dataset(name)
    root = data_root() if root is None else root
    results = []
    for spec in dataset.files:
        status = check_file(spec, root, dataset=name)
        if status.ok and not force:
            results.append(FetchResult(status.path, downloaded=False))
            continue
        target = root / spec.folder / spec.filename
        download_file(url_for(spec), target, spec)
        results.append(FetchResult(target, downloaded=True))
    return results


def download_file(url: str, target: Path, spec: FileSpec) -> None:
    """Download ``url`` to ``target`` atomically, checking ``spec.size`` and ``spec.sha256``.

    Raises:
        DataError: on any failure; ``target`` is then unchanged and no temp file is left.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".part", dir=target.parent
        )
    except OSError as e:
        raise DataError(
            f"cannot write {target}: {e.strerror or e}. Set RNNLAB_DATA to a writable folder."
        ) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _stream(url, out, spec, target)
            out.flush()
            os.fsync(out.fileno())
        _check_download(spec, url, target, digest)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    except BaseException:
        # BaseException: Ctrl-C mid-download must not leave a .part file either
        tmp.unlink(missing_ok=True)
        raise


def _stream(url: str, out, spec: FileSpec, target: Path) -> tuple[int, str]:
    """Copy the body of ``url`` into ``out``; return (bytes received, sha256 hex)."""
    if urllib.parse.urlsplit(url).scheme not in ("http", "https", "file"):
        raise DataError(
            f"{spec.relpath}: invalid URL {url!r}: it must start with http://, https:// or "
            f"file://; check RNNLAB_DATA_MIRROR"
        )
    h, n = hashlib.sha256(), 0
    hint = "Check your connection and run the command again, or set RNNLAB_DATA_MIRROR."
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as resp:
            declared = resp.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) != spec.size:
                raise DataError(
                    f"{spec.relpath}: the server at {url} announces {int(declared):,} bytes, but "
                    f"the registry expects {spec.size:,}. The file has changed or the URL is "
                    f"wrong; {target} was not changed."
                )
            with _progress(spec.relpath, spec.size) as advance:
                while chunk := resp.read(_CHUNK):
                    n += len(chunk)
                    if n > spec.size:  # stop early: never fill the disk with a wrong file
                        break
                    h.update(chunk)
                    out.write(chunk)
                    advance(len(chunk))
    except urllib.error.HTTPError as e:
        what = (
            "The server failed; try again later, or set RNNLAB_DATA_MIRROR."
            if e.code >= 500
            else "The file is not at that URL (moved or private?): set RNNLAB_DATA_MIRROR to a "
            "mirror, or report it."
        )
        raise DataError(
            f"{spec.relpath}: download failed, HTTP {e.code} {e.reason} from {url}. {what}"
        ) from None
    except urllib.error.URLError as e:
        raise DataError(f"{spec.relpath}: cannot reach {url} ({e.reason}). {hint}") from None
    except (http.client.HTTPException, OSError) as e:
        # a connection reset, a timeout, or a full disk while writing the temp file
        raise DataError(
            f"{spec.relpath}: download from {url} failed after {n:,} of {spec.size:,} bytes "
            f"({type(e).__name__}: {e}). {hint}"
        ) from None
    return n, h.hexdigest()


def _check_download(spec: FileSpec, url: str, target: Path, digest: tuple[int, str]) -> None:
    n, sha = digest
    if n < spec.size:
        raise DataError(
            f"{spec.relpath}: download from {url} is truncated: {n:,} of {spec.size:,} bytes "
            f"received. {target} was not changed; run the command again."
        )
    if n > spec.size:
        raise DataError(
            f"{spec.relpath}: {url} sent more than the expected {spec.size:,} bytes: the file "
            f"has changed or the URL is wrong. {target} was not changed."
        )
    if sha != spec.sha256:
        raise DataError(
            f"{spec.relpath}: checksum mismatch for {url}: sha256 {sha}, expected "
            f"{spec.sha256}. The file has changed or the download was corrupted. {target} was "
            f"not changed; run the command again, and report it if it persists."
        )


def _fsync_dir(folder: Path) -> None:
    # makes the rename itself durable; not possible on every platform, hence best effort
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def show_progress() -> bool:
    """Whether to draw progress bars: stderr is a terminal and ``RNNLAB_NO_PROGRESS`` is not 1."""
    return os.environ.get("RNNLAB_NO_PROGRESS") != "1" and sys.stderr.isatty()


@contextlib.contextmanager
def _progress(label: str, total: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(nbytes)``: a rich progress bar on stderr, or a no-op."""
    if not show_progress():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)
