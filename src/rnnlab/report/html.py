"""``report.html``: one self-contained page per run (figures inlined as PNG data URIs)."""

from __future__ import annotations

import html
import json
from pathlib import Path

from rnnlab.report.plots import curves_figure, to_data_uri

STYLE = """
body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em} h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse} td,th{border:1px solid #ddd;padding:.25em .6em;text-align:left}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;white-space:pre-wrap}
img{max-width:100%} .figs{display:flex;flex-wrap:wrap;gap:1em}
"""


def _table(rows: list[tuple]) -> str:
    return (
        "<table>"
        + "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>"
            for row in rows
        )
        + "</table>"
    )


def write_report(run, model=None, task=None) -> Path:
    """Write ``report.html`` (and the curve PNGs under ``plots/``) for ``run``; returns its path."""
    records = run.metrics()
    config = run.config_path.read_text(encoding="utf-8") if run.config_path.is_file() else ""
    final = run.read_json("final.json", {})
    parts = [f"<h1>{html.escape(run.path.name)}</h1>"]
    if final:
        rows = [
            ("stopped", final.get("stopped")),
            ("optimizer steps", final.get("steps")),
            ("training seconds", final.get("train_seconds")),
            ("best step", final.get("best_step")),
        ]
        for split in ("train", "valid", "test"):
            if split in final:
                rows.append(
                    (
                        split,
                        ", ".join(
                            f"{k} {v}" if isinstance(v, int) else f"{k} {v:.4g}"
                            for k, v in final[split].items()
                            if isinstance(v, (int, float))
                        ),
                    )
                )
        parts += ["<h2>Result</h2>", _table(rows)]
    figs = []
    keys = ["loss"] + [
        k for k in ("ppl", "bpc", "nll", "acc", "bleu") if any(k in r for r in records)
    ]
    for key in keys:
        for x in ("step", "time"):
            fig = curves_figure({run.path.name: records}, key=key, x=x)
            fig.savefig(run.plots / f"{key}_vs_{x}.png", dpi=110)
            figs.append(f'<img src="{to_data_uri(fig)}" alt="{key} against {x}" width="470">')
    if figs:
        parts += ["<h2>Learning curves</h2>", '<div class="figs">' + "".join(figs) + "</div>"]
    if task is not None and model is not None:
        # The sections show the model's predictions: in eval mode (no dropout), whatever mode
        # the caller left it in (the trainer's last evaluation hands it back in train mode).
        was_training = model.training
        model.eval()
        try:
            sections = task.report_sections(model, run)
        finally:
            model.train(was_training)
        for title, body in sections:
            parts += [f"<h2>{html.escape(title)}</h2>", body]
    parts += [
        "<h2>Config</h2>",
        f"<pre>{html.escape(config)}</pre>",
        "<p>Reproduce with <code>rnnlab train "
        + html.escape(_task_name(config))
        + " --config config.toml</code> (this file).</p>",
    ]
    if records:
        parts += [
            "<h2>Last metrics</h2>",
            "<p>The last line of <code>metrics.jsonl</code> (its <code>epoch</code> counts from 0: "
            "the console's epoch 1 is 0 here).</p>",
            f"<pre>{html.escape(json.dumps(records[-1], indent=1))}</pre>",
        ]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run.path.name)}</title>"
        f"<style>{STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    return run.write_text("report.html", page)


def _task_name(config: str) -> str:
    for line in config.splitlines():
        if line.startswith("task"):
            return line.split("=", 1)[1].strip().strip('"')
    return "TASK"
