"""How far an unfinished run has got, for the results tables of ``rnnlab experiment``."""

from __future__ import annotations

#: validation metrics that can summarise a run, in order of preference, and which way is better
_KEYS = (("bpc", min), ("ppl", min), ("bleu", max), ("loss", min))


def progress(run, key: str | None = None, resume: str = "resume with `--continue`") -> str:
    """What an unfinished run has done so far: its last evaluation and its best validation
    ``key`` (default: bits per character, perplexity, BLEU or loss, the first its metrics have)."""
    valid = [m for m in run.metrics() if m.get("split") == "valid" and m.get("step", 0) > 0]
    if not valid:
        return "started, no evaluation yet"
    key, better = next((k, b) for k, b in _KEYS if k in valid[-1] and key in (None, k))
    best = better(valid, key=lambda m: m[key])
    # ``epoch`` in metrics.jsonl counts from 0: the evaluation at the end of the first epoch has 0
    return (
        f"unfinished: last evaluated at step {valid[-1]['step']} (epoch {valid[-1]['epoch'] + 1}); "
        f"best valid so far {best[key]:.2f} {key} (epoch {best['epoch'] + 1}); {resume}"
    )
