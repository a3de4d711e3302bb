"""``rnnlab caption RUN IMAGE``: caption an image with a trained run and draw where it looked.

Also: ``--new-scene SEED`` draws a fresh synthetic scene into IMAGE first (so there is always an
image to try), ``--heldout SEED`` scores the run on a new synthetic test set it never saw, and
``--results FILE`` writes the measured tables and figures of docs/results/captioning.md.
"""

from __future__ import annotations

from pathlib import Path

from rnnlab.cli import HelpFormatter
from rnnlab.errors import UserError, output_file


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "caption",
        help="caption an image with a trained captioning run; write its attention overlay",
        description=(
            "Caption IMAGE (PNG; JPEG too through Pillow) with the model of RUN, print the "
            "caption and write an overlay PNG: the image, then one panel per word with the "
            "attention map over the image."
        ),
        formatter_class=HelpFormatter,
        epilog=(
            "examples:\n"
            "  rnnlab caption runs/caption/2026-01-01-shapes scene.png --new-scene 7\n"
            "  rnnlab caption shapes photo.png --beam 3 --out photo_attention.png\n"
            "  rnnlab caption shapes --heldout 123 --count 1000"
        ),
    )
    p.add_argument("run", help="run directory (or a unique suffix of its name)")
    p.add_argument("image", nargs="?", help="the image to caption")
    p.add_argument(
        "--out", help="overlay PNG to write (default: IMAGE's name + _attention.png beside it)"
    )
    p.add_argument("--beam", type=int, default=0, help="beam size (default: the run's; 1: greedy)")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.add_argument(
        "--new-scene",
        type=int,
        metavar="SEED",
        help="first draw a new synthetic scene from SEED and save it as IMAGE (shapes runs)",
    )
    p.add_argument(
        "--heldout",
        type=int,
        metavar="SEED",
        help="instead of one image: score the run on --count new synthetic scenes of data seed "
        "SEED (a test set it never saw) and print the metrics",
    )
    p.add_argument("--count", type=int, default=1000, help="scenes for --heldout (default 1000)")
    p.add_argument(
        "--results",
        metavar="MD",
        help="write the measured results of RUN into MD, between the markers "
        "'<!-- caption-results:begin NAME -->' and '<!-- caption-results:end NAME -->' (NAME: the "
        "run's config name; the block is appended if MD has none), figures in MD's figures/ "
        "folder (this is how docs/results/captioning.md is made)",
    )
    p.add_argument(
        "--heldout-seeds",
        default="101,202,303",
        help="data seeds of the held-out sets --results scores (default 101,202,303)",
    )
    p.set_defaults(func=cmd_caption, late_positional="image")


def cmd_caption(args) -> int:
    from rnnlab.train.cli import load_trained

    if args.beam < 0:
        raise UserError("--beam must be >= 1 (or 0 for the run's own setting)")
    if args.count < 1:
        raise UserError("--count must be >= 1")
    if args.heldout is None and args.results is None and args.image is None:
        raise UserError("name an IMAGE to caption (or use --heldout SEED or --results MD)")
    if args.new_scene is not None and args.new_scene < 0:
        raise UserError(f"--new-scene must be a seed >= 0, got {args.new_scene}")
    if args.image is not None and (args.heldout is not None or args.results is not None):
        raise UserError("give an IMAGE or --heldout SEED or --results MD, not several")
    if args.results is not None:
        output_file(args.results, "--results")
    run, cfg, task, model = load_trained(args.run, args.checkpoint)
    if cfg.task != "caption":
        raise UserError(f"{run} is a {cfg.task!r} run, not a captioning run")
    if args.beam:
        task.cfg.data.beam_size = args.beam
    if args.results is not None:
        seeds = _seeds(args.heldout_seeds)
        path = write_results(run, cfg, task, model, Path(args.results), seeds, args.count)
        print(path)
        return 0
    if args.heldout is not None:
        metrics = heldout_metrics(task, model, args.heldout, args.count)
        _print_metrics(f"{run} [{args.checkpoint}] held-out seed {args.heldout}", metrics)
        return 0
    return _caption_one(args, task, model)


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise UserError(
            f"--heldout-seeds {text!r}: expected integers separated by commas"
        ) from None


def heldout_metrics(task, model, seed: int, count: int) -> dict:
    """The task's metrics on ``count`` new synthetic test scenes of data seed ``seed``."""
    from rnnlab.data.shapes import generate_shapes
    from rnnlab.tasks.caption import CaptionSplit, ImageSource

    d = task.cfg.data
    if d.dataset != "shapes":
        raise UserError(
            "--heldout scores a shapes run on new synthetic scenes; this run is "
            f"trained on {d.dataset!r} (use `rnnlab eval RUN --split test`)"
        )
    if seed == d.seed:
        raise UserError(f"--heldout {seed} is the run's own data seed; pick another")
    s = generate_shapes("test", count, seed, d.image_size, d.min_objects, d.max_objects)
    split = CaptionSplit(ImageSource(s.images), [[c] for c in s.captions], s.scenes)
    return task.evaluate_split(model, split, key=f"heldout-{seed}-{count}")


