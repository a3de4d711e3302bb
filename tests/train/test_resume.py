"""Kill a run (SIGKILL) at any moment, resume it, and get exactly what an uninterrupted run gets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.train.conftest import rnnlab, tiny_config

VOLATILE = {"time", "items_per_s"}


def _final_state(run: Path):
    ptr = json.loads((run / "checkpoints" / "last.json").read_text())
    tensors = load_file(str(run / "checkpoints" / ptr["dir"] / "tensors.safetensors"))
    model = {k: v for k, v in tensors.items() if k.split(".")[0] in ("model", "online", "optim")}
    final = json.loads((run / "final.json").read_text())
    final.pop("train_seconds")
    metrics = [
        {k: v for k, v in json.loads(line).items() if k not in VOLATILE}
        for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
    return model, final, metrics


def _only_run(root: Path) -> Path:
    (run,) = list((root / "lm").iterdir())
    return run


def train_args(cfg: Path, root: Path, *extra: str) -> tuple[str, ...]:
    """``rnnlab train lm`` of ``cfg`` under the runs folder ``root``, without a report."""
    return ("train", "lm", "--config", str(cfg), "--runs-dir", str(root), "--no-report", *extra)


def killed_in_checkpoint_write(cfg: Path, root: Path, *extra: str, write: int = 2) -> Path:
    """Start a run of ``cfg`` under ``root`` that SIGKILLs itself inside its ``write``-th
    checkpoint write (tensors on disk, nothing published); return its directory."""
    out = rnnlab(*train_args(cfg, root, *extra), env={"RNNLAB_FAULT": f"checkpoint-write:{write}"})
    assert out.returncode == -signal.SIGKILL
    return _only_run(root)


def _assert_same(a, b):
    ma, fa, la = a
    mb, fb, lb = b
    assert ma.keys() == mb.keys()
    for k in ma:
        assert torch.equal(ma[k], mb[k]), k  # bit for bit
    assert fa == fb
    assert la == lb


def test_killed_and_resumed_run_equals_uninterrupted_run(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file)
    ref_root, cut_root = tmp_path / "ref", tmp_path / "cut"
    rnnlab(*train_args(cfg, ref_root), check=True)
    reference = _final_state(_only_run(ref_root))

    # 1) killed inside the second checkpoint write (tensors on disk, nothing published)
    run = killed_in_checkpoint_write(cfg, cut_root)
    # 2) resumed, then killed again at a random moment (seeded) by the test itself
    proc = subprocess.Popen(
        [sys.executable, "-m", "rnnlab", "train", "--resume", str(run), "--no-report"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(2.5 + (hash(str(tmp_path)) % 10) / 10)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # 3) resumed to the end
    rnnlab("train", "--resume", str(run), "--no-report", check=True)
    _assert_same(_final_state(run), reference)


def test_corrupt_last_checkpoint_is_named_and_kept(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, epochs=1)
    rnnlab(*train_args(cfg, tmp_path / "r"), check=True)
    run = _only_run(tmp_path / "r")
    ptr = json.loads((run / "checkpoints" / "last.json").read_text())
    tensor_file = run / "checkpoints" / ptr["dir"] / "tensors.safetensors"
    data = tensor_file.read_bytes()
    tensor_file.write_bytes(data[:100])
    (run / "final.json").unlink()  # as if killed after its last checkpoint: resume loads it
    out = rnnlab("train", "--resume", str(run), "--no-report")
    assert out.returncode == 2
    assert str(tensor_file) in out.stderr and "truncated or corrupt" in out.stderr
    assert "Traceback" not in out.stderr
    assert tensor_file.read_bytes() == data[:100]  # nothing overwrote it
    assert json.loads((run / "checkpoints" / "last.json").read_text()) == ptr


def test_continue_resumes_the_latest_unfinished_run_then_does_nothing(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, epochs=1)
    root = tmp_path / "runs"
    killed_in_checkpoint_write(cfg, root, "--continue", write=3)
    again = rnnlab(*train_args(cfg, root, "--continue"), check=True)
    assert "continuing" in again.stderr
    run = _only_run(root)
    assert (run / "final.json").is_file()
    done = rnnlab(*train_args(cfg, root, "--continue"), check=True)
    assert "already finished" in done.stdout
    assert len(list((root / "lm").iterdir())) == 1


def test_resuming_a_finished_run_changes_nothing(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, max_steps=7)
    rnnlab(*train_args(cfg, tmp_path), check=True)
    run = _only_run(tmp_path)
    final = (run / "final.json").read_text()
    out = rnnlab("train", "--resume", str(run), "--no-report", check=True)
    assert "already finished (max_steps=7, step 7)" in out.stdout
    assert (run / "final.json").read_text() == final  # its stop reason is kept
    # so a raised budget is still accepted afterwards
    rnnlab("train", "--resume", str(run), "--set", "train.max_steps=9", "--no-report", check=True)
    assert json.loads((run / "final.json").read_text())["steps"] == 9
    # and a lowered one refused
    out = rnnlab("train", "--resume", str(run), "--set", "train.max_steps=5")
    assert out.returncode == 2 and "may only raise a budget" in out.stderr
    assert "Traceback" not in out.stderr


def _damage(run: Path, name: str, text: str) -> None:
    ptr = json.loads((run / "checkpoints" / "last.json").read_text())
    path = run / name if name != "state.json" else run / "checkpoints" / ptr["dir"] / name
    path.write_text(text)


def test_damaged_run_files_are_named_not_tracebacks(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, max_steps=7)
    rnnlab(*train_args(cfg, tmp_path / "a"), check=True)
    run = _only_run(tmp_path / "a")
    pristine = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}

    def fails(*args, needle):
        out = rnnlab(*args)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert needle in out.stderr, out.stderr

    def restore():
        for p, data in pristine.items():
            p.write_bytes(data)

    config = (run / "config.toml").read_text()
    (run / "config.toml").write_text(config.replace("hidden_size = 16", "hidden_size = 12"))
    fails("eval", str(run), "--split", "valid", needle="does not fit the model")
    restore()
    _damage(run, "task.json", "zz")
    fails("eval", str(run), "--split", "valid", needle="task.json: corrupt JSON")
    restore()
    _damage(run, "state.json", "[1, 2]")
    fails("eval", str(run), "--checkpoint", "last", needle="not a JSON object")
    restore()
    # parsable but incomplete state: found when resuming; the raise is refused before it changes
    # the run (config and final.json as they were)
    ptr = json.loads((run / "checkpoints" / "last.json").read_text())
    state_path = run / "checkpoints" / ptr["dir"] / "state.json"
    state = json.loads(state_path.read_text())
    state.pop("optimizer")
    state_path.write_text(json.dumps(state))
    (run / "final.json").unlink()
    fails("train", "--resume", str(run), "--no-report", needle="corrupt checkpoint state")
    restore()
    tensors = next((run / "checkpoints").rglob("tensors.safetensors"))
    tensors.write_bytes(pristine[tensors][:100])
    fails("train", "--resume", str(run), "--set", "train.max_steps=9", needle="truncated")
    assert (run / "config.toml").read_text() == config and (run / "final.json").is_file()


def test_ctrl_c_checkpoints_the_step_and_resume_continues_exactly(tmp_path, text_file):
    cfg = tiny_config(tmp_path / "c.toml", text_file, epochs=2)
    rnnlab(*train_args(cfg, tmp_path / "ref"), check=True)
    reference = _final_state(_only_run(tmp_path / "ref"))
    for sig in ("INT", "TERM"):
        root = tmp_path / sig
        out = rnnlab(*train_args(cfg, root), env={"RNNLAB_FAULT": f"train-step:5:{sig}"})
        assert out.returncode == 130, out.stderr  # interrupted, not killed
        assert f"SIG{sig} at step 5: checkpoint saved" in out.stderr
        run = _only_run(root)
        ptr = json.loads((run / "checkpoints" / "last.json").read_text())
        state = json.loads((run / "checkpoints" / ptr["dir"] / "state.json").read_text())
        assert state["step"] == 5 and not (run / "final.json").exists()
        rnnlab("train", "--resume", str(run), "--no-report", check=True)
        _assert_same(_final_state(run), reference)  # bit for bit the uninterrupted run


def test_logged_extra_metrics_are_window_means_and_reports_predict_in_eval_mode(
    tmp_path, text_file, monkeypatch
):
    from rnnlab.report.html import write_report
    from rnnlab.tasks.base import build_run_config
    from rnnlab.train.trainer import Trainer

    raw = {
        "task": "lm",
        "name": "w",
        "data": {"dataset": "text", "path": str(text_file), "bptt": 8},
        "model": {"hidden_size": 8, "embed_size": 8, "num_layers": 2, "dropout": 0.5},
        "train": {"max_steps": 10, "batch_size": 4, "log_every": 5, "eval_every": 10},
    }
    trainer = Trainer.start(build_run_config(raw), root=tmp_path, quiet=True)
    step = Trainer.train_step

    def numbered(self, group):  # an extra metric equal to the step's number: 1, 2, 3...
        out = step(self, group)
        out["extra"] = {"acc": float(self.step + 1)}
        return out

    monkeypatch.setattr(Trainer, "train_step", numbered)
    trainer.fit()
    logged = [r["acc"] for r in trainer.run.metrics() if r.get("split") == "train" and "acc" in r]
    assert logged[:2] == [3.0, 8.0]  # means of steps 1-5 and 6-10, not the last batch's value

    modes = []
    monkeypatch.setattr(
        type(trainer.task),
        "report_sections",
        lambda task, model, run: modes.append(model.training) or [],
    )
    trainer.model.train()
    write_report(trainer.run, model=trainer.model, task=trainer.task)
    assert modes == [False] and trainer.model.training  # eval for the sections, then restored


def test_a_relayed_signal_is_one_request_and_a_later_second_one_stops_at_once():
    import os
    import signal as sig

    from rnnlab.train.trainer import StopRequests

    before = sig.getsignal(sig.SIGINT)
    with StopRequests() as requests:
        os.kill(os.getpid(), sig.SIGINT)
        os.kill(os.getpid(), sig.SIGTERM)  # relayed at once (rnnlab search's workers): ignored
        time.sleep(0.05)
        assert requests.pending == "SIGINT"
        time.sleep(StopRequests.RELAY_S + 0.1)
        try:
            os.kill(os.getpid(), sig.SIGINT)
            time.sleep(0.05)
            raise AssertionError("a second Ctrl-C should stop at once")
        except KeyboardInterrupt:
            pass
    assert sig.getsignal(sig.SIGINT) is before  # handlers restored
