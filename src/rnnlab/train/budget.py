"""Raising the training budget of an existing run: ``rnnlab train --resume RUN --set
train.max_steps=N`` (or ``train.epochs``, ``train.max_minutes``).

Only the budget may change: every other setting made the checkpoints the run resumes from. The run
continues from its last checkpoint, which for a run that stopped at its budget is the step it
stopped at, so a run of 40,000 steps raised to 100,000 trains the same 100,000 steps as a run
started with that budget (bit for bit when the old budget was a multiple of ``train.eval_every``;
otherwise it has one more validation, at the old last step). A learning-rate schedule laid out
over the run's length (cosine) cannot be extended: the steps already taken would have had other
rates.
"""

from __future__ import annotations

from rnnlab.errors import UserError

BUDGET_KEYS = ("train.max_steps", "train.epochs", "train.max_minutes")


def extend_budget(ref, overrides: list[str]) -> list[str]:
    """Rewrite the config of run ``ref`` with the raised budget ``overrides`` (``KEY=VALUE``).

    A finished run's ``final.json`` is kept as ``final-step<N>.json`` (its results at the old
    budget) and the run becomes unfinished. Returns the lines to print about the change.
    """
    from rnnlab.tasks.base import load_run_config
    from rnnlab.train.run_dir import RunDir

    keys = [o.partition("=")[0].strip() for o in overrides]
    other = [k for k in keys if k not in BUDGET_KEYS]
    if other:
        raise UserError(
            f"--resume takes --set only for the training budget ({', '.join(BUDGET_KEYS)}), "
            f"not {', '.join(other)}: the rest of a run's config made its checkpoints. "
            "Start a new run to change it."
        )
    run = RunDir.find(ref)
    old = load_run_config(run.config_path)
    new = load_run_config(run.config_path, overrides)
    changes = []
    for key in BUDGET_KEYS:
        field = key.split(".")[1]
        before, after = getattr(old.train, field), getattr(new.train, field)
        if before != after:
            if before and after and after < before:
                raise UserError(
                    f"--resume may only raise a budget: {key} {_show(before)} -> {_show(after)} "
                    "lowers it. Evaluate an earlier checkpoint instead (`rnnlab eval RUN "
                    "--checkpoint best`), or start a new run."
                )
            changes.append(f"{key}: {_show(before)} -> {_show(after)}")
    if not changes:
        return []
    if new.train.schedule == "cosine":
        raise UserError(
            f"{run} decays its learning rate over its whole length (train.schedule = 'cosine'): "
            "a longer run would have had other rates at the steps already taken. Start a new run "
            "with the larger budget instead."
        )
    if run.checkpoints.exists("last"):
        # A damaged checkpoint is reported before the run is changed.
        _, state = run.checkpoints.load("last")
        done = state.get("step", 0) if isinstance(state.get("step"), int) else 0
        if new.train.max_steps and new.train.max_steps < done:
            raise UserError(
                f"{run} has trained {done} steps already: train.max_steps = "
                f"{new.train.max_steps} would end it before where it is"
            )
    final = run.read_json("final.json")
    if final is not None and final.get("stopped", "").startswith("early stopping"):
        raise UserError(
            f"{run} stopped early ({final['stopped']}: its validation loss had stopped "
            "improving), not at its budget: with a larger budget it would stop at the same step"
        )
    if final is not None:
        _check_limit_raised(run, final, old.train, new.train)
        (run.path / "final.json").rename(run.path / f"final-step{final['steps']}.json")
    run.write_text("config.toml", new.to_toml())
    return [f"{run}: " + "; ".join(changes)]


def _check_limit_raised(run, final: dict, old, new) -> None:
    """Refuse a raise that leaves the limit that ended ``run`` where it was: the run would
    "resume", train no step and finish again at the same step."""
    stopped, steps = final.get("stopped", ""), final.get("steps")
    if stopped == "end":
        key, binding = "train.epochs", new.epochs <= old.epochs
        why = f"ended after its {old.epochs} epochs (train.epochs)"
    elif stopped.startswith("max_steps="):
        key, binding = "train.max_steps", bool(new.max_steps) and new.max_steps <= (steps or 0)
        why = f"stopped at its step budget (train.max_steps = {old.max_steps})"
    elif stopped.startswith("max_minutes="):
        key, binding = "train.max_minutes", new.max_minutes == old.max_minutes
        why = f"stopped at its time budget (train.max_minutes = {_show(old.max_minutes)})"
    else:
        return
    if binding:
        raise UserError(
            f"{run} {why}, at step {steps}: without raising {key} too it would train no further "
            f"step. Add --set {key}=..."
        )


def _show(value) -> str:
    return "none" if not value else f"{value:g}" if isinstance(value, float) else str(value)
