"""Checkpoints: nothing lost, nothing executed.

Every tensor (model, optimizer state, RNG states, carried recurrent state) goes into one
``tensors.safetensors`` file; everything else (step, data position, schedule, config, vocabulary)
into ``state.json``. Nothing is ever pickled, so loading a checkpoint cannot run code.

Atomicity: a checkpoint is written into a fresh temporary directory (each file fsync'd), the
directory is renamed into place, and only then is the pointer file ``last.json`` (or ``best.json``)
replaced, itself through a temporary file, fsync and ``os.replace``. A process killed at any moment
leaves the previous pointer, and so the previous good checkpoint, untouched. ``state.json`` records
the sha256 of the tensors file, so a truncated or corrupted checkpoint is detected on load and
reported with its path instead of being trusted.

Layout::

    checkpoints/
      last.json                        {"dir": "ckpt-00001200-3f2a", "step": 1200}
      best.json                        {"dir": "ckpt-00001000-91bc", "step": 1000}
      ckpt-00001200-3f2a/tensors.safetensors, state.json
      ckpt-00001000-91bc/...
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rnnlab.errors import UserError
from rnnlab.train.faults import fault_point

FORMAT = 1


class CheckpointError(UserError):
    """A checkpoint is missing, truncated or corrupt; the message names the file."""


def load_model_state(model: torch.nn.Module, tensors: dict, prefix: str, where) -> None:
    """Load the ``prefix``-named tensors of a checkpoint into ``model``; a checkpoint whose names or
    shapes do not fit the model (a run's config.toml edited after training) is a
    :class:`CheckpointError` naming ``where``, not torch's traceback."""
    n = len(prefix)
    try:
        model.load_state_dict({k[n:]: v for k, v in tensors.items() if k.startswith(prefix)})
    except RuntimeError as e:
        detail = " ".join(str(e).split())
        raise CheckpointError(
            f"{where}: the checkpoint does not fit the model its config.toml builds (was the "
            f"config edited after training?): {detail[:400]}"
        ) from None


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that readers see either the old or the new file, whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _dedupe(tensors: dict[str, torch.Tensor]) -> tuple[dict, dict]:
    """safetensors refuses tensors that share memory (tied weights): store each storage once and
    record the other names as aliases."""
    unique, aliases, seen = {}, {}, {}
    for name, t in tensors.items():
        key = (
            (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), t.dtype)
            if t.numel()
            else None
        )
        if key is not None and key in seen:
            aliases[name] = seen[key]
            continue
        if key is not None:
            seen[key] = name
        unique[name] = t.detach().to("cpu").contiguous()
    return unique, aliases


class CheckpointStore:
    """The ``checkpoints/`` folder of a run."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def pointer(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def save(self, tensors: dict[str, torch.Tensor], state: dict, names=("last",)) -> Path:
        """Write one checkpoint and point every name in ``names`` (``last``, ``best``) at it."""
        self.root.mkdir(parents=True, exist_ok=True)
        step = int(state.get("step", 0))
        tmp = self.root / f".tmp-{uuid.uuid4().hex[:12]}"
        tmp.mkdir()
        unique, aliases = _dedupe(tensors)
        tensor_path = tmp / "tensors.safetensors"
        save_file(unique, str(tensor_path))
        with open(tensor_path, "rb+") as f:
            os.fsync(f.fileno())
        fault_point("checkpoint-write")  # tests: a kill with the tensors written, nothing published
        meta = {
            "format": FORMAT,
            "tensors_sha256": sha256_file(tensor_path),
            "aliases": aliases,
            **state,
        }
        with open(tmp / "state.json", "w", encoding="utf-8") as f:
            json.dump(meta, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(tmp)
        final = self.root / f"ckpt-{step:08d}-{uuid.uuid4().hex[:4]}"
        os.rename(tmp, final)
        fsync_dir(self.root)
        for name in names:
            atomic_write_text(self.pointer(name), json.dumps({"dir": final.name, "step": step}))
        self.prune()
        return final

    def point(self, name: str, other: str) -> None:
        """Make pointer ``name`` refer to the checkpoint ``other`` refers to (no copy)."""
        target = json.loads(self.pointer(other).read_text())
        atomic_write_text(self.pointer(name), json.dumps(target))

    def referenced(self) -> set[str]:
        dirs = set()
        for p in self.root.glob("*.json"):
            try:
                dirs.add(json.loads(p.read_text())["dir"])
            except (OSError, ValueError, KeyError):
                continue
        return dirs

    def prune(self) -> None:
        """Remove checkpoint directories no pointer refers to (and leftovers of killed writes)."""
        if not self.root.is_dir():
            return
        keep = self.referenced()
        for d in self.root.iterdir():
            if (
                d.is_dir()
                and d.name not in keep
                and (d.name.startswith("ckpt-") or d.name.startswith(".tmp-"))
            ):
                shutil.rmtree(d, ignore_errors=True)
        for f in self.root.glob(".*.tmp"):
            f.unlink(missing_ok=True)

    def exists(self, name: str = "last") -> bool:
        return self.pointer(name).is_file()

    def load(self, name: str = "last") -> tuple[dict[str, torch.Tensor], dict]:
        """Read and verify a checkpoint: ``(tensors, state)``."""
        ptr = self.pointer(name)
        if not ptr.is_file():
            raise CheckpointError(f"no {name!r} checkpoint: {ptr} does not exist")
        try:
            target = self.root / json.loads(ptr.read_text())["dir"]
        except (ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{ptr}: unreadable checkpoint pointer ({e})") from None
        state_path, tensor_path = target / "state.json", target / "tensors.safetensors"
        for p in (state_path, tensor_path):
            if not p.is_file():
                raise CheckpointError(f"checkpoint file missing: {p}")
        try:
            state = json.loads(state_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise CheckpointError(f"{state_path}: corrupt checkpoint state ({e})") from None
        if not isinstance(state, dict):
            raise CheckpointError(f"{state_path}: corrupt checkpoint state (not a JSON object)")
        if state.get("format") != FORMAT:
            raise CheckpointError(
                f"{state_path}: unknown checkpoint format {state.get('format')!r}"
            )
        if sha256_file(tensor_path) != state.get("tensors_sha256"):
            raise CheckpointError(
                f"{tensor_path}: checksum mismatch, the file is truncated or corrupt"
            )
        try:
            tensors = load_file(str(tensor_path))
        except (SafetensorError, OSError, ValueError) as e:
            raise CheckpointError(f"{tensor_path}: cannot read tensors ({e})") from None
        for alias, source in state.get("aliases", {}).items():
            tensors[alias] = tensors[source]
        return tensors, state
