"""The language-models results table: rows from finished, unfinished and missing runs."""

from rnnlab.experiments import language_models as lm
from rnnlab.tasks.base import load_run_config
from rnnlab.train.cli import _latest_run
from rnnlab.train.run_dir import RunDir


def _run(root, name, sets=(), metrics=(), final=None):
    base, over = lm.VARIANTS.get(name, (name, []))
    cfg = load_run_config(lm.CONFIG_DIR / f"{base}.toml", [*over, *sets])
    run = RunDir.create("lm", cfg.name, root)
    run.write_text("config.toml", cfg.to_toml())
    for m in metrics:
        run.log(m)
    if final is not None:
        run.write_json("final.json", final)
    return run


def test_rows_from_runs(tmp_path):
    final = {"valid": {"ppl": 141.234}, "test": {"ppl": 137.5}, "train_seconds": 1800, "epochs": 2}
    _run(tmp_path, "ptb-word-200-check", final=final)
    evals = [
        {"step": 0, "epoch": 0, "split": "valid", "ppl": 9000.0},
        {"step": 1328, "epoch": 0, "split": "valid", "ppl": 200.0},
        {"step": 2656, "epoch": 1, "split": "valid", "ppl": 150.5},
    ]
    _run(tmp_path, "ptb-word-200", metrics=evals)
    rows = []
    for name in ("ptb-word-200-check", "ptb-word-200", "ptb-word-small"):
        base, sets = lm.VARIANTS.get(name, (name, []))
        cfg = load_run_config(lm.CONFIG_DIR / f"{base}.toml", sets)
        rows.append((name, _latest_run(cfg, tmp_path)))
    text = lm.render(rows)
    check = next(line for line in text.splitlines() if line.startswith("| ptb-word-200-check"))
    assert "| 141.23 ppl | 137.50 ppl | 0.50 h (2 epochs) |" in check
    assert "--set model.dropout=0.2 --set train.epochs=2" in check
    unfinished = next(line for line in text.splitlines() if line.startswith("| ptb-word-200 |"))
    assert "step 2656 (epoch 2); best valid so far 150.50 ppl (epoch 2)" in unfinished
    assert "| ptb-word-small | " in text and "not run" in text
