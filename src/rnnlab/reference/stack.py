"""Multi-layer, bidirectional recurrent stacks in the NumPy reference engine, forward and BPTT.

Dimension letters: T time, B batch, D input, H hidden, L layers, K directions (1 or 2).

Parameters use torch.nn's names and layouts (``weight_ih_l0``, ``weight_hh_l1_reverse``...), so a
``torch.nn.LSTM(...).state_dict()`` converted to NumPy arrays runs here unchanged. Layer ``l + 1``
reads layer ``l``'s output sequence (both directions concatenated, ``(T, B, K*H)``), through a
dropout mask when one is given; the initial and final states are ``(L*K, B, H)`` as in torch.nn.

The functions run over any array namespace ``xp`` (NumPy by default), so the torch ``reference``
engine can bridge them while the fused engine reuses only :mod:`rnnlab.reference.bptt`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rnnlab.cells import Cell, make_cell
from rnnlab.ops import NumpyOps
from rnnlab.reference.bptt import layer_backward, layer_forward


@dataclass(frozen=True)
class StackSpec:
    """The shape of a recurrent stack: which cell, how big, how many layers and directions."""

    kind: str
    input_size: int
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    bias: bool = True
    variant: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {self.num_layers}")

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def cell(self, layer: int) -> Cell:
        """The cell of ``layer`` (layer 0 reads D inputs, later layers K*H)."""
        d = self.input_size if layer == 0 else self.directions * self.hidden_size
        return make_cell(self.kind, d, self.hidden_size, self.bias, **self.variant)

    def cells(self) -> list[Cell]:
        return [self.cell(layer) for layer in range(self.num_layers)]

    @staticmethod
    def suffix(layer: int, direction: int) -> str:
        return f"_l{layer}" + ("_reverse" if direction else "")

    def layer_params(self, params: dict, layer: int, direction: int) -> dict:
        """The stored parameters of one layer and direction, without their suffix."""
        sfx = self.suffix(layer, direction)
        return {name: params[name + sfx] for name in self.param_names(layer)}

    def param_names(self, layer: int) -> list[str]:
        return [spec.name for spec in self.cell(layer).param_specs()]

    def all_param_names(self) -> list[str]:
        """Every stored name, in torch.nn's order (layer, direction, then weight_ih, weight_hh...)."""
        return [
            name + self.suffix(layer, k)
            for layer in range(self.num_layers)
            for k in range(self.directions)
            for name in self.param_names(layer)
        ]


