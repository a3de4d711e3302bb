"""rnnlab: recurrent sequence models, exact and fast.

The torch modules (``rnnlab.LSTM`` and friends) are imported lazily so that
``import rnnlab.reference`` stays pure NumPy.
"""

from __future__ import annotations

__version__ = "0.1.0"

_TORCH_EXPORTS = {"RNN", "LSTM", "GRU", "Recurrent", "MUT1", "MUT2", "MUT3"}


def __getattr__(name):
    if name in _TORCH_EXPORTS:
        from rnnlab import nn

        return getattr(nn, name)
    raise AttributeError(f"module 'rnnlab' has no attribute {name!r}")


__all__ = ["GRU", "LSTM", "MUT1", "MUT2", "MUT3", "RNN", "Recurrent", "__version__"]
