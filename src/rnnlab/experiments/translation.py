"""``rnnlab experiment translation``: Multi30k German -> English with and without attention, and
docs/results/translation.md from the runs.

Rows are the configs of ``configs/translate/`` named in :data:`ROWS`. For each finished run (found
by its saved config, as ``rnnlab train --continue`` finds it) the best checkpoint translates the
test set (test_2016_flickr) greedily and with beam search; BLEU is sacrebleu's corpus BLEU of the
detokenised output against the raw references (cased, 13a; the signature is printed in the file),
plus lower-cased BLEU beside it. Then: BLEU against source-sentence length (a figure), alignment
heatmaps of the best attention model, and the decoder-cell kernels timed against each other.
Without ``--report-only`` missing runs are trained (or continued) first: hours on a CPU.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from rnnlab.experiments.unfinished import progress

DESCRIPTION = (
    "Multi30k de->en: attention none vs Bahdanau vs Luong, greedy vs beam, BLEU by source length, "
    "heatmaps (writes docs/results/translation.md)"
)

#: config -> what the row is
ROWS = {
    "multi30k-none": "no attention (the bottleneck: one context vector)",
    "multi30k-bahdanau": "Bahdanau (additive) attention",
    "multi30k-luong": "Luong general attention, input feeding",
    "multi30k-small": "small Bahdanau model (4 epochs, for trying the command)",
    "multi30k-small-none": "small model without attention (multi30k-small's twin, 4 epochs)",
    "toy": "toy pairs (target = source reversed), Bahdanau; its own valid/test",
}
#: the runs compared by source length
BY_LENGTH = (
    "multi30k-none",
    "multi30k-bahdanau",
    "multi30k-luong",
    "multi30k-small-none",
    "multi30k-small",
)
#: source-length buckets (tokens), inclusive
BUCKETS = ((1, 8), (9, 10), (11, 12), (13, 14), (15, 17), (18, 21), (22, 99))
HEATMAP_SENTENCES = ("ein mann isst brot .",)
TOY_SENTENCE = "q3 q1 q4 q5 q9 q2"
CONFIG_DIR = Path("configs/translate")
OUT = Path("docs/results/translation.md")
FIGURES = Path("docs/results/figures")


def add_arguments(p) -> None:
    p.add_argument("--only", help="comma-separated config names (default: all rows)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="do not train: write the results from the runs that exist",
    )
    p.add_argument("--runs-dir", help="runs root (default $RNNLAB_RUNS or ./runs)")
    p.add_argument("--beam", type=int, default=5, help="beam size of the beam rows (default 5)")
    p.add_argument(
        "--alphas",
        default="0,0.6,1.0",
        help="length-penalty alphas tried on valid; the best is used on test (default 0,0.6,1.0)",
    )
    p.add_argument("--out", default=str(OUT), help=f"the results file (default {OUT})")
    p.add_argument("--figures", default=str(FIGURES), help=f"figure folder (default {FIGURES})")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")


def run(args) -> int:
    from rnnlab.tasks.base import load_run_config
    from rnnlab.train.cli import _latest_run
    from rnnlab.train.trainer import Trainer

    torch.set_num_threads(args.threads)
    root = Path(args.runs_dir) if args.runs_dir else None
    names = args.only.split(",") if args.only else list(ROWS)
    unknown = [n for n in names if n not in ROWS]
    if unknown:
        from rnnlab.errors import UserError

        raise UserError(f"unknown rows {unknown}; valid: {', '.join(ROWS)}")
    results, unfinished = {}, {}
    for name in names:
        cfg = load_run_config(CONFIG_DIR / f"{name}.toml")
        found = _latest_run(cfg, root)
        if not args.report_only and (found is None or not (found.path / "final.json").is_file()):
            trainer = Trainer.resume(found.path) if found else Trainer.start(cfg, root=root)
            trainer.fit()
            found = trainer.run
        finished = found is not None and (found.path / "final.json").is_file()
        if finished or (found is not None and found.checkpoints.exists("best")):
            # an unfinished run is measured at its best checkpoint so far, and labelled so
            print(f"measuring {found}" + ("" if finished else " (unfinished)"), flush=True)
            alphas = [float(a) for a in args.alphas.split(",")]
            results[name] = measure(found, args.beam, alphas)
        else:
            results[name] = None
            if found is not None:
                unfinished[name] = found
    figures = Path(args.figures)
    extras = {
        "by_length": by_length_figure(results, figures),
        "heatmaps": heatmaps(results, figures),
        "decoder": time_decoder_cells(),
    }
    text = render(results, extras, args, unfinished)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 0


# ---------------------------------------------------------------------- measuring
def measure(run_dir, beam: int, alphas: list[float]) -> dict:
    """Test BLEU of the best checkpoint, greedy and beam (its length-penalty alpha chosen by
    valid BLEU among ``alphas``); what the run logged."""
    from rnnlab.tasks.translate import corpus_bleu
    from rnnlab.train.cli import load_trained

    run, cfg, task, model = load_trained(run_dir.path)
    final = run.read_json("final.json") if (run.path / "final.json").is_file() else None
    if final is None:
        final = interim_final(run, task, model)
    refs = [t for _, t in task.raw["test"]]
    out = {"run": run, "cfg": cfg, "task": task, "model": model, "final": final}
    out["params"] = model.num_parameters()
    out["valid_alpha"] = {
        a: task.split_bleu(model, "valid", beam_size=beam, length_penalty=a)[0] for a in alphas
    }
    out["alpha"] = max(alphas, key=lambda a: out["valid_alpha"][a])
    for k in (1, beam):
        t0 = time.perf_counter()
        bleu, sig, trans = task.split_bleu(model, "test", beam_size=k, length_penalty=out["alpha"])
        texts = [t.text for t in trans]
        out[f"beam{k}"] = {
            "bleu": bleu,
            "signature": sig,
            "bleu_lc": corpus_bleu(texts, refs, lowercase=True)[0],
            "seconds": time.perf_counter() - t0,
            "texts": texts,
        }
    out["beam"] = beam
    valid = [r for r in run.metrics() if r.get("split") == "valid" and "bleu" in r]
    out["valid_curve"] = [(r["epoch"], r["bleu"], r["loss"]) for r in valid]
    return out


def interim_final(run, task, model) -> dict:
    """What ``final.json`` would hold for an unfinished run, at its best checkpoint so far:
    that evaluation's epoch, time and valid perplexity, and the test perplexity measured now."""
    # the pointer names the step; load_trained has already read (and verified) the tensors
    step = json.loads(run.checkpoints.pointer("best").read_text())["step"]
    at = [m for m in run.metrics() if m.get("split") == "valid" and m.get("step") == step][-1]
    with torch.no_grad():
        test = task.evaluate(model, "test")
    return {
        "epochs": at["epoch"] + 1,
        "train_seconds": at["time"],
        "valid": {"ppl": at["ppl"]},
        "test": {"ppl": test["ppl"]},
        "unfinished": True,
    }


