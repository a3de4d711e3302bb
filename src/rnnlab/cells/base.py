"""What every cell provides, and the helpers cells share.

Dimension letters (project-wide): T time, B batch, D input, H hidden, G gates (the input projection of
a cell is ``G * H`` wide).

A cell is the *equations* of one recurrent unit, written once over an array namespace ``xp``
(:mod:`rnnlab.ops`) so that NumPy and torch both run them:

- ``project_input(xp, P, X)``: the input part of every pre-activation, for all time steps at once
  (one GEMM, hoisted out of the time loop). ``X: (N, D) -> (XG, aux)`` with ``XG: (N, Gx)``,
  ``N = T * B``, and ``aux`` whatever the cell needs back in ``param_grads`` (usually None).
- ``step(xp, P, xg, state, rmask)``: one time step. ``xg: (B, Gx)`` is this step's row of ``XG``;
  ``state`` is ``(h,)`` or ``(h, c)``; ``rmask: (B, H)`` is an optional recurrent-dropout mask applied
  to ``h_{t-1}`` where it enters a recurrent matmul. Returns ``(state, cache)``.
- ``step_backward(xp, P, cache, dstate)``: the hand-derived backward of ``step``. Returns
  ``(dstate_prev, keep)``; ``keep`` holds per-step gradients (``(B, .)``) that the cell wants
  back, stacked over time, to form its parameter gradients after the loop. A cell that declares
  their widths (:meth:`Cell.kept_widths`) is also passed ``keep=``: this step's rows of buffers the
  loop allocated for the whole sequence, which it fills in place (no per-step concatenation and no
  stacking after the loop, which cost a copy of every kept gradient).
- ``loop_params(xp, P)``: ``P`` with whatever the step functions want precomputed once per
  sequence rather than once per step (e.g. the rows of a peephole matrix).
- ``param_grads(xp, P, X, aux, trace)``: every parameter gradient and ``dX``, as a few large GEMMs
  and reductions over the whole sequence (``trace`` stacks cache fields and kept gradients over
  time). Returns ``(dP, dX)``.

``P`` holds the parameters under their *equation* names, in textbook right-multiplication layout
(``W_xh: (D, Gx)``, ``W_hh: (H, G * H)``), which are views of the stored torch.nn layout
(``weight_ih: (Gx, D)``...). :meth:`Cell.equation_params` and :meth:`Cell.stored_grads` convert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

# Stored (torch.nn) name -> equation name. Weights are transposed on the way in and out.
_WEIGHTS = {"weight_ih": "W_xh", "weight_hh": "W_hh"}
_BIASES = {"bias_ih": "b_xh", "bias_hh": "b_hh"}


@dataclass(frozen=True)
class ParamSpec:
    """One stored parameter of a cell: its torch.nn-style name, shape and initialiser."""

    name: str
    shape: tuple[int, ...]
    init: str = "uniform"  # "uniform" (+-1/sqrt(H), as torch.nn), "zeros", "ones"


class Cell:
    """Base class of all cells. Subclasses define the equations; see the module docstring."""

    #: short name used in configs, reports and benchmark tables
    kind: ClassVar[str] = ""
    #: names of the state tensors, in order (``("h",)`` or ``("h", "c")``)
    states: ClassVar[tuple[str, ...]] = ("h",)
    #: the recurrent gates multiple G: weight_hh is ``(G * H, H)``
    gates: ClassVar[int] = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        if input_size <= 0 or hidden_size <= 0:
            raise ValueError(
                f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}"
            )
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.bias = bool(bias)

    # ----------------------------------------------------------------- parameters
    @property
    def input_width(self) -> int:
        """Gx: width of the input projection (``G * H`` for most cells)."""
        return self.gates * self.hidden_size

    def param_specs(self) -> list[ParamSpec]:
        """Stored parameters in torch.nn order: weight_ih, weight_hh, bias_ih, bias_hh, extras."""
        H, D = self.hidden_size, self.input_size
        specs = [
            ParamSpec("weight_ih", (self.input_width, D)),
            ParamSpec("weight_hh", (self.gates * H, H)),
        ]
        if self.bias:
            specs += [
                ParamSpec("bias_ih", (self.input_width,)),
                ParamSpec("bias_hh", (self.gates * H,)),
            ]
        return specs + self.extra_param_specs()

    def extra_param_specs(self) -> list[ParamSpec]:
        """Variant parameters (peepholes, layer-norm gains...). None by default."""
        return []

    def init_params(
        self, rng: np.random.Generator, dtype=np.float64, recurrent_init: str = "uniform"
    ) -> dict[str, np.ndarray]:
        """Fresh parameters as NumPy arrays (stored names), initialised like torch.nn.

        Every weight and bias is drawn from ``U(-1/sqrt(H), 1/sqrt(H))``; with
        ``recurrent_init="orthogonal"`` each ``(H, H)`` gate block of ``weight_hh`` is then a random
        orthogonal matrix (:func:`orthogonal`); variants then adjust (:meth:`adjust_init`), e.g. the
        forget-gate bias.
        """
        check_recurrent_init(recurrent_init)
        k = 1.0 / math.sqrt(self.hidden_size)
        params = {}
        for spec in self.param_specs():
            if spec.init == "uniform":
                params[spec.name] = rng.uniform(-k, k, size=spec.shape).astype(dtype)
            elif spec.init == "zeros":
                params[spec.name] = np.zeros(spec.shape, dtype=dtype)
            elif spec.init == "ones":
                params[spec.name] = np.ones(spec.shape, dtype=dtype)
            else:  # pragma: no cover - a programming error in a cell definition
                raise ValueError(f"unknown init {spec.init!r}")
        if recurrent_init == "orthogonal":
            W = params["weight_hh"]  # (G*H, H): one block per gate
            for g in range(W.shape[0] // self.hidden_size):
                rows = slice(g * self.hidden_size, (g + 1) * self.hidden_size)
                W[rows] = orthogonal(rng, self.hidden_size).astype(dtype)
        self.adjust_init(params)
        return params

    def adjust_init(self, params: dict[str, Any]) -> None:
        """Variant-specific changes to a fresh initialisation (in place). Nothing by default."""

    @staticmethod
    def equation_params(stored: dict[str, Any]) -> dict[str, Any]:
        """Stored (torch.nn layout) parameters -> equation names and layout (views, no copies)."""
        P = {}
        for name, value in stored.items():
            if name in _WEIGHTS:
                P[_WEIGHTS[name]] = value.T
            else:
                P[_BIASES.get(name, name)] = value
        return P

    @staticmethod
    def stored_grads(dP: dict[str, Any]) -> dict[str, Any]:
        """Inverse of :meth:`equation_params` for gradients."""
        inv_w = {v: k for k, v in _WEIGHTS.items()}
        inv_b = {v: k for k, v in _BIASES.items()}
        out = {}
        for name, value in dP.items():
            if name in inv_w:
                out[inv_w[name]] = value.T
            else:
                out[inv_b.get(name, name)] = value
        return out

    # ----------------------------------------------------------------- equations
    def project_input(self, xp, P, X):
        """``X: (N, D) -> (XG: (N, Gx), aux)``: ``X @ W_xh + b_xh`` (the hoisted input GEMM)."""
        return linear(xp, X, P["W_xh"], P.get("b_xh")), None

    def step(self, xp, P, xg, state, rmask=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def step_backward(self, xp, P, cache, dstate):  # pragma: no cover - abstract
        raise NotImplementedError

    def param_grads(self, xp, P, X, aux, trace):  # pragma: no cover - abstract
        raise NotImplementedError

    def kept_widths(self) -> dict[str, int]:
        """Name -> width of each per-step gradient ``step_backward`` keeps, when it can write
        them into rows passed as ``keep=`` (see the module docstring). Empty by default: the
        loop then stacks what ``step_backward`` returns."""
        return {}

    def loop_params(self, xp, P):
        """``P`` plus values the step functions use every step, computed once per sequence."""
        return P

    def input_grads(self, xp, P, X, dXG, need_dx=True):
        """Gradients of the input projection: ``(dW_xh, db_xh, dX)`` from ``dXG: (N, Gx)``
        (``dX`` is None when ``need_dx`` is False)."""
        dW = outer_sum(xp, X, dXG)  # (D, Gx)
        dX = xp.matmul(dXG, xp.T(P["W_xh"])) if need_dx else None  # (N, D)
        db = xp.sum0(dXG) if "b_xh" in P else None
        return dW, db, dX

    def gated_grads(self, xp, P, X, trace, da="da", operand="hr", folded_bias=False):
        """Gradients of the common shape ``a_t = x_t W_xh + b_xh + h~_t W_hh + b_hh``.

        ``da`` names the kept per-step gradient of ``a`` and ``operand`` the cache field holding
        ``h~``. ``folded_bias``: both biases were added in the input projection (their gradients
        are equal). Returns ``(dP, dX)`` with ``dW_xh``, ``dW_hh`` and the biases.
        """
        dA = trace.flat_kept(da)  # (N, G*H)
        dW_xh, db, dX = self.input_grads(xp, P, X, dA, trace.need_dx)
        dP = {"W_xh": dW_xh, "W_hh": outer_sum(xp, trace.flat_cache(operand), dA)}
        if db is not None:
            dP["b_xh"] = db
            dP["b_hh"] = xp.copy(db) if folded_bias else db
        return dP, dX

    def zero_state(self, xp, batch: int, like) -> tuple:
        """Initial state of zeros: one ``(B, H)`` array per entry of :attr:`states`."""
        return tuple(xp.zeros((batch, self.hidden_size), like) for _ in self.states)

    def describe(self) -> str:
        """A one-line human description (used in reports and errors)."""
        return f"{self.kind}(D={self.input_size}, H={self.hidden_size})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.input_size}, {self.hidden_size}, bias={self.bias})"


def linear(xp, x, W, b=None):
    """``x @ W + b`` with an optional bias (``x: (N, I)``, ``W: (I, O)``, ``b: (O,)``)."""
    if b is None:
        return xp.matmul(x, W)
    return xp.addmm(b, x, W)


class Trace:
    """Per-step caches and kept gradients of one sequence, stacked over time on request.

    ``trace.cache("h_prev")`` is ``(T, B, .)`` in *time order* (t = 0..T-1), whatever direction the
    loop ran; ``trace.kept("da")`` likewise for the per-step gradients ``step_backward`` kept.
    """

    def __init__(
        self, xp, caches: list, kept: list[dict], need_dx: bool = True, stacked: dict | None = None
    ):
        self.xp = xp
        #: False when nobody needs the input gradient (the engine then skips that GEMM)
        self.need_dx = need_dx
        self._caches = caches
        self._kept = kept
        # Kept gradients the loop wrote straight into (T, B, .) buffers: already stacked.
        self._memo: dict[tuple[str, str], Any] = {
            ("kept", k): v for k, v in (stacked or {}).items()
        }

    def cache(self, field: str):
        key = ("cache", field)
        if key not in self._memo:
            self._memo[key] = self.xp.stack([getattr(c, field) for c in self._caches])
        return self._memo[key]

    def kept(self, name: str):
        key = ("kept", name)
        if key not in self._memo:
            self._memo[key] = self.xp.stack([k[name] for k in self._kept])
        return self._memo[key]

    def kept_steps(self) -> list[dict]:
        """The kept per-step gradient dicts, in time order (for cells that sum them themselves)."""
        return list(self._kept)

    def flat_cache(self, field: str):
        """``cache(field)`` as ``(T * B, .)``."""
        x = self.cache(field)
        return x.reshape(-1, x.shape[-1])

    def flat_kept(self, name: str):
        x = self.kept(name)
        return x.reshape(-1, x.shape[-1])


def outer_sum(xp, a, b):
    """``sum_n a[n]^T b[n]``: ``(N, I), (N, O) -> (I, O)``, one GEMM over all N rows.

    Computed as ``(b^T a)^T`` so the result is the transpose of a contiguous ``(O, I)`` array: the
    stored torch.nn layout of a weight gradient, which autograd then accumulates without a copy.
    """
    return xp.T(xp.matmul(xp.T(b), a))


__all__ = ["Cell", "ParamSpec", "Trace", "linear", "outer_sum"]


def check_chrono(chrono, bias: bool) -> int:
    """Validate a cell's ``chrono=`` argument (0: off, else the longest dependency in steps)."""
    if isinstance(chrono, bool) or not isinstance(chrono, int) or chrono < 0 or chrono in (1, 2):
        raise ValueError(f"chrono must be 0 (off) or an integer >= 3 (steps), got {chrono!r}")
    if chrono and not bias:
        raise ValueError("chrono initialises the gate biases: it needs bias=True")
    return chrono


