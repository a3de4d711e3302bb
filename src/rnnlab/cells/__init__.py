"""The cells' equations, written once (see :mod:`rnnlab.cells.base`).

``make_cell(kind, input_size, hidden_size, bias=True, **variant)`` builds any cell by name:

============  ==============================================  ==============================
kind          cell                                            variant arguments
============  ==============================================  ==============================
``rnn``       Elman RNN                                       ``nonlinearity="tanh"|"relu"``
``lstm``      LSTM (i, f, g, o)                               ``peephole``, ``forget_bias``,
                                                              ``chrono``, ``layer_norm``
``gru``       GRU (r, z, n)                                   ``reset="after"|"before"``,
                                                              ``chrono``
``mut1``      MUT1 (Jozefowicz et al. 2015)
``mut2``      MUT2
``mut3``      MUT3
============  ==============================================  ==============================

New cells: :func:`rnnlab.cells.custom.define_cell` (write the forward step; the torch engines
derive the backward).
"""

from __future__ import annotations

from rnnlab.cells.base import Cell, ParamSpec, check_flag
from rnnlab.cells.gru import GRUCell
from rnnlab.cells.lstm import LSTMCell
from rnnlab.cells.rnn import RNNCell

CELL_KINDS = ("rnn", "lstm", "gru", "mut1", "mut2", "mut3")


def cell_kinds() -> tuple[str, ...]:
    """Built-in cells and those registered with :func:`rnnlab.cells.custom.define_cell`."""
    from rnnlab.cells.custom import CUSTOM_CELLS

    return CELL_KINDS + tuple(k for k in CUSTOM_CELLS if k not in CELL_KINDS)


def make_cell(kind: str, input_size: int, hidden_size: int, bias: bool = True, **variant) -> Cell:
    """Build a cell by name; unknown kinds or variant arguments raise a ValueError that lists
    the valid ones."""
    kind = kind.lower()
    from rnnlab.cells.custom import CUSTOM_CELLS

    if kind in CUSTOM_CELLS:
        cls, allowed = CUSTOM_CELLS[kind], ()
    elif kind == "rnn":
        cls, allowed = RNNCell, ("nonlinearity",)
    elif kind == "lstm":
        if check_flag("layer_norm", variant.get("layer_norm", False)):
            from rnnlab.cells.lstm_ln import LayerNormLSTMCell

            variant = {k: v for k, v in variant.items() if k != "layer_norm"}
            cls, allowed = LayerNormLSTMCell, ("peephole", "forget_bias", "chrono")
        else:
            variant = {k: v for k, v in variant.items() if k != "layer_norm"}
            cls, allowed = LSTMCell, ("peephole", "forget_bias", "chrono")
    elif kind == "gru":
        cls, allowed = GRUCell, ("reset", "chrono")
    elif kind in ("mut1", "mut2", "mut3"):
        from rnnlab.cells.mut import MUT_CELLS

        cls, allowed = MUT_CELLS[kind], ()
    else:
        raise ValueError(f"unknown cell {kind!r}; valid cells: {', '.join(cell_kinds())}")
    unknown = sorted(set(variant) - set(allowed))
    if unknown:
        valid = ", ".join(allowed) if allowed else "none"
        raise ValueError(f"{kind} cell got unknown arguments {unknown}; valid: {valid}")
    return cls(input_size, hidden_size, bias, **variant)


from rnnlab.cells.custom import define_cell  # noqa: E402 - after make_cell, which it uses lazily

__all__ = [
    "CELL_KINDS",
    "Cell",
    "GRUCell",
    "LSTMCell",
    "ParamSpec",
    "RNNCell",
    "cell_kinds",
    "define_cell",
    "make_cell",
]
