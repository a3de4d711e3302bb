"""A tiny job queue for long CPU runs on a shared machine (developer tooling, not the package).
Named job_queue, not queue: a file queue.py here would shadow the standard library's module for
every script run from experiments/.

Put a shell script in runs/queue/pending/NAME.sh; the runner executes pending jobs in name order,
at most --slots at a time, logging to runs/queue/logs/NAME.log and moving each script to done/ or
failed/ (with its exit status in the log). Jobs should be resumable (rnnlab train --resume), so a
killed runner loses nothing: scripts left in running/ go back to pending/ at start.

    python experiments/job_queue.py --slots 1 &
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

ROOT = Path("runs/queue")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--slots", type=int, default=1)
    ap.add_argument("--poll", type=float, default=20.0)
    args = ap.parse_args()
    for d in ("pending", "running", "done", "failed", "logs"):
        (ROOT / d).mkdir(parents=True, exist_ok=True)
    for job in (ROOT / "running").glob("*.sh"):
        shutil.move(str(job), ROOT / "pending" / job.name)
    procs: dict[str, subprocess.Popen] = {}
    while True:
        for name, proc in list(procs.items()):
            if proc.poll() is not None:
                dest = "done" if proc.returncode == 0 else "failed"
                with open(ROOT / "logs" / f"{name}.log", "a") as log:
                    log.write(f"\n[queue] exit status {proc.returncode}\n")
                shutil.move(str(ROOT / "running" / f"{name}.sh"), ROOT / dest / f"{name}.sh")
                del procs[name]
        pending = sorted((ROOT / "pending").glob("*.sh"))
        while pending and len(procs) < args.slots:
            job = pending.pop(0)
            target = ROOT / "running" / job.name
            shutil.move(str(job), target)
            log = open(ROOT / "logs" / f"{job.stem}.log", "a")
            # niced: interactive work (tests, development) keeps priority; jobs soak up idle CPU
            procs[job.stem] = subprocess.Popen(
                ["nice", "-n", "15", "bash", str(target)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "RNNLAB_NO_PROGRESS": "1"},
            )
        time.sleep(args.poll)


if __name__ == "__main__":
    main()
