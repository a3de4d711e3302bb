"""``rnnlab translate RUN "ein mann isst brot ."``: translate with a trained run, draw the
attention heatmap; or translate a file or a whole split and score it with BLEU."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from rnnlab.cli import HelpFormatter
from rnnlab.errors import UserError, output_file


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "translate",
        help="translate with a trained translation run (and draw its attention heatmap)",
        description=(
            "Translate SENTENCE with the best checkpoint of RUN (a `rnnlab train translate` "
            "run), print the translation, and write the attention heatmap (source words x "
            "output words) as a PNG. With --input, translate a file (one sentence per line); "
            "with --split, translate the run's valid or test split. With --reference (or "
            "--split), print sacrebleu's corpus BLEU of the detokenised output against the raw "
            "references, and its signature."
        ),
        formatter_class=HelpFormatter,
        epilog=(
            "examples:\n"
            '  rnnlab translate RUN "ein mann isst brot ."\n'
            "  rnnlab translate RUN --split test --beam 5\n"
            "  rnnlab translate RUN --input test.de --reference test.en --output out.en"
        ),
    )
    p.add_argument("run", help="run directory (or a unique suffix of its name)")
    p.add_argument("sentence", nargs="?", help="the sentence to translate")
    p.add_argument("--input", "-i", help="translate this file, one sentence per line ('-': stdin)")
    p.add_argument("--split", choices=["valid", "test"], help="translate the run's split")
    p.add_argument("--reference", "-r", help="reference translations of --input, for BLEU")
    p.add_argument("--output", "-o", help="write the translations here (default: stdout)")
    p.add_argument(
        "--beam", type=int, default=None, help="beam size (1: greedy; default: the run's config)"
    )
    p.add_argument(
        "--length-penalty",
        type=float,
        default=None,
        help="alpha of the beam's length normalisation ((5 + L) / 6)^alpha",
    )
    p.add_argument("--max-len", type=int, default=None, help="most output tokens")
    p.add_argument(
        "--unk",
        choices=["copy", "remove", "keep", "forbid"],
        default=None,
        help="<unk> in the output: copy the most attended source word, remove, keep, or forbid",
    )
    p.add_argument(
        "--heatmap",
        help="PNG for SENTENCE's attention (default RUN/plots/translate-<words>.png)",
    )
    p.add_argument("--lowercase-bleu", action="store_true", help="also report lower-cased BLEU")
    p.add_argument("--checkpoint", choices=["best", "last"], default="best")
    p.set_defaults(func=cmd_translate, late_positional="sentence")


def cmd_translate(args) -> int:
    modes = sum(x is not None for x in (args.sentence, args.input, args.split))
    if modes != 1:
        raise UserError("give exactly one of: a SENTENCE, --input FILE, or --split valid|test")
    if args.reference and not args.input:
        raise UserError("--reference goes with --input (a --split has its own references)")
    if args.beam is not None and args.beam < 1:
        raise UserError(f"--beam must be >= 1, got {args.beam}")
    if args.max_len is not None and args.max_len < 1:
        raise UserError(f"--max-len must be >= 1, got {args.max_len}")
    if args.length_penalty is not None and args.length_penalty < 0:
        raise UserError("--length-penalty must be >= 0")
    if args.output:
        output_file(args.output, "--output")  # checked before the work, not after it
    sources = refs = None
    if args.input is not None:
        sources = _read_lines(args.input)
        if args.reference:
            refs = _read_lines(args.reference)
            if len(refs) != len(sources):
                raise UserError(
                    f"{args.input} has {len(sources)} lines but {args.reference} has {len(refs)}"
                )
    elif args.sentence is not None and not args.sentence.strip():
        raise UserError("the sentence is empty")

    from rnnlab.train.cli import load_trained

    run, cfg, task, model = load_trained(args.run, args.checkpoint)
    if cfg.task != "translate":
        raise UserError(f"{run} is a {cfg.task!r} run, not a translation run")
    decoding = {
        "beam_size": args.beam or cfg.model.beam_size,
        "length_penalty": args.length_penalty,
        "max_len": args.max_len,
        "unk": args.unk,
    }
    if args.sentence is not None:
        return _one(args, run, task, model, decoding)
    if args.split is not None:
        refs = [t for _, t in task.raw[args.split]]
        out = task.translate_tokens(model, [s for s, _ in task.tokens[args.split]], **decoding)
    else:
        out = task.translate(model, sources, **decoding)
    texts = [o.text for o in out]
    if args.output:
        Path(args.output).write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    elif args.input is not None:
        sys.stdout.write("".join(t + "\n" for t in texts))
    if refs is not None:
        from rnnlab.tasks.translate import corpus_bleu

        lc = cfg.data.lowercase_target
        score, sig = corpus_bleu(texts, refs, lowercase=lc)
        what = args.split or args.input
        print(f"BLEU {score:.2f} on {what} ({len(texts)} sentences, beam {decoding['beam_size']})")
        print(f"sacrebleu signature: {sig}")
        if args.lowercase_bleu and not lc:
            score, sig = corpus_bleu(texts, refs, lowercase=True)
            print(f"lower-cased BLEU {score:.2f} ({sig})")
    return 0


def _one(args, run, task, model, decoding) -> int:
    (t,) = task.translate(model, [args.sentence], **decoding)
    if not t.source:
        raise UserError(f"no tokens in {args.sentence!r}")
    print(t.text)
    if not t.attention.numel():
        print("(this model has no attention (attention = none): no heatmap)", file=sys.stderr)
        return 0
    from rnnlab.report.heatmap import save_alignment

    path = args.heatmap
    if path is None:
        slug = re.sub(r"[^\w]+", "-", " ".join(t.source[:6]).lower()).strip("-") or "sentence"
        path = run.plots / f"translate-{slug}.png"
    path = save_alignment(path, t.attention, t.source, [*t.output, "<end>"], title=t.text)
    print(f"attention heatmap: {path}", file=sys.stderr)
    return 0


def _read_lines(name: str) -> list[str]:
    if name == "-":
        return sys.stdin.read().splitlines()
    path = Path(name)
    if not path.is_file():
        raise UserError(f"no file {name!r}")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UserError(
            f"{name} is not UTF-8 text ({e.reason} at byte {e.start}); convert it first, "
            f"e.g. `iconv -f latin1 -t utf-8 {name} > {path.stem}.utf8{path.suffix}`"
        ) from None
