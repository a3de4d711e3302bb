"""Reproductions of published results: ``rnnlab experiment NAME``.

``EXPERIMENTS`` maps a name to the module implementing it; each module defines ``DESCRIPTION``
(one line), ``add_arguments(parser)`` and ``run(args) -> int``.
"""

EXPERIMENTS = {
    "language-models": "rnnlab.experiments.language_models",
    "chung2014": "rnnlab.experiments.chung2014",
    "long-term": "rnnlab.experiments.long_term",
    "grid-vs-random": "rnnlab.experiments.grid_vs_random",
    "translation": "rnnlab.experiments.translation",
}
