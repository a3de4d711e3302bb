"""Define a new cell from its equations: write the forward step, get every torch engine.

Dimension letters: B batch, D input, H hidden, G gates.

A custom cell is a forward step written over the array namespace ``xp`` (like the built-in cells)::

    def mgu_step(xp, P, xg, state):
        # Minimal gated unit (Zhou et al. 2016): one forget gate f.
        (h,) = state
        H = h.shape[1]
        f = xp.sigmoid(xg[:, :H] + h @ P["W_hh"][:, :H] + P["b_hh"][:H])
        n = xp.tanh(xg[:, H:] + (f * h) @ P["W_hh"][:, H:] + P["b_hh"][H:])
        return (n + (1 - f) * (h - n),)

    define_cell("mgu", gates=2, step=mgu_step)
    model = rnnlab.Recurrent("mgu", 32, 64)          # engine auto -> fused

``xg`` is this step's row of the hoisted input projection ``x W_xh + b_xh`` (``(B, G*H)``); ``P``
holds ``W_xh (D, G*H)``, ``W_hh (H, G*H)``, ``b_xh``, ``b_hh`` and any extra parameters you declare.

How it trains fast without a hand-written backward: the fused engine still hoists the input GEMM
out of the loop and is one autograd node per layer; its ``step_backward`` re-runs your step for
that time step under torch autograd and takes the vector-Jacobian product (so memory holds only
the per-step inputs, not a graph over the whole sequence, and there is no O(T^2) indexing). Give
``step_backward=`` as well and the cell also runs on the NumPy reference engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from rnnlab.cells.base import Cell, ParamSpec

#: name -> class of every user-defined cell
CUSTOM_CELLS: dict[str, type] = {}


class CustomCache(NamedTuple):
    xg: object
    state: tuple
    rmask: object
    P: dict


class CustomCell(Cell):
    """Base class of the cells made by :func:`define_cell`."""

    user_step: Callable
    user_backward: Callable | None = None
    extra_specs: tuple = ()

    def extra_param_specs(self):
        return [
            ParamSpec(name, tuple(self.hidden_size if d == "H" else d for d in shape), init)
            for name, shape, init in self.extra_specs
        ]

    def step(self, xp, P, xg, state, rmask=None):
        inp = state if rmask is None else (state[0] * rmask, *state[1:])
        new = tuple(self.user_step(xp, P, xg, inp))
        if len(new) != len(self.states):
            raise ValueError(
                f"cell {self.kind!r}: step returned {len(new)} states, expected {len(self.states)}"
            )
        return new, CustomCache(xg, tuple(state), rmask, P)

    def step_backward(self, xp, P, cache, dstate):
        if xp.name == "numpy":
            if self.user_backward is None:
                raise NotImplementedError(
                    f"cell {self.kind!r} has no step_backward: it runs on the torch engines "
                    "(fused, autograd); pass step_backward= to define_cell for the reference engine"
                )
            return self.user_backward(xp, P, cache, dstate)
        import torch

        with torch.enable_grad():
            xg = cache.xg.detach().requires_grad_()
            state = tuple(s.detach().requires_grad_() for s in cache.state)
            params = {k: v.detach().requires_grad_() for k, v in P.items()}
            new, _ = self.step(xp, params, xg, state, cache.rmask)
            names = list(params)
            grads = torch.autograd.grad(
                new, [xg, *state, *params.values()], grad_outputs=dstate, allow_unused=True
            )
        n = len(state)
        dxg, dstate_prev = grads[0], grads[1 : 1 + n]
        dstate_prev = tuple(
            torch.zeros_like(s) if d is None else d for s, d in zip(state, dstate_prev)
        )
        dP = {k: g for k, g in zip(names, grads[1 + n :]) if g is not None}
        return dstate_prev, {
            "dxg": torch.zeros_like(xg) if dxg is None else dxg,
            **{"P." + k: g for k, g in dP.items()},
        }

    def param_grads(self, xp, P, X, aux, trace):
        dXG = trace.flat_kept("dxg")
        dW_xh, db_xh, dX = self.input_grads(xp, P, X, dXG, trace.need_dx)
        dP = {}
        # Per-step gradients of the recurrent parameters, summed over time.
        kept = trace.kept_steps()
        for key in kept[0]:
            if key.startswith("P."):
                steps = [k[key] for k in kept if key in k]
                total = steps[0]
                for g in steps[1:]:
                    total = total + g
                dP[key[2:]] = total
        dP["W_xh"] = dP.get("W_xh", 0) + dW_xh
        if db_xh is not None:
            dP["b_xh"] = dP.get("b_xh", 0) + db_xh
        for spec in self.param_specs():
            name = {
                "weight_ih": "W_xh",
                "weight_hh": "W_hh",
                "bias_ih": "b_xh",
                "bias_hh": "b_hh",
            }.get(spec.name, spec.name)
            if name not in dP:
                dP[name] = xp.zeros(P[name].shape, P[name])
        return dP, dX


def define_cell(
    name: str,
    *,
    gates: int,
    step: Callable,
    states: tuple[str, ...] = ("h",),
    step_backward: Callable | None = None,
    extra_params: tuple = (),
) -> type:
    """Register a cell by name so that ``rnnlab.Recurrent(name, ...)`` builds it.

    Args:
        name: the cell's name (must not clash with a built-in cell).
        gates: G, so that ``weight_ih`` is ``(G*H, D)`` and ``weight_hh`` is ``(G*H, H)``.
        step: ``step(xp, P, xg, state) -> new state tuple`` (see the module docstring).
        states: the state names, e.g. ``("h", "c")``; the first is the output.
        step_backward: optional hand-written backward (enables the NumPy reference engine), with
            the built-in cells' signature.
        extra_params: ``(name, shape, init)`` triples; ``"H"`` in a shape means the hidden size,
            ``init`` one of uniform, zeros, ones.

    Returns:
        The new Cell class.
    """
    from rnnlab.cells import CELL_KINDS

    if name in CELL_KINDS and name not in CUSTOM_CELLS:
        raise ValueError(f"{name!r} is a built-in cell")
    cls = type(
        f"{name.title()}Cell",
        (CustomCell,),
        {
            "kind": name,
            "gates": int(gates),
            "states": tuple(states),
            "user_step": staticmethod(step),
            "user_backward": staticmethod(step_backward) if step_backward else None,
            "extra_specs": tuple(extra_params),
            "__doc__": (step.__doc__ or f"User-defined cell {name!r}."),
        },
    )
    CUSTOM_CELLS[name] = cls
    return cls
