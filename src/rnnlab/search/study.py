"""Running a hyperparameter search on optuna: every trial is a normal training run.

A trial takes the base config, sets the searched keys to the sampler's values, and trains it with
:class:`rnnlab.train.trainer.Trainer` into its own run directory (``config.toml``,
``metrics.jsonl``, checkpoints, ``final.json``). The value told to optuna is the validation
metric of the run's best checkpoint (the validation loss by default).

Storage: an optuna RDB storage, by default a SQLite file beside the trials
(``runs/search/STUDY/study.db``); any RDB URL (``postgresql://user:pass@host/db``) lets processes
on many machines share one study. Several worker processes on one machine share a lock file in
the study folder, so together they start exactly ``trials`` trials.

Robustness:

* a trial that diverges (NaN loss) or crashes is recorded as FAIL with the reason in its
  ``failure`` attribute, and the study goes on; such trials count towards the budget (they are
  results: "this learning rate diverges");
* an interrupted trial (Ctrl-C, or a killed process, found through optuna's heartbeat once it
  is ``grace`` seconds stale) does not count: the first worker queues it again with the same
  parameters, and the new trial resumes the interrupted run from its last checkpoint;
* re-running the same command with the same ``--study`` continues until ``trials`` trials are
  done (complete, pruned or failed).
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState

from rnnlab.errors import UserError
from rnnlab.search.space import SearchSpace

SAMPLERS = ("random", "grid", "tpe")
PRUNERS = ("none", "median", "hyperband")
#: a pruner may stop a trial from its 3rd evaluation on, never earlier
PRUNE_AFTER_EVALS = 3


class TrialFailed(Exception):
    """A trial's training diverged or crashed (the study records it and goes on)."""


# ---------------------------------------------------------------------- configs
def set_key(raw: dict, dotted: str, value) -> None:
    """Set ``raw["a"]["b"] = value`` for ``dotted = "a.b"``, creating tables as needed."""
    *path, last = dotted.split(".")
    table = raw
    for key in path:
        table = table.setdefault(key, {})
        if not isinstance(table, dict):
            raise UserError(f"cannot set {dotted}: {key} is not a table in the config")
    table[last] = value


def trial_config(base_raw: dict, params: dict, name: str | None = None):
    """The :class:`RunConfig` of one trial: ``base_raw`` with ``params`` set (and ``name``)."""
    from rnnlab.tasks.base import build_run_config

    raw = copy.deepcopy(base_raw)
    for key, value in params.items():
        set_key(raw, key, value)
    if name is not None:
        raw["name"] = name
    return build_run_config(raw)


def check_space(base_raw: dict, space: SearchSpace) -> None:
    """Build the configs at both ends of every range: a misspelt key or an impossible value is
    an error now, not a study of failed trials."""
    from rnnlab.errors import ConfigError

    for params in space.extremes():
        try:
            trial_config(base_raw, params)
        except ConfigError as e:
            raise ConfigError(f"the search space does not fit the config: {e}") from None


# ---------------------------------------------------------------------- storage, samplers
def study_dir(runs_dir: Path, study: str) -> Path:
    """``RUNS/search/STUDY``: the default SQLite file, the trials' runs and the outputs."""
    return Path(runs_dir) / "search" / study


def default_storage_url(folder: Path) -> str:
    return f"sqlite:///{(Path(folder) / 'study.db').resolve()}"


def open_storage(url: str, heartbeat: int = 10):
    """An optuna storage for ``url``: ``:memory:`` (one process, tests), or an RDB URL with a
    heartbeat every ``heartbeat`` seconds (a trial silent for 3 beats counts as interrupted)."""
    if url == ":memory:":
        return optuna.storages.InMemoryStorage()
    if "://" not in url:
        raise UserError(
            f"--storage {url!r}: expected an RDB URL such as sqlite:///path/study.db or "
            "postgresql://user:password@host/database"
        )
    kwargs = {}
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[-1]).parent.mkdir(parents=True, exist_ok=True)
        # several processes write one file: wait for the lock instead of failing at once
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    beat = max(1, int(heartbeat))
    try:
        return optuna.storages.RDBStorage(
            url, heartbeat_interval=beat, grace_period=3 * beat, **kwargs
        )
    except ImportError as e:
        raise UserError(f"--storage {url}: a database driver is missing ({e})") from None
    except Exception as e:
        # sqlalchemy's ArgumentError (NoSuchModuleError...): an unknown database kind or a
        # malformed URL. Matched by module so that optuna's driver stays its own dependency.
        if not any(
            c.__name__ == "ArgumentError" and c.__module__.startswith("sqlalchemy")
            for c in type(e).__mro__
        ):
            raise
        raise UserError(
            f"--storage {url}: not a database URL sqlalchemy can open ({e}); e.g. "
            "sqlite:///path/study.db or postgresql://user:password@host/database"
        ) from None