def _print_metrics(title: str, metrics: dict) -> None:
    from rich.console import Console

    console = Console()
    console.print(f"[bold]{title}[/bold]")
    for k, v in metrics.items():
        console.print(f"  {k:12s} {v:.4f}" if isinstance(v, float) else f"  {k:12s} {v}")


def _caption_one(args, task, model) -> int:
    from rnnlab.data.captions import read_image, write_png
    from rnnlab.report.attention_overlay import save_overlay

    size = task.cfg.data.image_size
    image_path = Path(args.image)
    scene = None
    if args.new_scene is not None:
        from rnnlab.data.shapes import make_scene

        d = task.cfg.data
        scene = make_scene(args.new_scene, size, d.min_objects, d.max_objects)
        write_png(image_path, scene.image)
        print(f"scene {args.new_scene} written to {image_path}: {scene.caption}")
    image = read_image(image_path, size)
    words, alphas, grid = task.caption(model, image)
    caption = " ".join(w for w in words if w != "<end>")
    print(caption)
    targets = _targets(scene, words, grid, size) if scene is not None else None
    out = Path(args.out) if args.out else image_path.with_name(image_path.stem + "_attention.png")
    out = save_overlay(out, image, words, alphas, grid, targets=targets, title=caption)
    print(f"overlay: {out}")
    return 0


def _targets(scene, words, grid, size):
    """Per word, the cells of the one object it names in ``scene`` (None where it names none)."""
    from rnnlab.data.shapes import matching_objects, object_cells

    out = []
    for w in words:
        match = matching_objects(w, scene.objects)
        out.append(object_cells(scene.objects[match[0]], size, grid) if len(match) == 1 else None)
    return out


# ---------------------------------------------------------------------- results file
def markers(name: str) -> tuple[str, str]:
    """The lines that delimit the results block of the run named ``name`` in a results file."""
    return f"<!-- caption-results:begin {name} -->", f"<!-- caption-results:end {name} -->"