def init_stack(
    spec: StackSpec, rng, dtype=np.float64, recurrent_init: str = "uniform"
) -> dict[str, np.ndarray]:
    """Fresh parameters for every layer and direction, initialised like torch.nn (or with
    orthogonal ``(H, H)`` blocks of ``weight_hh``: ``recurrent_init="orthogonal"``). ``rng``: a
    ``np.random.Generator`` or a seed; ``dtype``: a floating-point type."""
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise ValueError(f"dtype must be a floating-point type, got {np.dtype(dtype)}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)  # a seed
    params = {}
    for layer, cell in enumerate(spec.cells()):
        for k in range(spec.directions):
            sfx = spec.suffix(layer, k)
            for name, value in cell.init_params(rng, dtype, recurrent_init).items():
                params[name + sfx] = value
    return params


def lengths_to_mask(lengths, T: int, dtype=np.float64) -> np.ndarray:
    """``(B,)`` lengths -> ``(T, B, 1)`` mask with 1 on real steps."""
    lengths = np.asarray(lengths)
    if lengths.dtype.kind not in "iu" and not (
        lengths.dtype.kind == "f" and np.array_equal(lengths, np.round(lengths))
    ):
        raise ValueError(f"lengths must be whole numbers of steps, got {lengths}")
    if lengths.ndim != 1 or (lengths < 1).any() or (lengths > T).any():
        raise ValueError(f"lengths must be a 1-d array of values in 1..{T}, got {lengths}")
    return (np.arange(T)[:, None] < lengths[None, :]).astype(dtype)[..., None]


@dataclass
class StackCache:
    """What :func:`stack_forward` keeps for :func:`stack_backward`."""

    tapes: list  # tapes[layer][direction]
    dropout_masks: list
    n_states: int
    equations: list  # P per [layer][direction]


def stack_forward(
    spec: StackSpec,
    params: dict,
    X,
    hx=None,
    lengths=None,
    dropout_masks=None,
    rmasks=None,
    xp=NumpyOps,
):
    """Run the whole stack.

    Args:
        spec: the stack's shape.
        params: stored parameters (torch.nn names).
        X: ``(T, B, D)`` input.
        hx: initial state, a tuple with one ``(L*K, B, H)`` array per state (``(h0,)`` or
            ``(h0, c0)``), or None for zeros.
        lengths: ``(B,)`` sequence lengths, or None when all are T.
        dropout_masks: None, or ``L - 1`` arrays ``(T, B, K*H)`` (already scaled by ``1/(1-p)``)
            applied to the outputs of layers ``0..L-2``.
        rmasks: None, or ``rmasks[layer][direction]``: ``(B, H)`` recurrent dropout masks.

    Returns:
        ``(Y, h_n, cache)``: ``Y: (T, B, K*H)``, ``h_n`` a tuple like ``hx``.
    """
    if X.ndim != 3 or X.shape[2] != spec.input_size:
        raise ValueError(f"X must be (T, B, D={spec.input_size}), got shape {tuple(X.shape)}")
    T, B, _ = X.shape
    K, H = spec.directions, spec.hidden_size
    cells = spec.cells()
    n_states = len(cells[0].states)
    _check_states("hx", hx, cells[0].states, (spec.num_layers * K, B, H))
    if lengths is not None and np.asarray(lengths).shape != (B,):
        raise ValueError(
            f"lengths must be ({B},), one per sequence, got {np.asarray(lengths).shape}"
        )
    if hx is None:
        hx = tuple(xp.zeros((spec.num_layers * K, B, H), X) for _ in range(n_states))
    mask = None if lengths is None else xp_mask(xp, lengths, T, X)
    tapes, equations, finals = [], [], [[] for _ in range(n_states)]
    inp = X
    for layer, cell in enumerate(cells):
        outs, layer_tapes, layer_eqs = [], [], []
        for k in range(K):
            P = cell.equation_params(spec.layer_params(params, layer, k))
            state0 = tuple(s[layer * K + k] for s in hx)
            rm = None if rmasks is None else rmasks[layer][k]
            Y, state, tape = layer_forward(
                xp, cell, P, inp, state0, mask, reverse=bool(k), rmask=rm
            )
            outs.append(Y)
            layer_tapes.append(tape)
            layer_eqs.append(P)
            for j, s in enumerate(state):
                finals[j].append(s)
        tapes.append(layer_tapes)
        equations.append(layer_eqs)
        inp = outs[0] if K == 1 else xp.concat(outs)
        if dropout_masks is not None and layer < spec.num_layers - 1:
            inp = inp * dropout_masks[layer]
    h_n = tuple(xp.stack(f) for f in finals)
    return inp, h_n, StackCache(tapes, dropout_masks, n_states, equations)


def _check_states(name: str, states, names: tuple, shape: tuple) -> None:
    """``states`` (None, or one array per state name) must hold arrays of exactly ``shape``: a
    bare array, a missing state or a broadcastable shape would otherwise pass silently."""
    if states is None:
        return
    if not isinstance(states, (tuple, list)) or len(states) != len(names):
        raise ValueError(
            f"{name} must be a tuple of {len(names)} arrays ({', '.join(names)}), "
            f"each {shape}; got {type(states).__name__}"
        )
    for n, s in zip(names, states):
        if tuple(s.shape) != shape:
            raise ValueError(f"{name}: {n} must have shape {shape}, got {tuple(s.shape)}")


def xp_mask(xp, lengths, T, like):
    """Lengths -> ``(T, B, 1)`` mask in ``like``'s namespace and dtype."""
    return xp.as_array(lengths_to_mask(np.asarray(lengths), T), like)


def stack_backward(spec: StackSpec, params: dict, cache: StackCache, dY, dh_n=None, xp=NumpyOps):
    """BPTT through the whole stack.

    Args:
        dY: ``(T, B, K*H)`` gradient with respect to the output.
        dh_n: tuple like ``h_n`` (or None for zeros).

    Returns:
        ``(grads, dX, dhx)``: gradients of every stored parameter (same names), of the input
        ``(T, B, D)`` and of the initial state (a tuple of ``(L*K, B, H)``).
    """
    K, H = spec.directions, spec.hidden_size
    cells = spec.cells()
    T, B, _ = cache.tapes[0][0].shape
    if tuple(dY.shape) != (T, B, K * H):
        raise ValueError(f"dY must have the output's shape {(T, B, K * H)}, got {tuple(dY.shape)}")
    _check_states("dh_n", dh_n, cells[0].states, (spec.num_layers * K, B, H))
    if dh_n is None:
        dh_n = tuple(xp.zeros((spec.num_layers * K, B, H), dY) for _ in range(cache.n_states))
    grads: dict[str, Any] = {}
    dhx: list = [[None] * (spec.num_layers * K) for _ in range(cache.n_states)]
    d_out = dY
    for layer in range(spec.num_layers - 1, -1, -1):
        cell = cells[layer]
        if cache.dropout_masks is not None and layer < spec.num_layers - 1:
            d_out = d_out * cache.dropout_masks[layer]
        d_in = None
        for k in range(K):
            tape, P = cache.tapes[layer][k], cache.equations[layer][k]
            dYk = d_out[..., k * H : (k + 1) * H]
            dstate_T = tuple(d[layer * K + k] for d in dh_n)
            dP, dX, dstate0 = layer_backward(xp, cell, P, tape, dYk, dstate_T)
            sfx = spec.suffix(layer, k)
            for name, g in cell.stored_grads(dP).items():
                grads[name + sfx] = g
            for j, d in enumerate(dstate0):
                dhx[j][layer * K + k] = d
            d_in = dX if d_in is None else d_in + dX
        d_out = d_in
    return grads, d_out, tuple(xp.stack(d) for d in dhx)
