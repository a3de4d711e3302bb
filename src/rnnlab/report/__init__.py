"""Figures (matplotlib) and self-contained HTML reports of runs."""
