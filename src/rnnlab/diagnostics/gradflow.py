"""Gradient flow through time: the norm of dL/dh_t at every step t, measured.

Dimension letters: T time, B batch, D input, H hidden.

The sources explain the vanishing gradient by the chain rule: ``dL/dh_k`` is a product of
``T - 1 - k`` Jacobians ``dh_{t+1}/dh_t``; for the tanh RNN each is ``W_hh^T diag(tanh')``, whose
norm is below one when the recurrent weights are small (the gradient vanishes geometrically with
distance) and can be far above one when they are large (it explodes). The LSTM's cell state adds
a path whose Jacobian is ``diag(f_t)``, and the GRU's ``diag(z_t)``, so a gradient can survive
many steps when the gates learn to hold them near one.

:func:`hidden_grad_norms` measures it. It runs the model's own recurrent layer one step at a time
with the cell's equations (:mod:`rnnlab.cells`) under torch autograd, in float64, so that every
``h_t`` is a node of the graph; calls ``retain_grad()`` on each; back-propagates the *last-step*
loss (the adding problem's squared error, or the copy task's cross-entropy at its last step) of
every example; and returns, for each t, the mean over the examples of ``||dL_b/dh_t^b||_2``.
float64 keeps the tanh RNN's tiny gradients (1e-60 and less after a few hundred steps) from
underflowing to zero.

:func:`run_gradflow` does it for several cells at initialisation and after training, and
adds the exploding case: a tanh RNN whose recurrent matrix is rescaled to a spectral radius above
one, trained by SGD with and without gradient clipping (clipped as the trainer clips: global norm,
:func:`torch.nn.utils.clip_grad_norm_`), logging the pre- and post-clip gradient norms and the
norm of every parameter update. ``rnnlab gradflow`` (:mod:`rnnlab.diagnostics.gradflow_cli`)
writes the numbers to JSON and plots them.
"""

from __future__ import annotations

import copy
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from rnnlab.cells import make_cell
from rnnlab.errors import UserError
from rnnlab.ops import torch_ops

#: cell names accepted by ``--cells``: name -> (cell kind, variant arguments); a variant value
#: ``"2T"`` stands for twice the task's length T (see :func:`cell_variant`)
CELL_SPECS: dict[str, tuple[str, dict]] = {
    "rnn": ("rnn", {}),
    "rnn-orth": ("rnn", {}),
    "lstm": ("lstm", {}),
    "lstm-fb1": ("lstm", {"forget_bias": 1.0}),
    "lstm-chrono": ("lstm", {"chrono": "2T"}),
    "gru": ("gru", {}),
    "gru-chrono": ("gru", {"chrono": "2T"}),
    "mut1": ("mut1", {}),
    "mut2": ("mut2", {}),
    "mut3": ("mut3", {}),
}

#: what each name means, for tables and legends
CELL_LABELS = {
    "rnn": "tanh RNN",
    "rnn-orth": "tanh RNN, orthogonal W_hh",
    "lstm": "LSTM",
    "lstm-fb1": "LSTM, forget bias 1",
    "lstm-chrono": "LSTM, chrono init",
    "gru": "GRU",
    "gru-chrono": "GRU, chrono init",
    "mut1": "MUT1",
    "mut2": "MUT2",
    "mut3": "MUT3",
}

#: other ``[model]`` fields a ``--cells`` name sets (initialisations that are not cell variants)
CELL_MODEL_FIELDS: dict[str, dict] = {"rnn-orth": {"recurrent_init": "orthogonal"}}

#: tasks whose loss is at the last step (so dL/dh_t is a clean function of the distance)
GRADFLOW_TASKS = ("adding", "copy")


def cell_variant(cell: str, length: int) -> tuple[str, dict]:
    """``(kind, variant)`` of a ``--cells`` name for a task of length T. The chrono cells get
    ``chrono = 2 T``: memories from 2 up to 2 T steps at initialisation, so that the longest
    dependency of either task (T + 2 S steps for copy, under T for adding) is covered."""
    kind, variant = CELL_SPECS[cell]
    return kind, {k: 2 * length if v == "2T" else v for k, v in variant.items()}


def cell_model(cell: str, length: int) -> dict:
    """The ``[model]`` fields that make a ``--cells`` name: ``cell``, ``variant`` (see
    :func:`cell_variant`) and any other field the name sets (``rnn-orth``: ``recurrent_init``)."""
    kind, variant = cell_variant(cell, length)
    return {"cell": kind, "variant": variant, **CELL_MODEL_FIELDS.get(cell, {})}


