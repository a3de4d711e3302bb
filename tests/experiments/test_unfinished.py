"""The progress line of an unfinished run in the results tables."""

from rnnlab.experiments.unfinished import progress


class _Run:
    def __init__(self, rows):
        self.rows = rows

    def metrics(self):
        return self.rows


def test_progress_picks_the_best_of_the_right_metric():
    rows = [
        {"step": 0, "epoch": 0, "split": "valid", "loss": 9.0, "ppl": 8103.1, "bleu": 0.0},
        {"step": 227, "epoch": 0, "split": "train", "loss": 5.0},
        {"step": 227, "epoch": 0, "split": "valid", "loss": 4.0, "ppl": 54.6, "bleu": 12.5},
        {"step": 454, "epoch": 1, "split": "valid", "loss": 3.5, "ppl": 33.1, "bleu": 20.25},
        {"step": 681, "epoch": 2, "split": "valid", "loss": 3.6, "ppl": 36.6, "bleu": 19.0},
    ]
    run = _Run(rows)
    assert progress(run) == (
        "unfinished: last evaluated at step 681 (epoch 3); best valid so far 33.10 ppl (epoch 2); "
        "resume with `--continue`"
    )
    # BLEU is better when higher; the step-0 evaluation (before training) never counts
    assert "best valid so far 20.25 bleu (epoch 2); go on" in progress(run, "bleu", "go on")
    chars = _Run([{"step": 5, "epoch": 0, "split": "valid", "loss": 1.0, "ppl": 2.7, "bpc": 1.44}])
    assert "1.44 bpc" in progress(chars)
    assert progress(_Run(rows[:2])) == "started, no evaluation yet"