def make_sampler(name: str, space: SearchSpace, seed: int, salt: tuple = ()):
    """The optuna sampler. ``salt`` (the session number: how many processes opened the study
    before this one) varies the random and TPE seeds so workers and resumed sessions do not
    repeat each other, while a study run by one process is reproducible; the grid's seed must not
    vary (it fixes the order of the grid points every worker shares)."""
    import numpy as np

    if name == "grid":
        return optuna.samplers.GridSampler(space.grid(), seed=seed)
    derived = int(np.random.SeedSequence([seed, *salt]).generate_state(1)[0])
    if name == "random":
        return optuna.samplers.RandomSampler(seed=derived)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=derived)
    raise UserError(f"unknown sampler {name!r}; valid: {', '.join(SAMPLERS)}")


def make_pruner(name: str):
    if name == "none":
        return optuna.pruners.NopPruner()
    if name == "median":
        # no pruning before 2 trials have finished (and, see Search, before a trial's
        # PRUNE_AFTER_EVALS-th evaluation)
        return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner()
    raise UserError(f"unknown pruner {name!r}; valid: {', '.join(PRUNERS)}")


@dataclass
class Counts:
    """Trials by what they mean for the budget."""

    done: int  # complete, pruned, or failed by the training (diverged, crashed)
    running: int
    waiting: int  # queued (interrupted trials put back)
    interrupted: int  # failed by an interruption, not counted

    @classmethod
    def of(cls, trials) -> Counts:
        done = running = waiting = interrupted = 0
        for t in trials:
            if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
                done += 1
            elif t.state == TrialState.FAIL:
                if "failure" in t.user_attrs:
                    done += 1
                else:
                    interrupted += 1
            elif t.state == TrialState.RUNNING:
                running += 1
            elif t.state == TrialState.WAITING:
                waiting += 1
        return cls(done, running, waiting, interrupted)