def bucket_of(n: int) -> int:
    return next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= n <= hi)


def by_length_figure(results: dict, figures: Path):
    """BLEU per source-length bucket (beam outputs) for :data:`BY_LENGTH`; saves the figure."""
    from rnnlab.tasks.translate import corpus_bleu

    have = {n: r for n, r in results.items() if r is not None and n in BY_LENGTH}
    if not have:
        return None
    any_r = next(iter(have.values()))
    task = any_r["task"]
    src_len = [len(s) for s, _ in task.tokens["test"]]
    refs = [t for _, t in task.raw["test"]]
    groups = [[i for i, n in enumerate(src_len) if bucket_of(n) == b] for b in range(len(BUCKETS))]
    table = {}
    for name, r in have.items():
        texts = r[f"beam{r['beam']}"]["texts"]
        table[name] = [corpus_bleu([texts[i] for i in g], [refs[i] for i in g])[0] for g in groups]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{lo}-{hi}" if hi < 99 else f"{lo}+" for lo, hi in BUCKETS]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, ys in table.items():
        ax.plot(range(len(ys)), ys, marker="o", label=f"{ROWS[name].split(' (')[0]}")
    ax.set_xticks(range(len(labels)), labels)
    ax.set_xlabel("source sentence length (tokens), test_2016_flickr")
    ax.set_ylabel(f"BLEU (beam {any_r['beam']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("BLEU against source length: attention vs one context vector", fontsize=10)
    fig.tight_layout()
    figures.mkdir(parents=True, exist_ok=True)
    path = figures / "translation_bleu_by_length.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return {"table": table, "counts": [len(g) for g in groups], "labels": labels, "path": path}


def length_reading(bl: dict) -> list[str]:
    """One generated sentence per model: how much BLEU it keeps from its best length bucket to
    the longest sentences (the sources' argument for attention, read off the table)."""
    parts = []
    for name, ys in bl["table"].items():
        best = max(ys)
        if best > 0:
            parts.append(f"{name} {best:.1f} -> {ys[-1]:.1f} ({100 * ys[-1] / best:.0f}% kept)")
    if not parts:
        return []
    longest = bl["labels"][-1]
    return [
        f"From each model's best bucket to the longest sentences ({longest} tokens): "
        + "; ".join(parts)
        + ".",
        "",
    ]


def heatmaps(results: dict, figures: Path) -> list:
    """Alignment heatmaps: the toy model on one toy sentence (the reversal is an anti-diagonal);
    the best Multi30k attention model on the README sentence and two test sentences."""
    from rnnlab.report.heatmap import save_alignment

    jobs = []
    if results.get("toy") is not None:
        jobs.append((results["toy"], TOY_SENTENCE))
    r = results.get("multi30k-bahdanau") or results.get("multi30k-luong")
    if r is not None:
        tests = r["task"].raw["test"]
        # the first test sentence and the first one of 20+ words
        picks = [tests[0][0], next(s for s, _ in tests if len(s.split()) >= 20)]
        jobs += [(r, sentence) for sentence in (*HEATMAP_SENTENCES, *picks)]
    out = []
    for i, (r, sentence) in enumerate(jobs, 1):
        (t,) = r["task"].translate(
            r["model"], [sentence], beam_size=r["beam"], length_penalty=r["alpha"]
        )
        path = figures / f"translation_heatmap_{i}.png"
        save_alignment(path, t.attention, t.source, [*t.output, "<end>"])
        out.append((r["cfg"].name, sentence, t.text, path, r["beam"], r["alpha"]))
    return out


def time_decoder_cells(reps: int = 7) -> list:
    """Milliseconds for 15 decoder steps forward + backward (B = 128, GRU 768 -> 512, the
    Bahdanau model's cell) per engine, interleaved; median and minimum."""
    from rnnlab.models.seq2seq import DecoderCell

    torch.manual_seed(0)
    B, D, H, T = 128, 768, 512, 15
    cells = {e: DecoderCell("gru", D, H, {}, e) for e in ("cell", "builtin", "fused")}
    X = torch.randn(T, B, D)
    times = {e: [] for e in cells}
    with torch.enable_grad():
        for _ in range(reps):
            for e, c in cells.items():
                t0 = time.perf_counter()
                h, hs = (torch.zeros(B, H),), []
                for t in range(T):
                    h = c(X[t], h)
                    hs.append(h[0])
                torch.stack(hs).sum().backward()
                times[e].append(1000 * (time.perf_counter() - t0))
    return [(e, sorted(v)[len(v) // 2], min(v)) for e, v in times.items()]


# ---------------------------------------------------------------------- the file
def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 3600 else f"{seconds / 3600:.2f} h"


def _kernel_verdict(rows) -> str:
    meds = {e: med for e, med, _ in rows}
    fast = min(meds, key=meds.get)
    spread = max(meds.values()) / meds[fast] - 1
    if spread < 0.15:
        return (
            f"The medians are within {100 * spread:.0f}% of each other: no kernel is clearly faster "
            "here (the matrix products dominate)."
        )
    return f"Fastest: {fast} ({100 * spread:.0f}% ahead of the slowest)."


def _alphas(results: dict) -> list[float]:
    first = next((r for r in results.values() if r is not None), None)
    return list(first["valid_alpha"]) if first else []


def render(results: dict, extras: dict, args, unfinished: dict | None = None) -> str:
    beam = args.beam
    m30k = [r for n, r in results.items() if r is not None and n.startswith("multi30k")]
    first = m30k[0] if m30k else None
    sig = first[f"beam{beam}"]["signature"] if first else "(no Multi30k run measured yet)"
    sizes = (
        f"{len(first['task'].src_vocab):,} German, {len(first['task'].tgt_vocab):,} English entries"
        if first
        else "(no Multi30k run measured yet)"
    )
    L = [
        "# Translation: Multi30k German -> English",
        "",
        "Generated by `rnnlab experiment translation --report-only` from the runs in `runs/translate/`",
        "(the rows' `rnnlab train` commands made them; `RNNLAB_DATA=/work/shared/data`). Every number",
        "below was measured by that command on this machine.",
        "",
        "**Data and tokens.** Multi30k task 1: train 29,000 pairs, val 1,014 (model selection),",
        "test = test_2016_flickr, 1,000. Tokens: the rule of `rnnlab.data.tokenize` (words with inner",
        "hyphens/apostrophes, every other non-space character alone) without lower-casing; the",
        "German source is then lower-cased, the English target keeps its case. Vocabularies from",
        f"train, tokens seen at least twice (`min_freq = 2`): {sizes}",
        "(4 specials included); the rest is `<unk>`. An output `<unk>` is replaced by the source word",
        'it attends to most (`unk = "copy"`).',
        "",
        "**BLEU.** sacrebleu corpus BLEU of the *detokenised* output (`rnnlab.tasks.translate."
        "detokenize`)",
        "against the *raw* reference sentences, cased, sacrebleu's own 13a tokenisation:",
        f"signature `{sig}`. Detokenising the tokenised references themselves scores 99.98",
        "(2 of 1,000 sentences differ), the ceiling of this pipeline. `BLEU lc` is the same with",
        "`lowercase=True` (`case:lc`): closer to the lower-cased, tokenised BLEU of the anchors below,",
        "but still not the same measurement (different tokeniser, different BLEU implementation).",
        "",
        "## Test BLEU",
        "",
        f"| config | attention | parameters | epochs | train time | valid ppl | test ppl | "
        f"greedy BLEU | beam {beam} BLEU | beam {beam} BLEU lc | alpha | command |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, what in ROWS.items():
        if name not in results:
            continue
        r = results[name]
        train = f"`rnnlab train translate --config configs/translate/{name}.toml`"
        if r is None:
            state = "not run yet"
            if unfinished and name in unfinished:
                resume = f"resume with `{train[1:-1]} --continue`"
                state = progress(unfinished[name], key="bleu", resume=resume)
            L.append(f"| {name} | {what} | | | | | | {state} | | | | {train} |")
            continue
        f = r["final"]
        g, b = r["beam1"], r[f"beam{beam}"]
        run_path = r["run"].path
        cmds = (
            f"{train}; `rnnlab translate {run_path} --split test --beam 1`; "
            f"`... --beam {beam} --length-penalty {r['alpha']:g} --lowercase-bleu`"
        )
        if f.get("unfinished"):
            what += (
                f" — **unfinished run**, measured at its best checkpoint so far (epoch"
                f" {f['epochs']}); resume with `{train[1:-1]} --continue`"
            )
        L.append(
            f"| {name} | {what} | {r['params'] / 1e6:.2f} M | {f['epochs']} | "
            f"{_duration(f['train_seconds'])} | {f['valid']['ppl']:.2f} | {f['test']['ppl']:.2f} | "
            f"{g['bleu']:.2f} | {b['bleu']:.2f} | {b['bleu_lc']:.2f} | {r['alpha']:g} | {cmds} |"
        )
    L += [
        "",
        f"Beam rows: beam {beam}, length normalisation `lp(L) = ((5 + L) / 6)^alpha` (Wu et al. 2016)",
        "with alpha chosen by validation BLEU (below). Train time: wall-clock of the training loop.",
        "",
        "| config | " + " | ".join(f"valid BLEU, alpha {a:g}" for a in _alphas(results)) + " |",
        "|---|" + "---:|" * len(_alphas(results)),
    ]
    for name, r in results.items():
        if r is not None:
            L.append(
                f"| {name} | "
                + " | ".join(f"{r['valid_alpha'][a]:.2f}" for a in _alphas(results))
                + " |"
            )
    L += [
        "",
        "Anchors, not ours (bentrevett/pytorch-seq2seq tutorials, Multi30k de->en test, greedy, BLEU",
        "of lower-cased spaCy tokens by torchtext): LSTM without attention 13.76, GRU context model",
        "20.61, GRU + Bahdanau attention 28.30 (20.5M parameters). Target for us: >= 32 with at most",
        "20.5M parameters.",
        "",
    ]
    curves = {n: r["valid_curve"] for n, r in results.items() if r is not None and n in BY_LENGTH}
    if curves:
        E = max(len(c) for c in curves.values())
        L += [
            "## Validation BLEU per epoch (greedy, logged during training)",
            "",
            "Greedy BLEU on valid after every epoch, as each run logged it (`bleu` of the `valid`",
            "lines of its metrics.jsonl; epoch 0 is before training; early stopping may end a run",
            "early). The model of the table above is the epoch with the lowest validation loss.",
            "",
            "| epoch | " + " | ".join(curves) + " |",
            "|---:|" + "---:|" * len(curves),
        ]
        for e in range(E):
            cells = []
            for c in curves.values():
                cells.append(f"{c[e][1]:.2f}" if e < len(c) else "")
            L.append(f"| {e} | " + " | ".join(cells) + " |")
        L.append("")
    bl = extras["by_length"]
    if bl:
        L += [
            "## BLEU against source length",
            "",
            f"Test sentences grouped by source length in tokens; corpus BLEU of each group (beam {beam}).",
            "",
            "| source tokens | " + " | ".join(bl["labels"]) + " |",
            "|---|" + "---:|" * len(bl["labels"]),
            "| sentences | " + " | ".join(str(n) for n in bl["counts"]) + " |",
        ]
        for name, ys in bl["table"].items():
            L.append(f"| {name} | " + " | ".join(f"{y:.2f}" for y in ys) + " |")
        L += ["", f"![BLEU by source length](figures/{bl['path'].name})", ""]
        L += length_reading(bl)
    if extras["heatmaps"]:
        L += [
            "## Alignment heatmaps",
            "",
            "Attention weights of each output word (rows, `<end>` last) over the source words",
            f"(columns), beam {beam}. Reproduce one with `rnnlab translate RUN --beam K",
            "--length-penalty ALPHA SENTENCE`, with the beam and alpha given beside it (it prints",
            "the translation and the PNG's path).",
            "",
        ]
        for name, sentence, text, path, k, alpha in extras["heatmaps"]:
            L += [
                f"- {name} (beam {k}, alpha {alpha:g}): `{sentence}` -> `{text}`",
                "",
                f"  ![heatmap](figures/{path.name})",
                "",
            ]
    L += [
        "## Decoder cell: which kernel",
        "",
        "The decoder runs one step at a time. Milliseconds for 15 steps forward + backward",
        "(B = 128, GRU cell 768 -> 512 as in the Bahdanau model), engines interleaved, 7 repetitions,",
        f"{torch.get_num_threads()} thread(s), on a machine shared with other jobs:",
        "",
        "| decoder_engine | median ms | min ms |",
        "|---|---:|---:|",
    ]
    for e, med, mn in extras["decoder"]:
        what = {
            "cell": "cell (torch.gru_cell)",
            "builtin": "builtin (Recurrent, T = 1)",
            "fused": "fused (Recurrent, T = 1)",
        }[e]
        L.append(f"| {what} | {med:.1f} | {mn:.1f} |")
    L += [
        "",
        _kernel_verdict(extras["decoder"]),
        '`decoder_engine = "auto"` uses torch\'s cell kernel where torch has the cell (rnn, lstm, gru',
        "reset-after), else a length-1 `Recurrent` on the fused engine.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}. Training",
        "time is wall-clock inside the training loop on a 2-core machine shared with other jobs",
        "(an upper bound).",
        "",
    ]
    return "\n".join(L)
