"""An exponential moving average of the weights (Polyak & Juditsky 1992), evaluated in their place.

The optimizer trains the *online* weights; after every step the average moves towards them::

    d_t = min(decay, (1 + t) / (10 + t))          t = the number of updates so far
    avg <- avg + (1 - d_t) * (w - avg)

The ramp ``(1 + t) / (10 + t)`` (TensorFlow's ``ExponentialMovingAverage(num_updates=)``) keeps the
random initial weights from dominating the early average. Evaluation, "best" selection and the
weights a checkpoint offers for evaluation are the average's; the online weights are what training
continues from. Only floating-point parameters are averaged; buffers are the online model's.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn


class WeightAverage:
    """The moving average of ``model``'s parameters.

    Args:
        model: the trained module (its parameters are read, and swapped during evaluation).
        decay: the average's decay in (0, 1), e.g. 0.999 (a memory of about 1,000 steps).
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0 < decay < 1:
            raise ValueError(f"decay must be in (0, 1), got {decay}")
        self.decay = float(decay)
        self.updates = 0
        self.names = [n for n, p in model.named_parameters() if p.is_floating_point()]
        params = dict(model.named_parameters())
        self.params = [params[n] for n in self.names]
        # Views of the parameters outside autograd, made once (update runs after every step).
        self._values = [p.detach() for p in self.params]
        self.shadow = [v.clone() for v in self._values]

    def update(self) -> None:
        """Move the average towards the current weights (call after each optimizer step)."""
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        with torch.no_grad():
            torch._foreach_lerp_(self.shadow, self._values, 1.0 - d)
        self.updates += 1

    @contextmanager
    def swapped(self):
        """Within the block the model holds the averaged weights; the online ones come back after
        (also when the block raises)."""
        online = [v.clone() for v in self._values]
        torch._foreach_copy_(self._values, self.shadow)
        try:
            yield
        finally:
            torch._foreach_copy_(self._values, online)

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """The averaged parameters by name (copies)."""
        return {n: s.clone() for n, s in zip(self.names, self.shadow)}

    def load_state_tensors(self, tensors: dict[str, torch.Tensor], updates: int) -> None:
        missing = [n for n in self.names if n not in tensors]
        if missing:
            raise KeyError(f"the checkpoint has no average for {', '.join(missing)}")
        with torch.no_grad():
            for n, s in zip(self.names, self.shadow):
                s.copy_(tensors[n])
        self.updates = int(updates)