# ---------------------------------------------------------------------- the search
class Search:
    """One worker of a study.

    Args:
        base_raw: the config as a dict (file + ``--set`` overrides).
        space: what to search.
        sampler: random, grid or tpe.
        trials: the budget: trials to get done over the whole study (all workers, all sessions).
        study: the study's name.
        storage: an RDB URL, ``:memory:``, or None for the default SQLite file.
        runs_dir: the runs root; the study's folder is ``runs_dir/search/study``.
        seed: the sampler seed.
        pruner: none, median or hyperband (reports the metric at every evaluation).
        heartbeat: seconds between a trial's heartbeats (RDB storages).
        worker: this worker's index; worker 0 also puts interrupted trials back in the queue and
            waits for the others' running trials.
        say: where the one-line trial reports go.
    """

    def __init__(
        self,
        base_raw: dict,
        space: SearchSpace,
        *,
        sampler: str,
        trials: int,
        study: str,
        storage: str | None = None,
        runs_dir: Path | str = "runs",
        seed: int = 0,
        pruner: str = "none",
        heartbeat: int = 10,
        worker: int = 0,
        say: Callable[[str], None] = print,
    ):
        if sampler not in SAMPLERS:
            raise UserError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
        if trials < 0:
            raise UserError(f"--trials must be >= 0, got {trials}")
        if not study or any(c in study for c in "/\\ ") or study.startswith("."):
            raise UserError(f"--study {study!r}: use letters, digits, '-', '_' or '.'")
        self.base_raw, self.space, self.sampler_name = base_raw, space, sampler
        self.study_name, self.seed, self.pruner_name = study, seed, pruner
        self.worker, self.say, self.heartbeat = worker, say, heartbeat
        self.folder = study_dir(Path(runs_dir), study)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.storage_url = storage or default_storage_url(self.folder)
        self.trials = trials
        if sampler == "grid" and trials > space.grid_size():
            self.say(
                f"the grid has {space.grid_size()} points: running {space.grid_size()} trials, "
                f"not {trials}"
            )
            self.trials = space.grid_size()
        check_space(base_raw, space)
        self.study: optuna.Study | None = None
        self._lock_file = None
        self._held = False
        self._last: dict = {}

    # ------------------------------------------------------------------ study
    def open(self) -> optuna.Study:
        """Create the study, or load it and check it searches the same thing."""
        import hashlib
        import json
        import warnings

        optuna.logging.set_verbosity(optuna.logging.ERROR)  # one line per trial is ours
        # the heartbeat has been "experimental" since optuna 2.9: say nothing about it per trial
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        config_digest = hashlib.sha256(
            json.dumps(self.base_raw, sort_keys=True, default=str).encode()
        ).hexdigest()[:16]
        # Processes started together must not create the database tables and the study at the
        # same time: on this machine the folder lock orders them; across machines, a second try
        # finds what the first one created.
        self._acquire()
        try:
            for attempt in range(3):
                try:
                    storage = open_storage(self.storage_url, self.heartbeat)
                    probe = optuna.create_study(
                        study_name=self.study_name,
                        storage=storage,
                        direction=self.space.direction,
                        load_if_exists=True,
                    )
                    break
                except Exception as e:
                    if attempt == 2 or "sqlalchemy" not in type(e).__module__:
                        raise
                    time.sleep(1 + attempt)
            session = self._check_or_set_attrs(probe, config_digest)
        finally:
            self._release()
        salt = (session, self.worker)
        self.study = optuna.load_study(
            study_name=self.study_name,
            storage=storage,
            sampler=make_sampler(self.sampler_name, self.space, self.seed, salt),
            pruner=make_pruner(self.pruner_name),
        )
        return self.study

    def _check_or_set_attrs(self, probe, config_digest: str) -> int:
        """A new study records what it searches; an existing one must search the same.
        Returns this session's number (0 for the first process to open the study, 1 for the
        next...), which seeds the sampler: processes never draw the same trials."""
        attrs = probe.user_attrs
        if not attrs:
            probe.set_user_attr("sampler", self.sampler_name)
            probe.set_user_attr("space", self.space.to_dict())
            probe.set_user_attr("space_digest", self.space.digest())
            probe.set_user_attr("config_digest", config_digest)
            probe.set_user_attr("metric", self.space.metric)
        else:
            for key, mine, what in (
                ("sampler", self.sampler_name, "--sampler"),
                ("space_digest", self.space.digest(), "search space"),
                ("config_digest", config_digest, "config (file and --set)"),
            ):
                if attrs.get(key) != mine:
                    raise UserError(
                        f"study {self.study_name!r} was started with a different {what}; resume "
                        "it with the same command, or give a new --study name"
                    )
        session = int(attrs.get("sessions", 0))
        probe.set_user_attr("sessions", session + 1)
        return session

    def counts(self) -> Counts:
        return Counts.of(self.study.get_trials(deepcopy=False))

    def recover(self) -> list[int]:
        """Fail trials whose heartbeat stopped, and queue every interrupted trial again (once).
        Returns the numbers of the trials queued."""
        optuna.storages.fail_stale_trials(self.study)
        trials = self.study.get_trials(deepcopy=False)
        requeued = {t.user_attrs.get("resume_of") for t in trials}
        queued = []
        for t in trials:
            if (
                t.state == TrialState.FAIL
                and "failure" not in t.user_attrs
                and t.number not in requeued
            ):
                self.study.enqueue_trial(dict(t.params), user_attrs={"resume_of": t.number})
                queued.append(t.number)
        return queued

    # ------------------------------------------------------------------ workers' lock
    def _acquire(self) -> None:
        """Hold the study folder's lock while deciding whether to start a trial and until the
        trial exists, so workers on this machine never start more than the budget."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock (workers may overshoot by one trial each)
            return
        self._lock_file = open(self.folder / ".workers.lock", "w")
        fcntl.flock(self._lock_file, fcntl.LOCK_EX)
        self._held = True

    def _release(self) -> None:
        if self._held:
            import fcntl

            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._held = False

    # ------------------------------------------------------------------ the loop
    def run(self, poll: float = 2.0) -> optuna.Study:
        """Run trials until the study has ``trials`` done. Worker 0 also waits for trials still
        running elsewhere and re-queues interrupted ones; other workers stop when nothing is left
        to start."""
        if self.study is None:
            self.open()
        while True:
            if self.worker == 0:
                for n in self.recover():
                    self.say(f"trial {n} was interrupted: queued again (it resumes its run)")
            self._acquire()
            try:
                c = self.counts()
                if c.done >= self.trials:
                    break
                start = c.waiting > 0 or c.done + c.running < self.trials
                if start:
                    self.study.optimize(
                        self._objective, n_trials=1, catch=(TrialFailed,), gc_after_trial=False
                    )
                    self._report()
                    continue
            finally:
                self._release()
            if self.worker != 0:
                break
            time.sleep(poll)  # worker 0: wait for the trials still running
        return self.study

    def _objective(self, trial: optuna.Trial) -> float:
        from rnnlab.train.trainer import Trainer, TrainingDiverged

        self._release()  # the trial exists now: other workers can count it
        import socket

        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        t0 = time.monotonic()
        self._last = {"number": trial.number, "t0": t0}
        params = {name: p.suggest(trial) for name, p in self.space.params.items()}
        self._last["params"] = params
        trainer = self._resumed_trainer(trial)
        if trainer is None:
            try:
                cfg = trial_config(self.base_raw, params, f"{self.study_name}-t{trial.number:04d}")
                trainer = Trainer.start(cfg, root=self.folder / "trials", quiet=True)
            except Exception as e:
                trial.set_user_attr("failure", f"{type(e).__name__}: {e}")
                raise TrialFailed(str(e)) from e
        trial.set_user_attr("run_dir", str(trainer.run.path))
        metric = self.space.metric
        if self.pruner_name != "none":
            trainer.on_eval = self._pruning_hook(trial, metric)
        try:
            final = trainer.fit()
        except optuna.TrialPruned:
            trial.set_user_attr("steps", trainer.step)
            raise
        except TrainingDiverged as e:
            trial.set_user_attr("failure", f"diverged: {e}")
            trial.set_user_attr("steps", trainer.step)
            raise TrialFailed(str(e)) from e
        except Exception as e:
            trial.set_user_attr("failure", f"{type(e).__name__}: {e}")
            raise TrialFailed(str(e)) from e
        valid = final.get("valid", {})
        if metric not in valid:
            trial.set_user_attr("failure", f"no validation metric {metric!r}")
            raise UserError(
                f"the search optimises {metric!r}, but the validation metrics are "
                f"{', '.join(sorted(valid))}: fix search.metric in the space file"
            )
        trial.set_user_attr("steps", final.get("steps"))
        trial.set_user_attr("train_seconds", final.get("train_seconds"))
        value = float(valid[metric])
        if not math.isfinite(value):
            trial.set_user_attr("failure", f"the validation {metric} is {value}")
            raise TrialFailed(f"validation {metric} {value}")
        return value

    def _resumed_trainer(self, trial):
        """For a re-queued interrupted trial: the interrupted run, resumed, if it is here."""
        from rnnlab.train.trainer import Trainer

        old = trial.user_attrs.get("resume_of")
        if old is None:
            return None
        run_dir = self.study.trials[old].user_attrs.get("run_dir")
        if not run_dir or not (Path(run_dir) / "config.toml").is_file():
            return None
        trainer = Trainer.resume(run_dir, quiet=True)
        self.say(f"trial {trial.number}: resuming trial {old}'s run at step {trainer.step}")
        return trainer

    @staticmethod
    def _pruning_hook(trial, metric: str):
        """Report the metric at every evaluation (step = the trainer's step); let the pruner
        stop the trial from its :data:`PRUNE_AFTER_EVALS`-th evaluation on (the first ones are
        too noisy to judge a trial by)."""
        reported = set()

        def hook(trainer, metrics):
            # the trainer may evaluate twice at one step (every N steps, and at a step budget)
            if metric in metrics and trainer.step not in reported:
                reported.add(trainer.step)
                trial.report(float(metrics[metric]), trainer.step)
                if len(reported) >= PRUNE_AFTER_EVALS and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned at step {trainer.step}")

        return hook

    def _report(self) -> None:
        """One line for the trial this worker just finished."""
        if not self._last:
            return
        t = self.study.trials[self._last["number"]]
        params = "  ".join(f"{k}={_fmt(v)}" for k, v in t.params.items())
        secs = time.monotonic() - self._last["t0"]
        who = f" [worker {self.worker}]" if self.worker else ""
        if t.state == TrialState.COMPLETE:
            what = f"{self.space.metric} {t.value:.4f}"
        elif t.state == TrialState.PRUNED:
            what = f"pruned after {t.user_attrs.get('steps')} steps"
        else:
            what = "FAILED: " + str(t.user_attrs.get("failure", "interrupted"))[:120]
        c = self.counts()
        self.say(
            f"trial {t.number}{who} ({c.done}/{self.trials} done): {what} | {params} | {secs:.1f} s"
        )
        self._last = {}


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


@contextlib.contextmanager
def torch_threads(n: int):
    """Set torch's CPU threads for the duration (workers share the cores)."""
    import torch

    old = torch.get_num_threads()
    if n > 0:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(1, workers))