def parse_cells(text: str) -> list[str]:
    """``"rnn,lstm,gru"`` -> ``["rnn", "lstm", "gru"]``; unknown names raise a UserError."""
    cells = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in cells if c not in CELL_SPECS]
    if unknown or not cells:
        raise UserError(
            f"unknown cell(s) {', '.join(unknown) or '(none given)'}; valid: {', '.join(CELL_SPECS)}"
        )
    return list(dict.fromkeys(cells))


# ---------------------------------------------------------------------- the measurement
def stepwise_forward(model, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Run ``model``'s recurrent layer one step at a time with its cell's equations.

    Args:
        model: a :class:`~rnnlab.models.classifier.SequenceClassifier` (``pooling = "last"``)
            or a :class:`~rnnlab.models.tagger.SequenceTagger`, with one unidirectional layer.
        x: ``(T, B)`` ids or ``(T, B, D)`` features.

    Returns:
        ``(hs, out)``: the T hidden states ``h_t: (B, H)`` (graph nodes of one autograd graph)
        and the model's output at the last step, ``out: (B, C)``.
    """
    enc = model.encoder
    rnn = enc.rnn
    if rnn.num_layers != 1 or rnn.bidirectional:
        raise UserError("gradient flow is measured on one unidirectional recurrent layer")
    if getattr(model.cfg, "pooling", "last") != "last":
        raise UserError('gradient flow needs model.pooling = "last" (the output reads h_T)')
    xp = torch_ops()
    cell = make_cell(rnn.cell_kind, rnn.input_size, rnn.hidden_size, rnn.bias, **rnn.variant)
    names = [s.name for s in cell.param_specs()]
    P = cell.equation_params(dict(zip(names, rnn.layer_params(0, 0))))
    X = enc.drop(enc.embed(x))  # (T, B, D)
    T, B, D = X.shape
    XG, _ = cell.project_input(xp, P, X.reshape(T * B, D))  # (T*B, Gx): all steps at once
    # unbind, not XG[t]: indexing T times would cost a (T, B, Gx) gradient buffer per step
    rows = XG.reshape(T, B, -1).unbind(0)
    state = cell.zero_state(xp, B, X)
    hs = []
    for t in range(T):
        state, _ = cell.step(xp, P, rows[t], state)
        state[0].retain_grad()  # keep dL/dh_t, which autograd frees for non-leaf tensors
        hs.append(state[0])
    return hs, model.output(hs[-1])


def hidden_grad_norms(model, task, batch) -> np.ndarray:
    """``(T,)``: for each step t the mean over the batch of ``||dL_b/dh_t^b||_2``, where
    ``L_b`` is example b's last-step loss (``task.last_step_loss``). Computed in float64 on a copy
    of ``model`` in eval mode (no dropout); ``model`` itself is left untouched."""
    probe = copy.deepcopy(model).double().eval()
    x = batch[0] if not torch.is_floating_point(batch[0]) else batch[0].double()
    batch = (x, *(t.double() if torch.is_floating_point(t) else t for t in batch[1:]))
    with torch.enable_grad():
        hs, out = stepwise_forward(probe, x)
        # the sum of per-example losses: each example's h_t gets the gradient of its own loss
        task.last_step_loss(out, batch).sum().backward()
    norms = torch.stack([h.grad.norm(dim=1) for h in hs])  # (T, B)
    return norms.mean(1).cpu().numpy()


def summarize(norms: np.ndarray) -> dict:
    """Numbers that say how fast ``norms: (T,)`` falls (or grows) from the last step backwards.

    ``first_over_last``: ``norm[0] / norm[T-1]``, the share of the gradient that reaches the
    first step. ``log10_per_step``: the least-squares slope of ``log10 norm[t]`` against the
    distance ``T - 1 - t`` (-0.1 means a factor 10 lost every 10 steps). ``steps_to_1e-3``: the
    distance at which the norm first falls below 1e-3 of the last step's (None if never).
    """
    T = len(norms)
    dist = np.arange(T - 1, -1, -1, dtype=np.float64)  # distance of step t from the loss
    ok = np.isfinite(norms) & (norms > 0)
    slope = (
        float(np.polyfit(dist[ok], np.log10(norms[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")
    )
    below = np.nonzero(norms[::-1] < 1e-3 * norms[-1])[0]
    return {
        "last": float(norms[-1]),
        "first": float(norms[0]),
        "first_over_last": float(norms[0] / norms[-1]) if norms[-1] > 0 else float("nan"),
        "log10_per_step": slope,
        "steps_to_1e-3": int(below[0]) if len(below) else None,
    }


# ---------------------------------------------------------------------- building and training
def build_task(task_name: str, cell: str, length: int, hidden: int, batch: int, seed: int):
    """The task (prepared) and a fresh one-layer model of ``cell`` for a gradient-flow run."""
    from rnnlab.tasks import task_class
    from rnnlab.tasks.base import build_run_config

    if task_name not in GRADFLOW_TASKS:
        raise UserError(f"--task {task_name!r}: gradient flow runs on {', '.join(GRADFLOW_TASKS)}")
    model = {**cell_model(cell, length), "hidden_size": hidden, "num_layers": 1}
    if task_name == "copy":
        model["embed_size"] = 16
    cfg = build_run_config(
        {
            "task": task_name,
            "name": f"gradflow-{cell}",
            "seed": seed,
            "data": {"length": length, "seed": seed, "valid_size": 500, "test_size": 1},
            "model": model,
            "train": {"batch_size": batch, "eval_batch_size": 500},
        }
    )
    task = task_class(task_name)(cfg)
    task.prepare()
    torch.manual_seed(seed)
    return task, task.build_model()


def train_briefly(model, task, steps: int, lr: float, clip: float, label: str = "") -> list[dict]:
    """``steps`` Adam steps on the task's training batches, the gradient clipped to global norm
    ``clip`` as the trainer does. Returns ``{"step", "loss"}`` records (every 10 steps)."""
    from rnnlab.train.progress import progress_bar, progress_enabled

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    records, epoch, loader, i = [], 0, task.train_loader(0), 0
    # Without a terminal there is no bar: a line per cell tells a logged run where it is.
    plain = not progress_enabled() and os.environ.get("RNNLAB_NO_PROGRESS") != "1"
    started = time.monotonic()
    if plain and steps:
        print(f"gradflow: training {label} for {steps} steps", file=sys.stderr, flush=True)
    with progress_bar(f"train {label}", steps) as bar:
        for step in range(1, steps + 1):
            if i == len(loader):
                epoch, i = epoch + 1, 0
                loader = task.train_loader(epoch)
            out = task.loss(model, loader[i])
            i += 1
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            if clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            if step % 10 == 0 or step == steps:
                records.append({"step": step, "loss": float(out.loss.detach())})
                bar.update(completed=step, info=f"loss {records[-1]['loss']:.4f}")
    if plain and records:
        seconds = time.monotonic() - started
        print(
            f"gradflow: {label} trained in {seconds:.0f} s, last loss {records[-1]['loss']:.4g}",
            file=sys.stderr,
            flush=True,
        )
    model.eval()
    return records


def set_spectral_radius(model, radius: float) -> float:
    """Rescale the recurrent matrix of the model's first layer so that its spectral radius
    (largest absolute eigenvalue) is ``radius``; returns the radius it had."""
    W = model.encoder.rnn.layer_params(0, 0)[1]  # weight_hh_l0: (G*H, H)
    H = W.shape[1]
    with torch.no_grad():
        blocks = W.view(-1, H, H)  # one (H, H) block per gate
        old = float(torch.linalg.eigvals(blocks[0].double()).abs().max())
        blocks.mul_(radius / old)  # the same factor for every gate block
    return old


def _flat_params(model) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def sgd_with_and_without_clipping(
    model, task, steps: int, lr: float, clip: float
) -> dict[str, list[dict]]:
    """Train copies of ``model`` by plain SGD for ``steps`` steps, once without clipping and once
    with the global norm clipped to ``clip``. Per step: the loss, the gradient norm before and
    after clipping and the norm of the parameter update actually applied. A run stops early when
    the loss or the weights stop being finite (the explosion clipping prevents)."""
    runs = {}
    for name, limit in (("no_clip", 0.0), ("clip", clip)):
        m = copy.deepcopy(model).train()
        opt = torch.optim.SGD(m.parameters(), lr=lr)
        loader = task.train_loader(0)
        records = []
        for step in range(steps):
            out = task.loss(m, loader[step % len(loader)])
            opt.zero_grad(set_to_none=True)
            out.loss.backward()
            params = [p for p in m.parameters() if p.grad is not None]
            pre = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
            if limit:
                torch.nn.utils.clip_grad_norm_(params, limit)
            post = float(torch.nn.utils.get_total_norm([p.grad for p in params]))
            before = _flat_params(m)
            opt.step()
            update = float((_flat_params(m) - before).norm())
            records.append(
                {
                    "step": step,
                    "loss": float(out.loss.detach()),
                    "grad_norm_pre_clip": pre,
                    "grad_norm_post_clip": post,
                    "update_norm": update,
                }
            )
            if not all(math.isfinite(records[-1][k]) for k in records[-1]):
                break
        runs[name] = records
    return runs


# ---------------------------------------------------------------------- the whole diagnostic
@dataclass
class GradflowSettings:
    """What ``rnnlab gradflow`` measures (its command-line options)."""

    cells: list[str] = field(default_factory=lambda: ["rnn", "lstm", "gru"])
    task: str = "adding"
    length: int = 200
    hidden: int = 64
    batch: int = 32
    probe: int = 100
    steps: int = 10000
    lr: float = 2e-3
    clip: float = 1.0
    seed: int = 0
    explode: bool = True
    explode_radius: float = 2.0
    explode_steps: int = 30
    explode_lr: float = 0.1

    def validate(self) -> None:
        for name in ("length", "hidden", "batch", "probe"):
            if getattr(self, name) < (2 if name == "length" else 1):
                raise UserError(f"--{name} must be >= {2 if name == 'length' else 1}")
        if self.steps < 0 or self.explode_steps < 1:
            raise UserError("--steps must be >= 0 and --explode-steps >= 1")
        if self.lr <= 0 or self.explode_lr <= 0 or self.clip <= 0 or self.explode_radius <= 0:
            raise UserError("--lr, --explode-lr, --clip and --explode-radius must be > 0")


def probe_batch(task, n: int):
    """The first ``n`` validation examples: the same inputs for every cell and phase."""
    return tuple(t[:, :n] for t in task.sets["valid"])


def run_gradflow(s: GradflowSettings, done: dict | None = None, on_cell=None) -> dict:
    """Measure every cell of ``s.cells`` at initialisation and after ``s.steps`` training steps,
    and (``s.explode``) the exploding tanh RNN with and without clipping. Returns the JSON-able
    result (see :func:`summarize` for the summary numbers).

    ``done`` maps cells to entries an interrupted run of the same settings finished: they are
    kept, not measured again (each cell is seeded on its own, so a re-run would give the same
    numbers). ``on_cell(result)`` is called after each cell, so a caller can save the cells
    finished so far."""
    s.validate()
    result: dict = {"settings": asdict(s), "cells": {}}
    for cell in s.cells:
        if done and cell in done:
            result["cells"][cell] = done[cell]
            continue
        task, model = build_task(s.task, cell, s.length, s.hidden, s.batch, s.seed)
        batch = probe_batch(task, s.probe)
        entry = {"label": CELL_LABELS[cell], "init": {}, "trained": {}}
        norms = hidden_grad_norms(model, task, batch)
        entry["init"] = {
            "norms": norms.tolist(),
            "summary": summarize(norms),
            **_score(task, model),
        }
        if s.steps:
            t0 = time.perf_counter()
            curve = train_briefly(model, task, s.steps, s.lr, s.clip, label=cell)
            norms = hidden_grad_norms(model, task, batch)
            entry["trained"] = {
                "norms": norms.tolist(),
                "summary": summarize(norms),
                "steps": s.steps,
                "train_seconds": round(time.perf_counter() - t0, 1),
                "curve": curve,
                **_score(task, model),
            }
        result["cells"][cell] = entry
        if on_cell is not None:
            on_cell(result)
    if s.explode:
        result["exploding"] = run_exploding(s)
    return result


def run_exploding(s: GradflowSettings) -> dict:
    """The exploding case: a tanh RNN with its recurrent matrix scaled to spectral radius
    ``s.explode_radius``: dL/dh_t per step, and SGD with and without clipping."""
    task, model = build_task(s.task, "rnn", s.length, s.hidden, s.batch, s.seed)
    old = set_spectral_radius(model, s.explode_radius)
    norms = hidden_grad_norms(model, task, probe_batch(task, s.probe))
    runs = sgd_with_and_without_clipping(model, task, s.explode_steps, s.explode_lr, s.clip)
    return {
        "cell": "rnn",
        "spectral_radius": s.explode_radius,
        "spectral_radius_at_init": old,
        "norms": norms.tolist(),
        "summary": summarize(norms),
        "sgd_lr": s.explode_lr,
        "clip": s.clip,
        "runs": runs,
    }


def _score(task, model) -> dict:
    """The validation loss of ``model`` and the task's trivial baseline."""
    metrics = task.evaluate(model.eval(), "valid")
    return {"valid_loss": metrics["loss"], "baseline": metrics.get("baseline")}
