"""The local cache: find a dataset's files, check them against the registry, require them.

A file is checked by size and sha256 of its content (for a gzip alias, of the decompressed bytes).
Digests are remembered per process, keyed by path, size, mtime and inode, so loading the same file
twice hashes it once, and a file replaced on disk is hashed again.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rnnlab.data.errors import DataError, DataMissingError
from rnnlab.data.registry import DATASETS, FileSpec, data_root, get_dataset

Status = Literal["ok", "missing", "bad checksum"]
_CHUNK = 1 << 20

#: (path, size, mtime_ns, inode) -> (content size, sha256 hex) or an error string
_DIGESTS: dict[tuple[str, int, int, int], tuple[int, str] | str] = {}


@dataclass(frozen=True)
class FileStatus:
    """The state of one registered file in the cache.

    Attributes:
        dataset: registry name.
        spec: the file's registry entry.
        path: the file found (possibly the ``.gz`` alias), or where it belongs when missing.
        status: ``"ok"``, ``"missing"`` or ``"bad checksum"`` (wrong size, digest or gzip data).
        detail: why a file is not ok, empty when it is.
    """

    dataset: str
    spec: FileSpec
    path: Path
    status: Status
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def candidates(spec: FileSpec, root: Path) -> list[tuple[Path, bool]]:
    """Where ``spec`` may lie under ``root``: ``(path, is_gzip_alias)``, preferred first."""
    plain = root / spec.folder / spec.filename
    out = [(plain, False)]
    if spec.gzip_alias:
        out.append((plain.with_name(spec.filename + ".gz"), True))
    return out


def content_digest(path: Path, gunzip: bool = False) -> tuple[int, str]:
    """Size and sha256 of a file's bytes (decompressed first when ``gunzip``).

    Raises:
        DataError: the file cannot be read, or is not valid gzip data when ``gunzip``.
    """
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns, st.st_ino)
    if key not in _DIGESTS:
        _DIGESTS[key] = _hash(path, gunzip)
    result = _DIGESTS[key]
    if isinstance(result, str):
        raise DataError(result)
    return result


def _hash(path: Path, gunzip: bool) -> tuple[int, str] | str:
    h, n = hashlib.sha256(), 0
    try:
        with gzip.open(path, "rb") if gunzip else path.open("rb") as f:
            while chunk := f.read(_CHUNK):
                h.update(chunk)
                n += len(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as e:
        return f"{path} is not valid gzip data ({e})"
    except OSError as e:
        return f"cannot read {path}: {e.strerror or e}"
    return n, h.hexdigest()


def check_file(spec: FileSpec, root: Path | None = None, dataset: str = "") -> FileStatus:
    """Check one file: present, right size, right sha256 (of the content, for a gzip alias)."""
    root = data_root() if root is None else root
    found: FileStatus | None = None
    for path, gunzip in candidates(spec, root):
        if not path.is_file():
            continue
        status = _check_path(spec, path, gunzip, dataset)
        if status.ok:
            return status
        found = found or status  # report the preferred candidate's problem
    return found or FileStatus(dataset, spec, candidates(spec, root)[0][0], "missing")


def _check_path(spec: FileSpec, path: Path, gunzip: bool, dataset: str) -> FileStatus:
    # a size mismatch of a plain file is visible without reading it
    if not gunzip and path.stat().st_size != spec.size:
        detail = f"{path.stat().st_size:,} bytes, expected {spec.size:,}"
        return FileStatus(dataset, spec, path, "bad checksum", detail)
    try:
        size, digest = content_digest(path, gunzip)
    except DataError as e:
        return FileStatus(dataset, spec, path, "bad checksum", str(e))
    what = "decompressed " if gunzip else ""
    if size != spec.size:
        detail = f"{what}size {size:,} bytes, expected {spec.size:,}"
        return FileStatus(dataset, spec, path, "bad checksum", detail)
    if digest != spec.sha256:
        detail = f"{what}sha256 {digest[:12]}..., expected {spec.sha256[:12]}..."
        return FileStatus(dataset, spec, path, "bad checksum", detail)
    return FileStatus(dataset, spec, path, "ok")


def verify(name: str | None = None, root: Path | None = None) -> list[FileStatus]:
    """Check every file of dataset ``name`` (of every dataset when None).

    Returns:
        One :class:`FileStatus` per registered file, in registry order.

    Raises:
        DataError: ``name`` is not a registered dataset.
    """
    names = [get_dataset(name).name] if name is not None else list(DATASETS)
    return [check_file(spec, root, dataset=n) for n in names for spec in DATASETS[n].files]


def require_file(name: str, filename: str, root: Path | None = None) -> Path:
    """The checked path of one file of dataset ``name``.

    Args:
        name: registry name, e.g. ``"ptb-char"``.
        filename: the file as downloaded, e.g. ``"ptb.char.train.txt"``; the returned path may
            be its ``.gz`` alias.

    Raises:
        DataMissingError: the file is not in the cache (the message names the fetch command).
        DataError: it is there but fails its size or sha256 check.
    """
    spec = get_dataset(name).file(filename)
    status = check_file(spec, root, dataset=name)
    _raise_unless_ok([status], name, root)
    return status.path


def require(name: str, root: Path | None = None) -> Path:
    """The dataset's folder in the cache, after checking all its files.

    Raises:
        DataMissingError: a file is missing (the message names ``rnnlab data fetch NAME``).
        DataError: a file fails its size or sha256 check.
    """
    dataset = get_dataset(name)
    root = data_root() if root is None else root
    _raise_unless_ok([check_file(s, root, dataset=name) for s in dataset.files], name, root)
    return root / dataset.folder


def _raise_unless_ok(statuses: list[FileStatus], name: str, root: Path | None) -> None:
    root = data_root() if root is None else root
    missing = [s for s in statuses if s.status == "missing"]
    bad = [s for s in statuses if s.status == "bad checksum"]
    if missing:
        files = ", ".join(s.spec.relpath for s in missing)
        raise DataMissingError(
            f"dataset {name!r}: {files} not found in the data folder {root}. "
            f"Fetch it with `rnnlab data fetch {name}`, or set RNNLAB_DATA to a folder that "
            f"already holds the benchmark data (default ~/.cache/rnnlab)."
        )
    if bad:
        lines = "; ".join(f"{s.path}: {s.detail}" for s in bad)
        raise DataError(
            f"dataset {name!r} failed its checksum: {lines}. The file is corrupt or a different "
            f"version: download it again with `rnnlab data fetch {name} --force`."
        )
