"""Diagnostics: gradient flow, sanity checks, learning-rate range test, reading learning curves."""
