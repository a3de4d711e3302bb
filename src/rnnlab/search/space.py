"""The search space file: which config keys to search, over what, on which scale.

A space file is TOML whose tables mirror the config: a table with ``low``/``high`` or ``choices``
is a parameter, named by its dotted config key (the same key ``--set`` takes)::

    [search]                 # optional settings
    metric = "loss"          # a key of the validation metrics (default: the loss)
    direction = "minimize"   # or "maximize" (required for a metric other than the loss)
    grid_points = 3          # values per range for --sampler grid

    [train.lr]
    scale = "log"            # log-uniform: learning rates and weight decay (the sources' advice)
    low = 1e-4
    high = 3e-2

    [model.dropout]
    scale = "linear"         # uniform: dropout, sizes
    low = 0.0
    high = 0.5

    [model.hidden_size]
    scale = "linear"
    low = 32                 # integers (all of low, high, step) make an integer parameter
    high = 128
    step = 32

    [model.cell]
    choices = ["lstm", "gru"]

Every range must say its ``scale``: the choice between log and linear is the point of the lecture's
advice, so it is never left to a default.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnnlab.config import read_toml
from rnnlab.errors import ConfigError

_PARAM_KEYS = {"low", "high", "scale", "step", "choices"}
_SEARCH_KEYS = {"metric", "direction", "grid_points"}


@dataclass(frozen=True)
class Param:
    """One searched config key.

    Attributes:
        name: the dotted config key, e.g. ``train.lr``.
        low, high: the range (inclusive) for numbers.
        scale: ``log`` or ``linear`` for ranges.
        step: the spacing of an integer range (None: 1).
        choices: the values of a categorical parameter (then no range).
    """

    name: str
    low: float | int | None = None
    high: float | int | None = None
    scale: str | None = None
    step: int | None = None
    choices: tuple | None = None

    @property
    def kind(self) -> str:
        """``categorical``, ``int`` or ``float``."""
        if self.choices is not None:
            return "categorical"
        ints = all(isinstance(v, int) for v in (self.low, self.high))
        return "int" if ints and (self.step is None or isinstance(self.step, int)) else "float"

    @property
    def log(self) -> bool:
        return self.scale == "log"

    def suggest(self, trial):
        """The value of this parameter for an optuna ``trial``."""
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.kind == "int":
            return trial.suggest_int(
                self.name, self.low, self.high, step=self.step or 1, log=self.log
            )
        return trial.suggest_float(self.name, self.low, self.high, log=self.log)

    def grid(self, points: int) -> list:
        """The values a grid search tries: every choice; ``points`` values spaced on the
        parameter's scale over ``[low, high]`` (ends included; integers rounded, duplicates
        dropped; an integer range with a step gives at most ``points`` of its values)."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int":
            values = np.arange(self.low, self.high + 1, self.step or 1)
            if len(values) <= points:
                return [int(v) for v in values]
            if self.log:
                picks = np.geomspace(self.low, self.high, points)
            else:
                picks = np.linspace(self.low, self.high, points)
            # the allowed value nearest each pick
            out = []
            for p in picks:
                v = int(values[np.argmin(np.abs(values - p))])
                if v not in out:
                    out.append(v)
            return out
        if points == 1:
            mid = math.sqrt(self.low * self.high) if self.log else (self.low + self.high) / 2
            return [mid]
        raw = (
            np.geomspace(self.low, self.high, points)
            if self.log
            else np.linspace(self.low, self.high, points)
        )
        # 4 significant digits keep the configs readable; clamp so rounding stays in range
        return [min(self.high, max(self.low, float(f"{v:.4g}"))) for v in raw]

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.name}: one of {list(self.choices)}"
        step = f" step {self.step}" if self.step else ""
        kind = "integer" if self.kind == "int" else ""
        return f"{self.name}: {self.scale} {kind}[{self.low:g}, {self.high:g}]{step}".replace(
            "  ", " "
        )

    def to_dict(self) -> dict:
        d = {"scale": self.scale, "low": self.low, "high": self.high, "step": self.step}
        if self.choices is not None:
            d = {"choices": list(self.choices)}
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class SearchSpace:
    """The parameters and what to optimise.

    Attributes:
        params: by dotted config key.
        metric: the validation metric the study optimises (``loss`` by default).
        direction: ``minimize`` or ``maximize``.
        grid_points: values per range for the grid sampler.
    """

    params: dict[str, Param] = field(default_factory=dict)
    metric: str = "loss"
    direction: str = "minimize"
    grid_points: int = 3

    def grid(self) -> dict[str, list]:
        """The grid sampler's search space: every parameter's grid values."""
        return {name: p.grid(self.grid_points) for name, p in self.params.items()}

    def grid_size(self) -> int:
        return int(np.prod([len(v) for v in self.grid().values()]))

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "direction": self.direction,
            "grid_points": self.grid_points,
            "params": {k: p.to_dict() for k, p in self.params.items()},
        }

    def digest(self) -> str:
        """A short hash of the space (a resumed study must search the same one)."""
        text = json.dumps(self.to_dict(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def extremes(self) -> list[dict[str, object]]:
        """Assignments that between them put every range at its low and its high and use every
        choice of a categorical parameter: the configs built from them catch misspelt keys and
        invalid values up front (all parameters low, all high, then each middle choice with the
        rest low)."""
        lo = {n: (p.choices[0] if p.choices else p.low) for n, p in self.params.items()}
        hi = {n: (p.choices[-1] if p.choices else p.high) for n, p in self.params.items()}
        middle = [{**lo, n: c} for n, p in self.params.items() for c in (p.choices or [])[1:-1]]
        return [lo, hi, *middle]


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _param(name: str, spec: dict, where: str) -> Param:
    unknown = sorted(set(spec) - _PARAM_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: [{name}] has unknown keys {unknown}; a parameter takes "
            f"{', '.join(sorted(_PARAM_KEYS))}"
        )
    if "choices" in spec:
        extra = sorted(set(spec) - {"choices"})
        if extra:
            raise ConfigError(f"{where}: [{name}] has choices, so {extra} make no sense")
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise ConfigError(f"{where}: {name}.choices must be a non-empty list")
        if not all(isinstance(c, (str, int, float, bool)) for c in choices):
            raise ConfigError(f"{where}: {name}.choices may hold strings, numbers or booleans")
        return Param(name, choices=tuple(choices))
    for k in ("low", "high"):
        if k not in spec:
            raise ConfigError(f"{where}: [{name}] needs low and high (or choices)")
        if not _number(spec[k]):
            raise ConfigError(f"{where}: {name}.{k} = {spec[k]!r} is not a finite number")
    low, high = spec["low"], spec["high"]
    if "scale" not in spec:
        raise ConfigError(
            f'{where}: [{name}] needs scale = "log" or "linear" (log-uniform for learning '
            "rates and weight decay, linear for dropout and sizes)"
        )
    scale = spec["scale"]
    if scale not in ("log", "linear"):
        raise ConfigError(f'{where}: {name}.scale = {scale!r}: expected "log" or "linear"')
    if not low < high:
        raise ConfigError(f"{where}: [{name}] needs low < high, got {low} and {high}")
    if scale == "log" and low <= 0:
        raise ConfigError(
            f"{where}: [{name}] is on a log scale, so low must be > 0 (got {low}); to include "
            "0, search choices or a linear range"
        )
    step = spec.get("step")
    if step is not None:
        if not isinstance(step, int) or isinstance(step, bool) or step < 1:
            raise ConfigError(f"{where}: {name}.step must be a positive integer")
        if not (isinstance(low, int) and isinstance(high, int)):
            raise ConfigError(f"{where}: [{name}] has a step, so low and high must be integers")
        if scale == "log" and step != 1:
            raise ConfigError(f"{where}: [{name}]: a log-scale integer range cannot have a step")
    return Param(name, low, high, scale, step)


def parse_space(raw: dict, where: str = "space") -> SearchSpace:
    """A :class:`SearchSpace` from a parsed space file."""
    space = SearchSpace()
    settings = raw.get("search", {})
    if not isinstance(settings, dict):
        raise ConfigError(f"{where}: [search] must be a table")
    unknown = sorted(set(settings) - _SEARCH_KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown keys {unknown} in [search]; valid: {', '.join(sorted(_SEARCH_KEYS))}"
        )
    space.metric = settings.get("metric", "loss")
    if not isinstance(space.metric, str) or not space.metric:
        raise ConfigError(f'{where}: search.metric must be a metric name, e.g. "loss"')
    if "direction" in settings:
        space.direction = settings["direction"]
        if space.direction not in ("minimize", "maximize"):
            raise ConfigError(f'{where}: search.direction must be "minimize" or "maximize"')
    elif space.metric != "loss":
        raise ConfigError(
            f'{where}: say search.direction = "minimize" or "maximize" for metric '
            f"{space.metric!r} (only the loss is known to be minimised)"
        )
    space.grid_points = settings.get("grid_points", 3)
    if not isinstance(space.grid_points, int) or space.grid_points < 1:
        raise ConfigError(f"{where}: search.grid_points must be an integer >= 1")

    def walk(table: dict, prefix: str) -> None:
        for key, value in table.items():
            name = f"{prefix}.{key}" if prefix else key
            if not isinstance(value, dict):
                raise ConfigError(
                    f"{where}: {name} = {value!r}: a parameter is a table with low/high/scale or "
                    f'choices, e.g. [{name}] scale = "log" low = 1e-4 high = 1e-2'
                )
            if set(value) & _PARAM_KEYS:
                space.params[name] = _param(name, value, where)
            else:
                walk(value, name)

    walk({k: v for k, v in raw.items() if k != "search"}, "")
    if not space.params:
        raise ConfigError(f"{where}: no parameters to search (add e.g. a [train.lr] table)")
    return space


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a space file."""
    return parse_space(read_toml(path), str(path))
