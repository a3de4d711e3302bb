"""``rnnlab experiment chung2014``: tanh RNN vs GRU vs LSTM on polyphonic music (Chung et al. 2014).

Chung, Gulcehre, Cho & Bengio (2014), "Empirical Evaluation of Gated Recurrent Neural Networks on
Sequence Modeling", Table 2 (music) and Figures 2-3: three single-layer models of about 20K
parameters each, a tanh RNN (100 units), a GRU (46 units, reset gate before the recurrent matmul)
and an LSTM (36 units, peepholes), predicting the next frame of 88-key piano rolls; the metric is
the negative log-likelihood per time step (:mod:`rnnlab.tasks.music`).

Two protocols, each a list of ordinary ``rnnlab train music`` runs:

- **paper**: the paper's sizes and recipe: RMSProp, weight noise (std 0.075) on the weight
  matrices, gradient norm rescaled to at most 1, early stopping on the validation NLL, and the
  learning rate chosen on validation among 10 log-uniform candidates ``exp(U(-12, -6))``. To fit a
  shared CPU the candidates are searched by successive halving: all of them train for
  ``--search-steps`` updates, the ``--finalists`` best (validation NLL) then train from scratch to
  early stopping, and the best finalist is reported. What the paper leaves open (batch size,
  sequence handling, patience) is set in :data:`PAPER_CONFIG` and stated in the results file.
- **ours**: the same cells at sizes that fit *within* the paper's stated parameter counts
  (counting every parameter, output layer included), trained with :data:`OURS_CONFIG`.

Every run is looked up before it is started (by a name that carries a digest of its whole config):
a finished run is reused, an interrupted one resumed, so a killed experiment loses at most the run
in progress. The results file (``docs/results/chung2014.md`` by default) and its figures are
written from the runs, at the end of every invocation.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import statistics
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnlab.errors import UserError

DESCRIPTION = (
    "Chung et al. (2014): tanh RNN vs GRU vs LSTM of ~20K parameters on four polyphonic music sets"
)

DATASETS = ("nottingham", "jsb-chorales", "musedata", "piano-midi")  # the paper's order
DATASET_LABELS = {
    "nottingham": "Nottingham",
    "jsb-chorales": "JSB Chorales",
    "musedata": "MuseData",
    "piano-midi": "Piano-midi.de",
}
#: Chung et al. (2014), Table 2, test NLL per time step (the paper's numbers, not ours).
PAPER_TEST_NLL = {
    "nottingham": {"tanh": 3.13, "gru": 3.23, "lstm": 3.20},
    "jsb-chorales": {"tanh": 9.10, "gru": 8.54, "lstm": 8.67},
    "musedata": {"tanh": 6.23, "gru": 5.99, "lstm": 6.23},
    "piano-midi": {"tanh": 9.03, "gru": 8.82, "lstm": 9.03},
}
#: The paper's learning-rate candidates: exp(U(LOG_LR[0], LOG_LR[1])).
LOG_LR = (-12.0, -6.0)


@dataclass(frozen=True)
class Unit:
    """One of the paper's three models.

    Attributes:
        key: tanh, gru or lstm.
        label: for tables.
        cell, variant: the rnnlab cell and its options.
        paper_hidden: the paper's number of units (Table 1).
        paper_params: the paper's stated parameter count (Table 1): our budget.
    """

    key: str
    label: str
    cell: str
    variant: dict = field(default_factory=dict, hash=False)
    paper_hidden: int = 0
    paper_params: int = 0


UNITS = (
    Unit("tanh", "tanh RNN", "rnn", {}, 100, 20_100),
    Unit("gru", "GRU", "gru", {"reset": "before"}, 46, 20_200),
    Unit("lstm", "LSTM", "lstm", {"peephole": True}, 36, 19_800),
)
UNIT_BY_KEY = {u.key: u for u in UNITS}

#: One run of the paper's protocol (dataset, cell, size and learning rate are filled in).
PAPER_CONFIG = {
    "task": "music",
    "name": "chung2014-paper",
    "seed": 0,
    "data": {"dataset": "jsb-chorales", "first_frame": "predict", "crop": 100},
    "model": {"cell": "gru", "variant": {"reset": "before"}, "hidden_size": 46},
    "train": {
        "epochs": 300,
        "max_steps": 6000,
        "batch_size": 4,
        "optimizer": "rmsprop",
        "rho": 0.9,
        "lr": 1e-3,
        "weight_noise": 0.075,
        "clip_norm": 1.0,
        "early_stopping": 10,
        "eval_every": 0,
        "log_every": 100,
        "checkpoint_minutes": 5.0,
        "keep_every_eval": False,
        "threads": 1,
    },
}

#: One run of our protocol (dataset, cell and size are filled in).
OURS_CONFIG = {
    "task": "music",
    "name": "chung2014-ours",
    "seed": 0,
    "data": {"dataset": "jsb-chorales", "first_frame": "predict", "crop": 100},
    "model": {"cell": "gru", "variant": {"reset": "before"}, "hidden_size": 41},
    "train": {
        "epochs": 300,
        "max_steps": 6000,
        "batch_size": 4,
        "optimizer": "adam",
        "lr": 1e-2,
        "schedule": "cosine",
        "weight_noise": 0.075,
        "clip_norm": 1.0,
        "early_stopping": 10,
        "eval_every": 0,
        "log_every": 100,
        "checkpoint_minutes": 5.0,
        "keep_every_eval": False,
        "threads": 1,
    },
}

#: Our per-unit changes: the LSTM's forget gate starts at bias 1 (Jozefowicz et al. 2015).
OURS_UNIT = {"lstm": {"model": {"variant": {"peephole": True, "forget_bias": 1.0}}}}

#: Our two recipes: ``fast`` is :data:`OURS_CONFIG` (small batches, high learning rate, cosine
#: decay: most progress per second on the large sets); ``careful`` trades speed for less gradient
#: noise (what the small sets, which overfit early, may prefer).
OURS_RECIPES = {
    "fast": {},
    "careful": {
        "train": {
            "batch_size": 16,
            "lr": 3e-3,
            "schedule": "plateau",
            "plateau_factor": 0.3,
            "plateau_patience": 2,
        }
    },
}
#: The recipes tried per dataset; the one with the best validation NLL is reported. Both on the
#: two small sets; only ``fast`` on the two large ones (where the update budget binds).
OURS_CHOICES = {
    "jsb-chorales": ("fast", "careful"),
    "piano-midi": ("fast", "careful"),
    "nottingham": ("fast",),
    "musedata": ("fast",),
}

#: Updates per run (both protocols; the search stage uses --search-steps): the large sets get more.
MAX_STEPS = {"jsb-chorales": 6000, "piano-midi": 10000, "nottingham": 20000, "musedata": 20000}

#: --quick: small subsets and budgets, so the whole pipeline runs in minutes.
QUICK = {
    "data": {"max_pieces": 12, "crop": 40},
    "train": {"epochs": 2, "max_steps": 0, "early_stopping": 0, "checkpoint_minutes": 0.0},
}


# ---------------------------------------------------------------------- CLI
def add_arguments(p) -> None:
    p.add_argument(
        "--datasets",
        nargs="+",
        choices=DATASETS,
        default=list(DATASETS),
        metavar="NAME",
        help=f"music sets to run (default all: {', '.join(DATASETS)})",
    )
    p.add_argument(
        "--units",
        nargs="+",
        choices=[u.key for u in UNITS],
        default=[u.key for u in UNITS],
        metavar="UNIT",
        help="models to run: tanh gru lstm (default all)",
    )
    p.add_argument(
        "--protocols",
        nargs="+",
        choices=["paper", "ours"],
        default=["paper", "ours"],
        help="paper (the paper's sizes and recipe) and/or ours (within the parameter budget)",
    )
    p.add_argument("--seeds", type=int, default=1, help="seeds 0..N-1 per model (default 1)")
    p.add_argument(
        "--lr-samples", type=int, default=10, help="paper protocol: learning-rate candidates (10)"
    )
    p.add_argument(
        "--search-steps",
        type=int,
        default=400,
        help="paper protocol: updates per candidate before the finalists are chosen (400)",
    )
    p.add_argument(
        "--finalists",
        type=int,
        default=1,
        help="paper protocol: candidates trained to early stopping (1)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a few pieces per split, 2 epochs, 2 learning-rate candidates: the pipeline in minutes "
        "(numbers not comparable with the paper; written beside the runs, not to docs/)",
    )
    p.add_argument("--runs-dir", help="where runs live (default $RNNLAB_RUNS or ./runs)")
    p.add_argument(
        "--out",
        help="results file (default docs/results/chung2014.md; with --quick "
        "RUNS/chung2014-quick.md, and RUNS/chung2014-subset.md when --datasets, --units or "
        "--protocols leave part of the experiment out)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write the results from the runs already finished",
    )
    p.add_argument(
        "--plan", action="store_true", help="list the runs and whether each is done, then stop"
    )


def run(args) -> int:
    from rich.console import Console

    from rnnlab.train.run_dir import runs_root

    if args.seeds < 1 or args.lr_samples < 1 or args.finalists < 1 or args.search_steps < 1:
        raise UserError("--seeds, --lr-samples, --finalists and --search-steps must be >= 1")
    if args.quick:
        args.lr_samples, args.finalists, args.search_steps = min(args.lr_samples, 2), 1, 4
    root = Path(args.runs_dir) if args.runs_dir else runs_root()
    out = results_path(args, root)
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    exp = Experiment(args, root, console)
    console.print(exp.parameter_table_text())
    if args.plan:
        exp.print_plan()
        return 0
    t0 = time.monotonic()
    if not args.report_only:
        exp.run_all()
    results = exp.collect()
    elapsed = time.monotonic() - t0
    text = write_results(exp, results, out, elapsed)
    print(text.split("### Learning-rate search")[0].split("## Protocols")[0].rstrip())
    console.print(f"results: {out}")
    return 0


# ---------------------------------------------------------------------- sizes
def fit_hidden(unit: Unit, budget: int) -> int:
    """The largest H whose model (every parameter, output layer included) has <= ``budget``."""
    from rnnlab.models.piano_roll import PianoRollConfig, count_parameters

    def count(H):
        return count_parameters(
            PianoRollConfig(cell=unit.cell, variant=unit.variant, hidden_size=H)
        )

    H = 1
    while count(H + 1) <= budget:
        H += 1
    return H


def parameter_breakdown(unit: Unit, hidden: int) -> dict[str, int]:
    import torch

    from rnnlab.models.piano_roll import PianoRollConfig, PianoRollModel

    with torch.device("meta"):
        m = PianoRollModel(
            PianoRollConfig(cell=unit.cell, variant=unit.variant, hidden_size=hidden)
        )
    return m.parameter_counts()


# ---------------------------------------------------------------------- runs
def lr_candidates(n: int, seed: int, dataset: str, unit: str) -> list[float]:
    """The paper protocol's ``n`` learning rates, ``exp(U(-12, -6))``, drawn from a generator
    seeded by (seed, dataset, unit), so a re-run draws the same ones."""
    rng = np.random.default_rng([seed, zlib.crc32(f"{dataset}/{unit}".encode())])
    return [float(math.exp(rng.uniform(*LOG_LR))) for _ in range(n)]


def _merge(base: dict, extra: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k != "variant":
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


#: Config keys added after this experiment's runs were published, with their defaults: dropped
#: from the digest while they hold the default, so that a new key leaves the published runs'
#: digests (and names) as they were and `--report-only` still finds them.
LATER_KEYS = {("model", "recurrent_init"): "uniform"}


def config_digest(raw: dict) -> str:
    """A short digest of a config without its name: runs with equal digests are the same run."""
    body = {k: v for k, v in raw.items() if k != "name"}
    for (section, key), default in LATER_KEYS.items():
        table = body.get(section)
        if isinstance(table, dict) and table.get(key, default) == default:
            body[section] = {k: v for k, v in table.items() if k != key}
    return hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()[:8]


@dataclass
class Job:
    """One training run of the experiment."""

    protocol: str  # paper | ours
    stage: str  # search | final | ours
    dataset: str
    unit: Unit
    seed: int
    hidden: int
    lr: float
    index: int  # learning-rate candidate (paper) or recipe (ours)
    raw: dict  # the run's config as a TOML-able dict
    recipe: str = "fast"  # ours: the recipe (OURS_RECIPES)

    @property
    def name(self) -> str:
        return self.raw["name"]


class Experiment:
    def __init__(self, args, root: Path, console):
        self.args, self.root, self.console = args, root, console
        self.units = [UNIT_BY_KEY[k] for k in args.units]
        self.hidden = {("paper", u.key): u.paper_hidden for u in UNITS} | {
            ("ours", u.key): fit_hidden(u, u.paper_params) for u in UNITS
        }

    # ------------------------------------------------------------------ configs
    def make_job(
        self, protocol, stage, dataset, unit, seed, lr=None, index=0, recipe="fast"
    ) -> Job:
        from rnnlab.tasks.base import build_run_config

        base = PAPER_CONFIG if protocol == "paper" else OURS_CONFIG
        H = self.hidden[(protocol, unit.key)]
        extra = {
            "seed": seed,
            "data": {"dataset": dataset},
            "model": {"cell": unit.cell, "variant": dict(unit.variant), "hidden_size": H},
        }
        extra["train"] = {"max_steps": MAX_STEPS[dataset]}
        if lr is not None:
            extra["train"]["lr"] = lr
        if stage == "search":
            extra["train"]["max_steps"] = self.args.search_steps
        raw = _merge(base, extra)
        if protocol == "ours":
            raw = _merge(_merge(raw, OURS_RECIPES[recipe]), OURS_UNIT.get(unit.key, {}))
        if self.args.quick:
            raw = _merge(raw, QUICK)
            if stage == "search":
                raw["train"]["max_steps"] = self.args.search_steps
        lr = raw["train"]["lr"]
        raw = build_run_config(raw).to_dict()  # resolved: every default written out, checked
        tag = f"{stage}{index}" if protocol == "paper" else f"ours-{recipe}"
        raw["name"] = f"c14-{protocol}-{dataset}-{unit.key}-s{seed}-{tag}-{config_digest(raw)}" + (
            "-quick" if self.args.quick else ""
        )
        return Job(protocol, stage, dataset, unit, seed, H, lr, index, raw, recipe)

    def ours_jobs(self, dataset, unit, seed) -> list[Job]:
        return [
            self.make_job("ours", "ours", dataset, unit, seed, index=i, recipe=r)
            for i, r in enumerate(OURS_CHOICES[dataset])
        ]

    def search_jobs(self, dataset, unit, seed) -> list[Job]:
        lrs = lr_candidates(self.args.lr_samples, seed, dataset, unit.key)
        return [
            self.make_job("paper", "search", dataset, unit, seed, lr, i) for i, lr in enumerate(lrs)
        ]

    def finalists(self, searched: list[tuple[Job, dict | None]]) -> list[Job]:
        done = [(final["valid"]["loss"], job) for job, final in searched if final is not None]
        done.sort(key=lambda t: t[0])
        return [
            self.make_job("paper", "final", j.dataset, j.unit, j.seed, j.lr, j.index)
            for _, j in done[: self.args.finalists]
        ]

    def cells(self):
        for dataset in self.args.datasets:
            for unit in self.units:
                for seed in range(self.args.seeds):
                    yield dataset, unit, seed

    # ------------------------------------------------------------------ running
    def find(self, job: Job):
        """The run directory of ``job`` if one exists (the finished one first)."""
        from rnnlab.tasks.base import load_run_config
        from rnnlab.train.run_dir import RunDir

        found = []
        for path in sorted((self.root / "music").glob(f"*-{job.name}")):
            if not (path / "config.toml").is_file():
                continue
            cfg = load_run_config(path / "config.toml").to_dict()
            if config_digest(cfg) == config_digest(job.raw):
                found.append(RunDir(path))
        finished = [r for r in found if (r.path / "final.json").is_file()]
        return (finished or found or [None])[-1]

    def final_of(self, job: Job) -> dict | None:
        run = self.find(job)
        return run.read_json("final.json") if run is not None else None

    def execute(self, job: Job, label: str) -> dict:
        from rnnlab.tasks.base import build_run_config
        from rnnlab.train.trainer import Trainer

        run = self.find(job)
        if run is not None and (run.path / "final.json").is_file():
            return run.read_json("final.json")
        t0 = time.monotonic()
        if run is not None:
            self.console.print(f"{label} resuming {run}")
            trainer = Trainer.resume(run.path, quiet=True)
        else:
            trainer = Trainer.start(build_run_config(job.raw), root=self.root, quiet=True)
        final = trainer.fit()
        self.console.print(
            f"{label} {job.protocol} {job.dataset} {job.unit.key} H={job.hidden} "
            f"lr={job.lr:.2e} seed={job.seed}: valid {final['valid']['loss']:.3f} "
            f"test {final['test']['loss']:.3f} ({final['steps']} updates, "
            f"{final['train_seconds']:.0f} s training, {time.monotonic() - t0:.0f} s in all)"
        )
        return final

    def run_all(self) -> None:
        from rnnlab.train.progress import progress_bar

        cells = list(self.cells())
        protocols = self.args.protocols
        n_ours = sum(len(OURS_CHOICES[d]) for d, _, _ in cells)
        per_paper = self.args.lr_samples + self.args.finalists
        total = n_ours * ("ours" in protocols) + len(cells) * per_paper * ("paper" in protocols)
        k = 0
        with progress_bar("chung2014", total) as bar:
            # ours first: it is the cheap part and holds the targets
            if "ours" in protocols:
                for dataset, unit, seed in cells:
                    for job in self.ours_jobs(dataset, unit, seed):
                        k += 1
                        self.execute(job, f"[{k}/{total}]")
                        bar.update(completed=k)
            if "paper" in protocols:
                for dataset, unit, seed in cells:
                    searched = []
                    for job in self.search_jobs(dataset, unit, seed):
                        k += 1
                        searched.append((job, self.execute(job, f"[{k}/{total}]")))
                        bar.update(completed=k)
                    for job in self.finalists(searched):
                        k += 1
                        self.execute(job, f"[{k}/{total}]")
                        bar.update(completed=k)

    def print_plan(self) -> None:
        for dataset, unit, seed in self.cells():
            jobs = []
            if "ours" in self.args.protocols:
                jobs += self.ours_jobs(dataset, unit, seed)
            if "paper" in self.args.protocols:
                searched = [(j, self.final_of(j)) for j in self.search_jobs(dataset, unit, seed)]
                jobs += [j for j, _ in searched]
                jobs += self.finalists(searched)
            for j in jobs:
                run = self.find(j)
                state = (
                    "todo"
                    if run is None
                    else "done"
                    if (run.path / "final.json").is_file()
                    else "partial"
                )
                self.console.print(f"{state:8s} {j.name}")

    # ------------------------------------------------------------------ results
    def collect(self) -> dict:
        """Per (protocol, dataset, unit): the chosen run of every seed, and the search."""
        res: dict = {}
        for dataset, unit, seed in self.cells():
            if "ours" in self.args.protocols:
                tried = [(j, self.find(j)) for j in self.ours_jobs(dataset, unit, seed)]
                done = [(j, r) for j, r in tried if r is not None and r.read_json("final.json")]
                best = min(
                    done, key=lambda t: t[1].read_json("final.json")["valid"]["loss"], default=None
                )
                recipes = [
                    {"recipe": j.recipe, "valid": _valid_of(r), "test": _valid_of(r, "test")}
                    for j, r in tried
                ]
                job, run = best if best is not None else (tried[0][0], None)
                self._add(res, "ours", job, run, recipes)
            if "paper" in self.args.protocols:
                searched = [(j, self.final_of(j)) for j in self.search_jobs(dataset, unit, seed)]
                finals = [(j, self.find(j)) for j in self.finalists(searched)]
                done = [(j, r) for j, r in finals if r is not None and r.read_json("final.json")]
                best = min(
                    done, key=lambda t: t[1].read_json("final.json")["valid"]["loss"], default=None
                )
                search = [
                    {"lr": j.lr, "valid": f["valid"]["loss"] if f else None, "finalist": False}
                    for j, f in searched
                ]
                for j, _ in finals:
                    search[j.index]["finalist"] = True
                if best is not None:
                    self._add(res, "paper", best[0], best[1], search, finals)
                else:
                    self._add(res, "paper", searched[0][0], None, search)
        return res

    def _add(self, res, protocol, job, run, search, finals=()):
        entry = res.setdefault((protocol, job.dataset, job.unit.key), {"seeds": []})
        final = run.read_json("final.json") if run is not None else None
        item = {"seed": job.seed, "job": job, "run": run, "final": final, "search": search}
        if finals:
            item["finals"] = [
                (
                    j.lr,
                    (r.read_json("final.json") or {}).get("valid", {}).get("loss") if r else None,
                )
                for j, r in finals
            ]
        entry["seeds"].append(item)

    def all_runs_seconds(self) -> float:
        """Training seconds of every finished run this experiment uses (searches included)."""
        total = 0.0
        for dataset, unit, seed in self.cells():
            jobs = []
            if "ours" in self.args.protocols:
                jobs += self.ours_jobs(dataset, unit, seed)
            if "paper" in self.args.protocols:
                searched = [(j, self.final_of(j)) for j in self.search_jobs(dataset, unit, seed)]
                jobs += [j for j, _ in searched] + self.finalists(searched)
            for j in jobs:
                f = self.final_of(j)
                total += f["train_seconds"] if f else 0.0
        return total

    def parameter_rows(self) -> list[tuple]:
        rows = []
        for u in UNITS:
            for protocol in ("paper", "ours"):
                H = self.hidden[(protocol, u.key)]
                c = parameter_breakdown(u, H)
                rows.append((u, protocol, H, c))
        return rows

    def parameter_table_text(self) -> str:
        lines = ["parameters (every tensor trained, both torch biases, peepholes, output layer):"]
        for u, protocol, H, c in self.parameter_rows():
            ok = "within" if c["total"] <= u.paper_params else "OVER"
            lines.append(
                f"  {u.label:8s} {protocol:5s} H={H:3d}: recurrent {c['recurrent']:6,d} + output "
                f"{c['output']:5,d} = {c['total']:6,d}  (paper ~{u.paper_params:,d}: {ok})"
            )
        return "\n".join(lines)


def _valid_of(run, split="valid") -> float | None:
    final = run.read_json("final.json") if run is not None else None
    return final[split]["loss"] if final else None


# ---------------------------------------------------------------------- the results file
def _mean(values):
    values = [v for v in values if v is not None]
    if not values:
        return None, None
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _fmt(mean, std=None, digits=2):
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def _metric(entry, split, key="loss"):
    if entry is None:
        return None, None
    return _mean(
        [
            s["final"][split].get(key) if s["final"] and split in s["final"] else None
            for s in entry["seeds"]
        ]
    )


def write_results(exp: Experiment, res: dict, out: Path, elapsed: float) -> str:
    """Write the results markdown and its figures; return the markdown."""
    import torch

    from rnnlab.bench.harness import cpu_name

    args = exp.args
    out.parent.mkdir(parents=True, exist_ok=True)
    fig_dir = out.parent / "figures"
    cmd = _command(args)
    L = []
    L.append("# Chung et al. (2014) on polyphonic music: tanh RNN vs GRU vs LSTM\n")
    if args.quick:
        L.append(
            "> **--quick run**: a few pieces per split and two epochs per run, to show the pipeline "
            "end to end. These numbers are not comparable with the paper.\n"
        )
    L.append(
        "Written by the command below from the runs it lists (nothing here is typed by hand; "
        "the paper's numbers are labelled as such).\n"
    )
    L.append(f"```\nRNNLAB_DATA=/path/to/data {cmd}\n```\n")
    if args.report_only:
        L.append(
            "(This file was rewritten by the same command with `--report-only`, from runs an "
            "earlier invocation finished.)\n"
        )
    L.append(
        f"Seeds: {', '.join(str(s) for s in range(args.seeds))}. Datasets: "
        f"{', '.join(DATASET_LABELS[d] for d in args.datasets)}. Runs under `{exp.root}/music/`. "
        f"Training time of every run used (searches included, evaluation excluded): "
        f"{_hours(exp.all_runs_seconds())} on one CPU thread"
        + (
            ".\n"
            if args.report_only
            else f"; this invocation took {elapsed / 60:.1f} min (runs already finished are "
            "reused, not re-trained).\n"
        )
    )
    L.append(
        f"Page written on: {cpu_name()}, torch {torch.__version__}. Every run is seeded and "
        "deterministic: rerun on the same machine, it gives the same numbers to the last digit. "
        "On another CPU the floating-point rounding of the matrix products differs, and runs that "
        "stop early or train for thousands of updates carry that difference into their results "
        "(a few hundredths of a nat per frame).\n"
    )
    L += _metric_section()
    L += _parameter_section(exp)
    L += _main_table(exp, res)
    L += _extra_tables(exp, res)
    L += _protocol_section(exp)
    L += _figures(exp, res, out, fig_dir)
    L += _runs_section(exp, res)
    text = "\n".join(L) + "\n"
    out.write_text(text, encoding="utf-8")
    return text


def results_path(args, root: Path) -> Path:
    """Where the results page goes: ``--out``, else beside the runs for ``--quick`` and for a
    partial experiment (which must never replace the published page), else docs/results/."""
    if args.out:
        return Path(args.out)
    if args.quick:
        return root / "chung2014-quick.md"
    if _is_subset(args):
        return root / "chung2014-subset.md"
    return Path("docs/results/chung2014.md")


def _is_subset(args) -> bool:
    """Whether the run leaves out a dataset, a model or a protocol of the full experiment."""
    return (
        set(args.datasets) != set(DATASETS)
        or set(args.units) != {u.key for u in UNITS}
        or set(args.protocols) != {"paper", "ours"}
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.2f} h" if seconds >= 360 else f"{seconds / 60:.1f} min"


def _command(args) -> str:
    parts = ["rnnlab experiment chung2014"]
    if list(args.datasets) != list(DATASETS):
        parts.append("--datasets " + " ".join(args.datasets))
    if [u for u in args.units] != [u.key for u in UNITS]:
        parts.append("--units " + " ".join(args.units))
    if list(args.protocols) != ["paper", "ours"]:
        parts.append("--protocols " + " ".join(args.protocols))
    parts.append(f"--seeds {args.seeds}")
    if args.quick:
        parts.append("--quick")
    else:
        if args.lr_samples != 10:
            parts.append(f"--lr-samples {args.lr_samples}")
        if args.search_steps != 400:
            parts.append(f"--search-steps {args.search_steps}")
        if args.finalists != 1:
            parts.append(f"--finalists {args.finalists}")
    if args.runs_dir:
        parts.append(f"--runs-dir {args.runs_dir}")
    if args.out:
        parts.append(f"--out {args.out}")  # or a rerun would write elsewhere
    return " ".join(parts)


def _metric_section() -> list[str]:
    return [
        "## Metric\n",
        "NLL per time step: for every predicted frame, the sum over the 88 keys of the Bernoulli "
        "negative log-likelihood in nats, averaged over all predicted frames of the split (pieces "
        "weigh by their length). **The first frame of each piece is predicted** from a silent "
        "input frame and the zero initial state and counted like every other frame "
        '(`data.first_frame = "predict"`), so the NLL is that of whole pieces; the tables also '
        "give the mean NLL of frames 2..T alone (each still predicted from all frames before it), "
        "close to what not scoring the first frame would report. "
        "Frame-level accuracy: TP / (TP + FP + FN) over all keys of all predicted frames, a key "
        "predicted on when its probability exceeds 1/2 (Bay et al. 2009; Boulanger-Lewandowski "
        "et al. 2012). Train NLL is measured after training on whole pieces, without weight noise "
        "or dropout, with the model selected on validation.\n",
    ]


def _parameter_section(exp: Experiment) -> list[str]:
    L = [
        "## Parameter counts\n",
        "Every trained tensor is counted: input and recurrent matrices, both of torch's bias "
        "vectors (`bias_ih`, `bias_hh`), peepholes, and the 88-way output layer (H x 88 + 88).\n",
        "| model | protocol | units H | recurrent | output layer | total | paper (Table 1) | "
        "within the paper's count? |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for u, protocol, H, c in exp.parameter_rows():
        ok = (
            "yes" if c["total"] <= u.paper_params else f"**no** (+{c['total'] - u.paper_params:,d})"
        )
        L.append(
            f"| {u.label} | {protocol} | {H} | {c['recurrent']:,d} | {c['output']:,d} | "
            f"{c['total']:,d} | ~{u.paper_params:,d} | {ok} |"
        )
    alone = [_recurrent_count(u, u.paper_hidden, 88) for u in UNITS]
    full = [a + parameter_breakdown(u, u.paper_hidden)["output"] for a, u in zip(alone, UNITS)]
    d100 = [_recurrent_count(u, u.paper_hidden, 100) for u in UNITS]
    L.append(
        "\nAt the paper's sizes (100 / 46 / 36 units) the full models have more parameters than "
        "the paper states, so the **paper** rows do *not* obey the budget; the **ours** rows use "
        "the largest size whose full model fits within the paper's count, and only they are "
        "compared against the target. What the paper's ~20K counts is not stated. With 88 inputs "
        f"and a single bias per gate, the recurrent layer alone has {_k(alone)} parameters and "
        f"the full model {_k(full)}: neither reproduces 20.1K / 20.2K / 19.8K. The recurrent "
        f"layer alone with 100 inputs has {_k(d100)}, within 0.5% of all three stated counts: a "
        "plausible reading (a ~100-dimensional input, no output layer counted), not a "
        "certainty.\n"
    )
    return L


def _recurrent_count(unit: Unit, hidden: int, inputs: int) -> int:
    """Parameters of the recurrent layer alone with ``inputs`` inputs and one bias per gate."""
    import torch

    from rnnlab.nn import Recurrent

    with torch.device("meta"):
        rnn = Recurrent(unit.cell, inputs, hidden, **unit.variant)
    return sum(p.numel() for n, p in rnn.named_parameters() if not n.startswith("bias_hh"))


def _k(counts) -> str:
    return " / ".join(f"{c / 1000:.1f}K" for c in counts)


def _main_table(exp: Experiment, res: dict) -> list[str]:
    L = [
        "## Results: NLL per time step (nats; lower is better)\n",
        "Mean over seeds (± standard deviation when there are several). *paper* = Chung et al. "
        "(2014), Table 2, test column (their numbers). The target column compares **ours** "
        "(within the parameter budget) with the paper's test NLL.\n",
        "| dataset | model | paper: test | paper protocol, paper size: train | test | "
        "ours, within budget: train | test | ours <= paper? |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    met = total = 0
    for d in exp.args.datasets:
        for u in exp.units:
            p = res.get(("paper", d, u.key))
            o = res.get(("ours", d, u.key))
            paper = PAPER_TEST_NLL[d][u.key]
            ot, _ = _metric(o, "test")
            if ot is not None:
                total += 1
                met += ot <= paper
            verdict = (
                "—" if ot is None else ("yes" if ot <= paper else f"**no** (+{ot - paper:.2f})")
            )
            L.append(
                f"| {DATASET_LABELS[d]} | {u.label} | {paper:.2f} | {_fmt(*_metric(p, 'train'))} | "
                f"{_fmt(*_metric(p, 'test'))} | {_fmt(*_metric(o, 'train'))} | "
                f"{_fmt(*_metric(o, 'test'))} | {verdict} |"
            )
    L.append(f"\nTarget met in {met} of {total} cells measured.\n")
    return L


def _extra_tables(exp: Experiment, res: dict) -> list[str]:
    L = [
        "### Frame accuracy and the first frame\n",
        "Test split. `nll 2..T` excludes the first frame of every piece; `first frame` is the "
        "mean NLL of first frames alone; `mean over pieces` averages each piece's NLL per frame "
        "over pieces (every piece weighs the same, a convention some later papers use) instead "
        "of over frames.\n",
        "| dataset | model | protocol | test acc | test nll | nll 2..T | first frame | "
        "mean over pieces | updates | training s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d in exp.args.datasets:
        for u in exp.units:
            for protocol in exp.args.protocols:
                e = res.get((protocol, d, u.key))
                acc, _ = _metric(e, "test", "acc")
                steps, _ = _mean(
                    [
                        s["final"]["steps"] if s["final"] else None
                        for s in (e or {}).get("seeds", [])
                    ]
                )
                secs, _ = _mean(
                    [
                        s["final"]["train_seconds"] if s["final"] else None
                        for s in (e or {}).get("seeds", [])
                    ]
                )
                L.append(
                    f"| {DATASET_LABELS[d]} | {u.label} | {protocol} | "
                    f"{_fmt(None if acc is None else 100 * acc, digits=1)}% | "
                    f"{_fmt(*_metric(e, 'test'))} | {_fmt(*_metric(e, 'test', 'nll_rest'))} | "
                    f"{_fmt(*_metric(e, 'test', 'nll_first'))} | "
                    f"{_fmt(*_metric(e, 'test', 'nll_piece_mean'))} | {_fmt(steps, digits=0)} | "
                    f"{_fmt(secs, digits=0)} |"
                )
    if "paper" in exp.args.protocols:
        L += [
            "\n### Learning-rate search (paper protocol)\n",
            f"{exp.args.lr_samples} candidates exp(U(-12, -6)) per model, dataset and seed; each "
            f"trained {exp.args.search_steps} updates; the {exp.args.finalists} best on validation "
            "(marked *) trained from scratch to early stopping; the best finalist on validation "
            "is reported (**bold**). Validation NLL after the search budget:\n",
            "| dataset | model | seed | candidates: lr (valid NLL) |",
            "|---|---|---:|---|",
        ]
        for d in exp.args.datasets:
            for u in exp.units:
                e = res.get(("paper", d, u.key))
                for s in (e or {}).get("seeds", []):
                    chosen = s["job"].lr if s["final"] else None
                    cells = []
                    for c in sorted(s["search"], key=lambda c: c["lr"]):
                        v = "—" if c["valid"] is None else f"{c['valid']:.2f}"
                        t = f"{c['lr']:.1e} ({v}){'*' if c['finalist'] else ''}"
                        cells.append(f"**{t}**" if chosen is not None and c["lr"] == chosen else t)
                    L.append(
                        f"| {DATASET_LABELS[d]} | {u.label} | {s['seed']} | {', '.join(cells)} |"
                    )
    if "ours" in exp.args.protocols:
        L += [
            "\n### Recipe choice (ours)\n",
            "Validation NLL of each recipe tried (the better one, **bold**, is reported):\n",
            "| dataset | model | seed | recipes: valid NLL (test NLL) |",
            "|---|---|---:|---|",
        ]
        for d in exp.args.datasets:
            for u in exp.units:
                e = res.get(("ours", d, u.key))
                for s in (e or {}).get("seeds", []):
                    cells = []
                    for c in s["search"]:
                        v = "—" if c["valid"] is None else f"{c['valid']:.3f} ({c['test']:.3f})"
                        t = f"{c['recipe']} {v}"
                        chosen = s["final"] is not None and c["recipe"] == s["job"].recipe
                        cells.append(f"**{t}**" if chosen else t)
                    L.append(
                        f"| {DATASET_LABELS[d]} | {u.label} | {s['seed']} | {', '.join(cells)} |"
                    )
    L.append("")
    return L


def _protocol_section(exp: Experiment) -> list[str]:
    def describe(cfg):
        t, dcfg = cfg["train"], cfg["data"]
        lr = "searched" if cfg is PAPER_CONFIG else f"{t['lr']:g}"
        if t.get("schedule", "constant") != "constant":
            lr += f", {t['schedule']} decay to 0 over the run"
        items = [
            f"optimizer {t['optimizer']} (lr {lr}"
            + (f", rho {t['rho']}" if t["optimizer"] == "rmsprop" else "")
            + ")",
            f"weight noise std {t['weight_noise']} on the weight matrices",
            f"gradient norm clipped at {t['clip_norm']:g}",
            f"batches of {t['batch_size']}",
            f"training windows of at most {dcfg['crop']} frames"
            if dcfg.get("crop")
            else "whole pieces",
            f"early stopping after {t['early_stopping']} epochs without a better validation NLL",
            "at most "
            + ", ".join(f"{n:,d} updates ({DATASET_LABELS[d]})" for d, n in MAX_STEPS.items()),
        ]
        m = {k: v for k, v in cfg["model"].items() if k not in ("cell", "variant", "hidden_size")}
        if m:
            items.append("model options " + ", ".join(f"{k} = {v}" for k, v in m.items()))
        if cfg is OURS_CONFIG:
            items.append("the LSTM's forget-gate bias starts at 1 (Jozefowicz et al. 2015)")
        return "; ".join(items)

    L = ["## Protocols\n"]
    if "paper" in exp.args.protocols:
        L.append(
            "**paper** (Chung et al. 2014, Section 4; sizes of Table 1): "
            + describe(PAPER_CONFIG)
            + ". The paper states RMSProp, weight noise 0.075, the gradient norm rescaled to 1, "
            "the learning rate as the best on validation of 10 log-uniform candidates "
            "exp(U(-12, -6)), and early stopping; the batch size, the sequence handling and the "
            "early-stopping patience are ours (the paper does not give them), and the search is "
            f"pruned to fit a shared CPU: every candidate trains {exp.args.search_steps} updates, and "
            f"only the {exp.args.finalists} best on validation then "
            "train to early stopping or the update budget (see the "
            "*Learning-rate search* table).\n"
        )
    if "ours" in exp.args.protocols:
        careful = ", ".join(f"{k} {v}" for k, v in OURS_RECIPES["careful"]["train"].items())
        choices = "; ".join(
            f"{DATASET_LABELS[d]}: {' and '.join(c)}" for d, c in OURS_CHOICES.items()
        )
        L.append(
            "**ours** (largest size within the paper's parameter count), recipe *fast*: "
            + describe(OURS_CONFIG)
            + f". Recipe *careful*: the same with {careful}. Recipes tried ({choices}); the one "
            "with the better validation NLL is reported (the *Recipe choice* table gives both).\n"
        )

    L.append(
        "Both: a tanh RNN, a GRU with the reset gate applied before the recurrent matmul "
        "(Cho et al. 2014) and a peephole LSTM (Graves 2013), one layer, an 88-way sigmoid output "
        "layer; torch's default initialisation U(-1/sqrt(H), 1/sqrt(H)), zero output biases; "
        "training windows are cut at a random offset each epoch and batched by length; "
        "evaluation runs whole pieces; one CPU thread per run (`train.threads = 1`). The exact "
        "config of every run is its `config.toml` (also `configs/music/paper.toml`, "
        "`configs/music/ours.toml`, `configs/music/ours-careful.toml`).\n"
    )
    return L


def _figures(exp: Experiment, res: dict, out: Path, fig_dir: Path) -> list[str]:
    from rnnlab.report.plots import plt, save

    L = [
        "## Figures\n",
        "Validation NLL per time step against parameter updates and against training wall-clock "
        "seconds (evaluation excluded; on the machine named above, with "
        f"{os.cpu_count()} CPU cores shared by the runs that trained at the same time, so seconds "
        "compare runs only roughly), seed 0: the paper protocol's selected run (solid) and ours "
        "(dashed).\n",
    ]
    colours = {"tanh": "tab:red", "gru": "tab:blue", "lstm": "tab:green"}
    for d in exp.args.datasets:
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        drawn = False
        for u in exp.units:
            for protocol, style in (("paper", "-"), ("ours", "--")):
                e = res.get((protocol, d, u.key))
                if not e or not e["seeds"] or e["seeds"][0]["run"] is None:
                    continue
                recs = [r for r in e["seeds"][0]["run"].metrics() if r.get("split") == "valid"]
                for ax, x in zip(axes, ("step", "time")):
                    ax.plot(
                        [r[x] for r in recs],
                        [r["loss"] for r in recs],
                        style,
                        color=colours[u.key],
                        label=f"{u.label} ({protocol})",
                        linewidth=1.2,
                    )
                drawn = True
        for ax, xl in zip(axes, ("parameter updates", "training seconds")):
            ax.set_xlabel(xl)
            ax.set_ylabel("valid NLL")
            ax.grid(alpha=0.3)
            ax.set_ylim(top=_ylim_top(res, d, exp))
            # five-digit update counts collide at the default tick density
            ax.xaxis.set_major_locator(plt.MaxNLocator(6))
        if drawn:
            axes[1].legend(fontsize=7)
        fig.suptitle(DATASET_LABELS[d], fontsize=10)
        fig.tight_layout()
        path = fig_dir / f"{out.stem}_{d}.png"  # per page: a second page keeps its own
        save(fig, path)
        L.append(f"![{DATASET_LABELS[d]}]({path.relative_to(out.parent).as_posix()})\n")
    return L


def _ylim_top(res, d, exp) -> float | None:
    """Clip the y axis well above the paper's NLL so the start of training does not flatten the
    curves (the first evaluation is near 88 ln 2 = 61)."""
    return max(PAPER_TEST_NLL[d].values()) * 1.6


def _runs_section(exp: Experiment, res: dict) -> list[str]:
    L = [
        "## Runs\n",
        "Selected runs (`rnnlab report RUN` draws each one's curves; `rnnlab train --resume RUN` "
        "continues one):\n",
        "| dataset | model | protocol | seed | lr | run |",
        "|---|---|---|---:|---:|---|",
    ]
    for d in exp.args.datasets:
        for u in exp.units:
            for protocol in exp.args.protocols:
                for s in (res.get((protocol, d, u.key)) or {}).get("seeds", []):
                    run = s["run"].path.name if s["run"] is not None else "— (not run yet)"
                    lr = f"{s['job'].lr:.2e}" + (
                        f" ({s['job'].recipe})" if protocol == "ours" else ""
                    )
                    L.append(
                        f"| {DATASET_LABELS[d]} | {u.label} | {protocol} | {s['seed']} | {lr} | "
                        f"`{run}` |"
                    )
    return L
