"""Hyperparameter search (grid, random, TPE) on optuna."""
