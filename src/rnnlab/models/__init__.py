"""Models built on the recurrent modules of :mod:`rnnlab.nn`."""