def check_flag(name: str, value) -> bool:
    """A switch such as ``peephole=``: True/False (or 1/0), never a string, whose truth would turn
    the option on even for ``"false"``."""
    if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
        return bool(value)
    raise ValueError(f"{name} must be true or false, got {value!r}")


#: the initialisations of ``weight_hh`` a stack can ask for
RECURRENT_INITS = ("uniform", "orthogonal")


def check_recurrent_init(name: str) -> str:
    if name not in RECURRENT_INITS:
        raise ValueError(f"unknown recurrent_init {name!r}; valid: {', '.join(RECURRENT_INITS)}")
    return name


def orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random ``(n, n)`` orthogonal matrix, uniform over the orthogonal group (Haar): ``Q`` of the
    QR decomposition of a Gaussian matrix with the signs of ``diag(R)`` moved into ``Q``
    (Mezzadri 2007), the construction ``torch.nn.init.orthogonal_`` uses."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


def chrono_bias(hidden_size: int, t_max: int) -> np.ndarray:
    """Chrono initialisation of a keep gate's bias (Tallec & Ollivier 2018): ``log u`` with ``u``
    spread over ``[1, t_max - 1]``, so that the units start with characteristic times
    ``1 / (1 - sigmoid(log u)) = 1 + u`` from 2 steps up to about ``t_max``.

    The paper draws ``u ~ U(1, t_max - 1)``; here ``u`` are that distribution's ``H`` mid-quantiles
    ``1 + (t_max - 2) (j + 1/2) / H`` (the same spread, no random draws), so that the NumPy and
    torch initialisations need no shared random generator and agree exactly. Returns ``(H,)``.
    """
    if t_max < 3:
        raise ValueError(f"chrono needs t_max >= 3 (the longest dependency in steps), got {t_max}")
    u = 1.0 + (t_max - 2) * (np.arange(hidden_size) + 0.5) / hidden_size
    return np.log(u)


def assign(param, rows: slice, values) -> None:
    """``param[rows] = values`` for a NumPy array or a torch tensor (values: array or scalar)."""
    if isinstance(param, np.ndarray):
        param[rows] = values
    else:  # torch, without importing it here (the reference engine stays pure NumPy)
        param[rows] = param.new_tensor(np.asarray(values, dtype=np.float64))
