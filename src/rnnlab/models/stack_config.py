"""The recurrent stack's part of a ``[model]`` section, shared by every model built on one stack.

:class:`StackConfig` holds the fields that choose and regularise the stack (cell, variant, size,
depth, dropouts, engine) and builds the :class:`rnnlab.nn.Recurrent` from them, so the language
model, the music model, the classifier and the tagger read these keys the same way and report a
bad cell option the same way (a :class:`ConfigError` naming ``[model]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rnnlab.errors import ConfigError
from rnnlab.nn import Recurrent


@dataclass
class StackConfig:
    """Fields of the recurrent stack.

    Attributes:
        cell: rnn, lstm, gru, mut1, mut2 or mut3.
        variant: the cell's own options, e.g. ``{ peephole = true }``, ``{ forget_bias = 1.0 }`` or
            ``{ reset = "before" }``.
        hidden_size: H (per direction).
        num_layers: depth of the recurrent stack.
        dropout: dropout between layers and on the stack's output (each model says where else).
        recurrent_dropout: variational dropout on the recurrent connections (one mask per
            sequence).
        recurrent_init: uniform (torch.nn's) or orthogonal (one random orthogonal ``(H, H)``
            block per gate of ``weight_hh``; see :class:`rnnlab.nn.Recurrent`).
        engine: auto, builtin, fused, autograd or reference.
    """

    cell: str = "lstm"
    variant: dict = field(default_factory=dict)
    hidden_size: int = 128
    num_layers: int = 1
    dropout: float = 0.0
    recurrent_dropout: float = 0.0
    recurrent_init: str = "uniform"
    engine: str = "auto"

    def validate(self) -> None:
        for name in ("hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("dropout", "recurrent_dropout"):
            if not 0 <= getattr(self, name) < 1:
                raise ConfigError(f"model.{name} must be in [0, 1), got {getattr(self, name)}")
        # The cell, its variant and the engine, checked now (a one-unit stack costs nothing) so
        # that a bad name fails when the config is read: before a run directory exists, and for
        # every trial of a search before the search starts.
        self.build_stack(1)

    def build_stack(self, input_size: int, bidirectional: bool = False) -> Recurrent:
        """The ``Recurrent`` of these settings over ``input_size`` features (dropout between
        layers only when there is more than one)."""
        try:
            return Recurrent(
                self.cell,
                input_size,
                self.hidden_size,
                self.num_layers,
                dropout=self.dropout if self.num_layers > 1 else 0.0,
                bidirectional=bidirectional,
                engine=self.engine,
                recurrent_dropout=self.recurrent_dropout,
                recurrent_init=self.recurrent_init,
                **self.variant,
            )
        except ValueError as e:
            raise ConfigError(f"[model]: {e}") from None
