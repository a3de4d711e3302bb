"""The torch engine: recurrent modules with torch.nn's interface (see :mod:`rnnlab.nn.recurrent`)."""

from rnnlab.nn.recurrent import ENGINES, GRU, LSTM, MUT1, MUT2, MUT3, RNN, Recurrent

__all__ = ["ENGINES", "GRU", "LSTM", "MUT1", "MUT2", "MUT3", "RNN", "Recurrent"]