def write_results(run, cfg, task, model, md: Path, seeds: list[int], count: int) -> Path:
    """Measure RUN and write the tables and figures of the captioning results file.

    The block between the :func:`markers` of the run's name in ``md`` is replaced (appended, with
    a heading, when ``md`` has no such block; ``md`` is created if needed); figures go to ``md``'s
    ``figures/`` folder as ``caption_NAME_*.png``. Everything in the block is measured here, now,
    from the run."""
    import time

    d = task.cfg.data
    figures = md.parent / "figures"
    BEGIN, END = markers(cfg.name)
    prefix = f"caption_{cfg.name}"
    rows = []
    t0 = time.monotonic()
    beam = d.beam_size
    for split in ("valid", "test"):
        d.beam_size = 1
        rows.append((split, len(task.data[split].refs), "greedy", task.evaluate(model, split)))
    d.beam_size = 3
    rows.append(("test", len(task.data["test"].refs), "beam 3", task.evaluate(model, "test")))
    d.beam_size = 1
    if d.dataset == "shapes":
        for s in seeds:
            rows.append(
                (
                    f"held-out, data seed {s}",
                    count,
                    "greedy",
                    heldout_metrics(task, model, s, count),
                )
            )
    d.beam_size = beam
    seconds = time.monotonic() - t0
    final = run.read_json("final.json", {})
    config = _config_path(run, cfg)
    lines = [
        BEGIN,
        "",
        f"Run `{run.path.name}`: `rnnlab train caption --config {config}` (seed {cfg.seed}, data "
        f"seed {d.seed}, {d.num_train} training scenes), {final.get('steps', '?')} optimizer steps, "
        f"{final.get('train_seconds', '?')} s of training ({final.get('stopped', '?')}); best "
        f"checkpoint at step {final.get('best_step', '?')}, used below. Written by "
        f"`rnnlab caption {run.path.name} --results {md.as_posix()} --heldout-seeds "
        f"{','.join(map(str, seeds))} --count {count}` ({seconds:.0f} s).",
        "",
        "| scenes | n | decoding | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | exact caption | "
        "loc (x uniform) | attention on the object | uniform share | loc, teacher forced |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, n, how, m in rows:
        loc = (
            f"**{m['loc']:.2f}** | {m['loc_share']:.3f} | {m['loc_uniform']:.3f} | {m['loc_forced']:.2f}"
            if "loc" in m
            else "- | - | - | -"
        )
        lines.append(
            f"| {name} | {n} | {how} | {m['bleu1']:.1f} | {m['bleu2']:.1f} | {m['bleu3']:.1f} | "
            f"{m['bleu4']:.1f} | {m['exact']:.3f} | {loc} |"
        )
    if d.dataset == "shapes":
        lines += ["", "Localisation by the kind of word (test scenes, greedy decoding):", ""]
        lines += ["| words | counted | attention on the object | uniform share | loc (x uniform) |"]
        lines += ["|---|---|---|---|---|"]
        for kind, m in _loc_by_kind(task, model, task.data["test"]).items():
            lines.append(
                f"| {kind} | {m['loc_words']} | {m['loc_share']:.3f} | {m['loc_uniform']:.3f} | "
                f"{m['loc']:.2f} |"
            )
        lines += ["", *_overlays(task, model, figures / prefix, md.parent)]
    curves = _curves(run, figures / f"{prefix}_curves.png")
    if curves is not None:
        lines += ["", f"![learning curves]({curves.relative_to(md.parent).as_posix()})"]
    lines += ["", "Config of the run:", "", "```toml", cfg.to_toml().strip(), "```", "", END]
    block = "\n".join(lines)
    text = md.read_text(encoding="utf-8") if md.is_file() else "# Captioning results\n"
    if (BEGIN in text) != (END in text):
        raise UserError(f"{md} has only one of the lines {BEGIN} and {END}: fix it by hand")
    if BEGIN not in text:
        text = text.rstrip("\n") + f"\n\n## Run {cfg.name}\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    md.parent.mkdir(parents=True, exist_ok=True)
    md.write_text(head + block + tail, encoding="utf-8")
    return md


def _config_path(run, cfg) -> str:
    from rnnlab.tasks.base import load_run_config

    shipped = Path("configs/caption") / f"{cfg.name}.toml"
    try:
        if shipped.is_file() and load_run_config(shipped).to_dict() == cfg.to_dict():
            return shipped.as_posix()
    except UserError:
        pass
    return f"{run.path.name}/config.toml"


def _loc_by_kind(task, model, data) -> dict[str, dict]:
    """Localisation of decoded colour words and shape words, apart."""
    import numpy as np

    from rnnlab.data.shapes import COLOURS, SHAPES, matching_objects
    from rnnlab.tasks.caption import attention_share, localisation

    parts: dict[str, list] = {"colour words": [], "shape words": []}
    cells = None
    for lo in range(0, len(data.refs), task.cfg.data.eval_batch_size):
        idx = np.arange(lo, min(lo + task.cfg.data.eval_batch_size, len(data.refs)))
        out = model.decode(data.images.batch(idx, task.device), task.max_decode_len, 1)
        if cells is None:
            cells = task._object_cells(data, "test", model.encoder.grid)
        for i, ids, a in zip(idx, out.tokens, out.alphas):
            words = task.vocab.decode(ids, as_list=True)
            objs = data.scenes[i].objects
            for kind, vocab in (("colour words", COLOURS), ("shape words", SHAPES)):
                owners = []
                for w in words:
                    match = matching_objects(w, objs) if w in vocab else []
                    owners.append(match[0] if len(match) == 1 else -1)
                parts[kind].append(attention_share(np.asarray(a), owners, cells[i]))
    return {k: localisation(v) for k, v in parts.items()}


def _overlays(task, model, prefix: Path, base: Path) -> list[str]:
    """One overlay figure per object count (the first such test scene), outlines on the named
    object's cells; written to ``{prefix}_overlay_{k}.png``."""
    from rnnlab.report.attention_overlay import save_overlay

    data = task.data["test"]
    out = []
    for k in (1, 2, 3):
        i = next((j for j, s in enumerate(data.scenes) if len(s.objects) == k), None)
        if i is None:
            continue
        scene = data.scenes[i]
        words, alphas, grid = task.caption(model, data.images.numpy(i), beam_size=1)
        caption = " ".join(w for w in words if w != "<end>")
        path = save_overlay(
            prefix.parent / f"{prefix.name}_overlay_{k}.png",
            scene.image,
            words,
            alphas,
            grid,
            targets=_targets(scene, words, grid, task.cfg.data.image_size),
            title=caption,
            dpi=80,
        )
        out += [
            f"Test scene {i} ({k} object{'s' if k > 1 else ''}); reference: *{scene.caption}*; "
            f"model (greedy): *{caption}*. Cyan outlines: the cells of the object the word names.",
            "",
            f"![attention over test scene {i}]({path.relative_to(base).as_posix()})",
            "",
        ]
    return out


def _curves(run, path: Path):
    import matplotlib.pyplot as plt

    from rnnlab.report.plots import save, series

    records = run.metrics()
    if not records:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for split, style in (("train", "-"), ("valid", "o--")):
        xs, ys = series(records, split, "ce")
        if xs:
            axes[0].plot(xs, ys, style, label=f"{split} cross-entropy", markersize=3)
    axes[0].set_yscale("log")
    for key, ax, label in (
        ("bleu", axes[1], "valid BLEU-4"),
        ("loc", axes[2], "valid loc (x uniform)"),
    ):
        xs, ys = series(records, "valid", key)
        ax.plot(xs, ys, "o--", markersize=3, label=label)
    axes[2].axhline(3.0, color="grey", linestyle=":", label="target 3x")
    axes[2].axhline(1.0, color="black", linewidth=0.5, label="uniform")
    for ax in axes:
        ax.set_xlabel("optimizer steps")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, path)
