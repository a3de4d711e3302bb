"""The run directory: ``runs/<task>/<timestamp>-<name>/`` with config.toml, metrics.jsonl,
checkpoints/, plots/ and report.html (ARCHITECTURE.md, "Run directory")."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rnnlab.errors import UserError
from rnnlab.train.checkpoint import CheckpointStore, atomic_write_text


def runs_root() -> Path:
    """``$RNNLAB_RUNS`` or ``./runs``."""
    return Path(os.environ.get("RNNLAB_RUNS", "runs"))


class RunDir:
    """One run's folder and its files."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def create(cls, task: str, name: str, root: Path | None = None) -> RunDir:
        root = Path(root) if root is not None else runs_root()
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = root / task / f"{stamp}-{name}"
        n = 1
        while path.exists():  # two runs started in the same second
            n += 1
            path = root / task / f"{stamp}-{name}-{n}"
        path.mkdir(parents=True)
        return cls(path)

    @classmethod
    def find(cls, ref: str | Path) -> RunDir:
        """A run by path, or by a unique suffix of its folder name under the runs root."""
        p = Path(ref)
        if (p / "config.toml").is_file():
            return cls(p)
        root = runs_root()
        matches = sorted(
            d.parent for d in root.glob("*/*/config.toml") if d.parent.name.endswith(str(ref))
        )
        if len(matches) == 1:
            return cls(matches[0])
        if len(matches) > 1:
            names = ", ".join(str(m) for m in matches[:5])
            if len(matches) > 5:
                names += f" and {len(matches) - 5} more"
            raise UserError(f"{ref!r} matches {len(matches)} runs ({names}); give the full path")
        raise UserError(
            f"no run at {ref!r} (a run directory holds config.toml; runs live under {root}/)"
        )

    # --------------------------------------------------------------- files
    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoints(self) -> CheckpointStore:
        return CheckpointStore(self.path / "checkpoints")

    @property
    def plots(self) -> Path:
        p = self.path / "plots"
        p.mkdir(exist_ok=True)
        return p

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        atomic_write_text(path, text)
        return path

    def write_json(self, name: str, data) -> Path:
        return self.write_text(name, json.dumps(data, indent=1))

    def read_json(self, name: str, default=None):
        path = self.path / name
        if not path.is_file():
            return default
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as e:
            raise UserError(f"{path}: corrupt JSON ({e}); the run's files were damaged") from None

    def log(self, record: dict) -> None:
        """Append one line to metrics.jsonl (flushed, so a crash loses at most this line)."""
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def metrics_lines(self) -> int:
        if not self.metrics_path.is_file():
            return 0
        with open(self.metrics_path, encoding="utf-8") as f:
            return sum(1 for _ in f)

    def truncate_metrics(self, lines: int) -> None:
        """Keep the first ``lines`` records (a resumed run rewrites what came after its checkpoint)."""
        if not self.metrics_path.is_file():
            return
        with open(self.metrics_path, encoding="utf-8") as f:
            kept = [line for _, line in zip(range(lines), f)]
        atomic_write_text(self.metrics_path, "".join(kept))

    def metrics(self) -> list[dict]:
        if not self.metrics_path.is_file():
            return []
        out = []
        with open(self.metrics_path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:  # a line cut by a crash: skip it
                        continue
        return out

    def __str__(self) -> str:
        return str(self.path)


def on_learning_curve(record: dict) -> bool:
    """Whether a metrics.jsonl record belongs on a learning curve: every record but the final
    evaluations of the chosen model that the trainer logs when it finishes (they carry
    ``best_step``; a final "train" record is an evaluation, not the running training loss)."""
    return "best_step" not in record
