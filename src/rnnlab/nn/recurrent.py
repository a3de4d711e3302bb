"""Recurrent layers with torch.nn's signature, state-dict names and behaviour, over four engines.

Dimension letters: T time, B batch, D input, H hidden, L layers, K directions (1 or 2).

``rnnlab.LSTM``, ``rnnlab.GRU``, ``rnnlab.RNN`` and ``rnnlab.Recurrent(cell=...)`` take torch.nn's
arguments (``input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional``) plus
the variant arguments of their cell, and ``forward(input, hx=None)`` returns what torch.nn returns:
``(output, (h_n, c_n))`` for the LSTM, ``(output, h_n)`` otherwise. ``input`` may be a padded tensor,
an unbatched ``(T, D)`` tensor or a ``PackedSequence``.

Engines (``engine=`` at construction, or set ``module.engine`` later):

- ``"builtin"``: torch's own kernel (oneDNN on CPU, cuDNN on GPU), for the variants torch has
  (LSTM, GRU with ``reset="after"``, tanh/relu RNN; no recurrent dropout while training).
- ``"fused"``: :mod:`rnnlab.nn.fused`, the hand-written BPTT inside one autograd node per layer.
- ``"autograd"``: the cells' ``step`` under torch autograd: slow and simple, the tests' oracle.
- ``"reference"``: the NumPy engine bridged into torch.
- ``"auto"`` (default): builtin where torch has the variant, else fused.

Padding never changes state: with a ``PackedSequence`` every engine stops each sequence at its own
length (non-builtin engines run the padded batch under a mask), and the padded outputs are zero.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnlab.cells import cell_kinds
from rnnlab.cells.base import check_recurrent_init
from rnnlab.nn.bridge import ReferenceStack
from rnnlab.nn.fused import autograd_layer, fused_layer
from rnnlab.reference.stack import StackSpec

ENGINES = ("auto", "builtin", "fused", "autograd", "reference")


class Recurrent(nn.Module):
    """A stack of recurrent layers of any cell (see :func:`rnnlab.cells.make_cell`).

    Args:
        cell: ``"rnn"``, ``"lstm"``, ``"gru"``, ``"mut1"``, ``"mut2"`` or ``"mut3"``.
        input_size: D.
        hidden_size: H.
        num_layers: L; layer ``l + 1`` reads layer ``l``'s output sequence.
        bias: learn ``bias_ih`` and ``bias_hh``.
        batch_first: input and output are ``(B, T, .)`` instead of ``(T, B, .)``.
        dropout: dropout on the outputs of every layer but the last (as torch.nn).
        bidirectional: K = 2; outputs of both directions are concatenated, ``(T, B, 2H)``.
        engine: one of ``auto, builtin, fused, autograd, reference``.
        recurrent_dropout: variational dropout of ``h_{t-1}`` where it enters the recurrent
            matmuls (Gal & Ghahramani 2016): one mask per sequence, the same at every step.
        recurrent_init: ``"uniform"`` (torch.nn's ``U(-1/sqrt(H), 1/sqrt(H))``) or
            ``"orthogonal"``: each ``(H, H)`` gate block of ``weight_hh`` a random orthogonal
            matrix (Saxe et al. 2014; Keras's default ``recurrent_initializer``), so that at the
            start ``h_{t-1} -> W_hh h_{t-1}`` keeps the norm instead of shrinking it (the uniform
            init's block has spectral radius about ``1/sqrt(3)``). Biases and the input weights
            keep torch.nn's init either way.
        **variant: the cell's own arguments (``peephole``, ``forget_bias``, ``layer_norm``,
            ``reset``, ``nonlinearity``).
    """

    def __init__(
        self,
        cell: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        device=None,
        dtype=None,
        *,
        engine: str = "auto",
        recurrent_dropout: float = 0.0,
        recurrent_init: str = "uniform",
        **variant,
    ):
        super().__init__()
        if cell not in cell_kinds():
            raise ValueError(f"unknown cell {cell!r}; valid cells: {', '.join(cell_kinds())}")
        for name, value in (
            ("input_size", input_size),
            ("hidden_size", hidden_size),
            ("num_layers", num_layers),
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be a number in [0, 1), got {p!r}")
        for name, flag in (
            ("bias", bias),
            ("batch_first", batch_first),
            ("bidirectional", bidirectional),
        ):
            if not isinstance(flag, bool):
                raise TypeError(f"{name} must be True or False, got {flag!r}")
        if dropout > 0 and num_layers == 1:
            # torch.nn's warning: dropout acts between layers only
            warnings.warn(
                f"dropout={dropout} with num_layers=1 does nothing: dropout is applied to the "
                "outputs of every layer but the last (use recurrent_dropout for one layer)",
                stacklevel=2,
            )
        self.recurrent_init = check_recurrent_init(recurrent_init)
        self.cell_kind = cell
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout, self.recurrent_dropout = float(dropout), float(recurrent_dropout)
        self.variant = dict(variant)
        self.spec = StackSpec(
            cell, input_size, hidden_size, num_layers, bidirectional, bias, self.variant
        )
        self._cells = self.spec.cells()  # validates the variant arguments
        self._names = [[s.name for s in c.param_specs()] for c in self._cells]
        self.engine = engine
        factory = {"device": device, "dtype": dtype}
        for layer, c in enumerate(self._cells):
            for k in range(self.directions):
                for spec in c.param_specs():
                    self.register_parameter(
                        spec.name + StackSpec.suffix(layer, k),
                        nn.Parameter(torch.empty(spec.shape, **factory)),
                    )
        self.reset_parameters()

    # ------------------------------------------------------------------ properties
    @property
    def mode(self) -> str:
        """torch.nn's name of the recurrence (``"LSTM"``, ``"GRU"``, ``"RNN_TANH"``,
        ``"RNN_RELU"``); other cells give their kind in capitals (``"MUT1"``)."""
        if self.cell_kind == "rnn":
            return "RNN_" + self.variant.get("nonlinearity", "tanh").upper()
        return self.cell_kind.upper()

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def n_states(self) -> int:
        return len(self._cells[0].states)

    @property
    def engine(self) -> str:
        return self._engine

    @engine.setter
    def engine(self, value: str) -> None:
        if value not in ENGINES:
            raise ValueError(f"unknown engine {value!r}; valid engines: {', '.join(ENGINES)}")
        if value == "builtin" and not self.has_builtin:
            raise ValueError(
                f"engine='builtin': torch has no kernel for {self._cells[0].describe()}"
                " (it has the standard LSTM, GRU with reset='after' and tanh/relu RNN); "
                "use engine='fused' or 'auto'"
            )
        if value == "reference" and getattr(self._cells[0], "user_backward", True) is None:
            raise ValueError(
                f"engine='reference': cell {self.cell_kind!r} was defined without step_backward, "
                "so only the torch engines (fused, autograd) can run it"
            )
        self._engine = value

    @property
    def has_builtin(self) -> bool:
        """True when torch has a kernel for exactly this cell variant."""
        v = self.variant
        if self.cell_kind == "lstm":
            return not v.get("peephole") and not v.get("layer_norm")
        if self.cell_kind == "gru":
            return v.get("reset", "after") == "after"
        return self.cell_kind == "rnn"

    def resolved_engine(self) -> str:
        """The engine a forward pass would use now (``auto`` resolved)."""
        rec_drop = self.training and self.recurrent_dropout > 0
        if self._engine == "builtin" and rec_drop:
            raise ValueError("recurrent_dropout needs engine='fused', 'autograd' or 'reference'")
        if self._engine != "auto":
            return self._engine
        return "builtin" if self.has_builtin and not rec_drop else "fused"

    def reset_parameters(self) -> None:
        """torch.nn's initialisation (``U(-1/sqrt(H), 1/sqrt(H))``), orthogonal ``(H, H)`` blocks
        of ``weight_hh`` with ``recurrent_init="orthogonal"``, then the cell's own adjustments
        (forget-gate bias, layer-norm gains, zero peepholes)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        H = self.hidden_size
        with torch.no_grad():
            for layer, c in enumerate(self._cells):
                for d in range(self.directions):
                    sfx = StackSpec.suffix(layer, d)
                    params = {s.name: getattr(self, s.name + sfx) for s in c.param_specs()}
                    for s in c.param_specs():
                        p = params[s.name]
                        if s.init == "uniform":
                            p.uniform_(-k, k)
                        elif s.init == "zeros":
                            p.zero_()
                        else:
                            p.fill_(1.0)
                    if self.recurrent_init == "orthogonal":
                        # weight_hh is (G*H, H) for every cell: one orthogonal block per gate
                        for block in params["weight_hh"].split(H):
                            nn.init.orthogonal_(block)
                    c.adjust_init(params)

    def layer_params(self, layer: int, direction: int) -> list[torch.Tensor]:
        sfx = StackSpec.suffix(layer, direction)
        return [getattr(self, n + sfx) for n in self._names[layer]]

    @property
    def all_weights(self) -> list[list[torch.Tensor]]:
        """The parameters per layer and direction, in storage order (as ``torch.nn.LSTM``)."""
        return [
            self.layer_params(layer, d)
            for layer in range(self.num_layers)
            for d in range(self.directions)
        ]

    def flatten_parameters(self) -> None:
        """Nothing to do: kept so that code written for ``torch.nn.LSTM`` (which compacts its
        weights for cuDNN here) runs unchanged."""

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for name, default in (
            ("bias", True),
            ("batch_first", False),
            ("dropout", 0.0),
            ("bidirectional", False),
            ("recurrent_dropout", 0.0),
            ("recurrent_init", "uniform"),
        ):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)!r}"
        for k, v in self.variant.items():
            s += f", {k}={v!r}"
        return s + f", engine={self._engine!r}"

    # ------------------------------------------------------------------ forward
    def forward(self, input, hx=None):
        """Run the stack.

        Args:
            input: ``(T, B, D)`` (``(B, T, D)`` if batch_first), ``(T, D)`` unbatched, or a
                ``PackedSequence``.
            hx: initial state: ``(L*K, B, H)`` (``(h_0, c_0)`` for the LSTM), or None for zeros.

        Returns:
            ``(output, h_n)`` or, for the LSTM, ``(output, (h_n, c_n))``; ``output`` is
            ``(T, B, K*H)`` (or packed, or unbatched, like the input).

        Under ``torch.compile`` the stack runs eagerly, between two compiled graphs, as torch.nn's
        recurrent modules do (dynamo does not trace them either): its engines are whole-sequence
        kernels and ``autograd.Function``s that a graph compiler cannot fuse into.
        """
        if torch.compiler.is_compiling():
            return _eager(type(self)._forward)(self, input, hx)
        return self._forward(input, hx)

    def _forward(self, input, hx=None):
        packed = isinstance(input, PackedSequence)
        engine = self.resolved_engine()
        unbatched = False
        if packed:
            X, lengths = pad_packed_sequence(input)  # (T, B, D), original batch order
            lengths = lengths.tolist()
        else:
            X, lengths = input, None
            if X.dim() == 2:
                unbatched = True
                X = X.unsqueeze(1)
            elif X.dim() != 3:
                raise ValueError(
                    f"input must be 2-D (T, D) or 3-D (T, B, D), got shape {tuple(input.shape)}"
                )
            elif self.batch_first:
                X = X.transpose(0, 1)  # B x T x D -> T x B x D
        if X.shape[-1] != self.input_size:
            raise ValueError(
                f"input has {X.shape[-1]} features, expected input_size={self.input_size}"
            )
        if X.shape[0] == 0:
            raise ValueError("expected a sequence length larger than 0 (the input has T = 0)")
        self._check_dtype(X)
        hx = self._check_hx(hx, X, unbatched)
        if X.shape[1] == 0 and engine != "builtin":  # an empty batch: empty outputs, as torch.nn
            Y = X.new_zeros(X.shape[0], 0, self.directions * self.hidden_size)
            h_n = tuple(h.clone() for h in hx)
        elif engine == "builtin":
            Y, h_n = self._forward_builtin(input if packed else X, hx, packed)
        else:
            Y, h_n = self._forward_loop(engine, X, hx, lengths)
        if packed:
            Y = _repack(Y, input, lengths)
        elif unbatched:
            Y, h_n = Y.squeeze(1), tuple(h.squeeze(1) for h in h_n)
        elif self.batch_first:
            Y = Y.transpose(0, 1)  # T x B x C -> B x T x C
        return (Y, h_n) if self.n_states == 2 else (Y, h_n[0])

    def _check_dtype(self, X):
        if not X.is_floating_point():
            raise ValueError(
                f"input must be a floating-point tensor, got {X.dtype} (token ids go through an "
                "embedding first, e.g. torch.nn.Embedding)"
            )
        weight = next(self.parameters())
        if X.dtype != weight.dtype and not torch.is_autocast_enabled(X.device.type):
            raise ValueError(
                f"input is {X.dtype} but the parameters are {weight.dtype}: convert one of them "
                "(module.to(dtype) or input.to(dtype)), or run under torch.autocast"
            )

    def _check_hx(self, hx, X, unbatched):
        T, B, _ = X.shape
        shape = (self.num_layers * self.directions, B, self.hidden_size)
        if hx is None:
            z = torch.zeros(shape, dtype=X.dtype, device=X.device)
            return (z,) * self.n_states
        if self.n_states == 2:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError("LSTM hx must be a tuple (h_0, c_0)")
            hx = tuple(hx)
        else:
            if not isinstance(hx, torch.Tensor):
                raise ValueError(f"hx must be a tensor of shape {shape}")
            hx = (hx,)
        if unbatched:
            for h in hx:
                if h.dim() != 2:
                    raise ValueError(
                        f"for an unbatched (T, D) input, hx must be 2-D "
                        f"({shape[0]}, {shape[2]}), got shape {tuple(h.shape)}"
                    )
            hx = tuple(h.unsqueeze(1) for h in hx)
        for h in hx:
            if tuple(h.shape) != shape:
                raise ValueError(f"expected hidden state of shape {shape}, got {tuple(h.shape)}")
            if h.dtype != X.dtype and not torch.is_autocast_enabled(X.device.type):
                raise ValueError(
                    f"hx is {h.dtype} but the input is {X.dtype}: give both the same dtype"
                )
        return hx

    def _dropout_masks(self, T, B, like):
        """Masks (scaled by 1/(1-p)) for the outputs of layers 0..L-2, drawn from torch's RNG."""
        if not (self.training and self.dropout > 0 and self.num_layers > 1):
            return None
        keep = 1.0 - self.dropout
        shape = (T, B, self.directions * self.hidden_size)
        return [
            torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(keep) / keep
            for _ in range(self.num_layers - 1)
        ]

    def _recurrent_masks(self, B, like):
        if not (self.training and self.recurrent_dropout > 0):
            return None
        keep = 1.0 - self.recurrent_dropout
        shape = (B, self.hidden_size)
        return [
            [
                torch.empty(shape, dtype=like.dtype, device=like.device).bernoulli_(keep) / keep
                for _ in range(self.directions)
            ]
            for _ in range(self.num_layers)
        ]

    def _forward_loop(self, engine, X, hx, lengths):
        T, B, _ = X.shape
        drops = self._dropout_masks(T, B, X)
        rmasks = self._recurrent_masks(B, X)
        if engine == "reference":
            if X.dtype not in (torch.float16, torch.float32, torch.float64) or X.is_meta:
                raise ValueError(
                    f"the reference engine runs NumPy, which has no {X.dtype} on {X.device}: "
                    "give it float16/32/64 tensors that hold data, or use another engine"
                )
            names = self.spec.all_param_names()
            params = [getattr(self, n) for n in names]
            Y, *h_n = ReferenceStack.apply(
                self.spec, names, lengths, drops, rmasks, X, *hx, *params
            )
            return Y, tuple(h_n)
        run = fused_layer if engine == "fused" else autograd_layer
        mask = None
        if lengths is not None and min(lengths) < T:
            steps = torch.arange(T, device=X.device)[:, None]
            mask = (steps < torch.as_tensor(lengths, device=X.device)[None, :]).to(X.dtype)
            mask = mask[..., None]  # (T, B, 1)
        K = self.directions
        finals = [[] for _ in range(self.n_states)]
        inp = X
        for layer, c in enumerate(self._cells):
            outs = []
            for k in range(K):
                state0 = tuple(h[layer * K + k] for h in hx)
                rm = None if rmasks is None else rmasks[layer][k]
                Y, state = run(
                    c,
                    self._names[layer],
                    self.layer_params(layer, k),
                    inp,
                    state0,
                    mask,
                    bool(k),
                    rm,
                )
                outs.append(Y)
                for j, s in enumerate(state):
                    finals[j].append(s)
            inp = outs[0] if K == 1 else torch.cat(outs, dim=-1)
            if drops is not None and layer < self.num_layers - 1:
                inp = inp * drops[layer]
        return inp, tuple(torch.stack(f) for f in finals)

    def _forward_builtin(self, input, hx, packed):
        flat = [
            p
            for layer in range(self.num_layers)
            for k in range(self.directions)
            for p in self.layer_params(layer, k)
        ]
        args = (flat, self.bias, self.num_layers, self.dropout, self.training, self.bidirectional)
        kind = self.cell_kind
        fn = {"lstm": torch._VF.lstm, "gru": torch._VF.gru}.get(kind)
        if fn is None:
            fn = (
                torch._VF.rnn_tanh
                if self.variant.get("nonlinearity", "tanh") == "tanh"
                else torch._VF.rnn_relu
            )
        if packed:
            idx = input.sorted_indices
            h = tuple(t.index_select(1, idx) for t in hx) if idx is not None else hx
            h = h if kind == "lstm" else h[0]
            out = fn(input.data, input.batch_sizes, h, *args)
            Y, h_n = out[0], out[1:]
            if input.unsorted_indices is not None:
                h_n = tuple(t.index_select(1, input.unsorted_indices) for t in h_n)
            return Y, tuple(h_n)
        h = hx if kind == "lstm" else hx[0]
        out = fn(input, h, *args, False)  # batch_first=False: the input is time-major here
        return out[0], tuple(out[1:])


def _repack(Y, like: PackedSequence, lengths) -> PackedSequence:
    """Pack a padded ``(T, B, C)`` output with exactly the batch order of the input ``like``."""
    if isinstance(Y, PackedSequence):
        return Y
    if not torch.is_tensor(Y):  # pragma: no cover
        raise TypeError(type(Y))
    if Y.dim() == 2:  # builtin engine: already packed data
        return PackedSequence(Y, like.batch_sizes, like.sorted_indices, like.unsorted_indices)
    order = like.sorted_indices
    Ys = Y.index_select(1, order) if order is not None else Y
    lens = torch.as_tensor(lengths)
    lens = lens[order.cpu()] if order is not None else lens
    data = pack_padded_sequence(Ys, lens, enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class RNN(Recurrent):
    """Elman RNN, torch.nn.RNN's signature: ``RNN(input_size, hidden_size, num_layers=1,
    nonlinearity='tanh', bias=True, batch_first=False, dropout=0.0, bidirectional=False)``."""

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        nonlinearity="tanh",
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        device=None,
        dtype=None,
        *,
        engine="auto",
        recurrent_dropout=0.0,
        recurrent_init="uniform",
    ):
        super().__init__(
            "rnn",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device,
            dtype,
            engine=engine,
            recurrent_dropout=recurrent_dropout,
            recurrent_init=recurrent_init,
            nonlinearity=nonlinearity,
        )
        self.nonlinearity = nonlinearity  # as torch.nn.RNN has it


class LSTM(Recurrent):
    """LSTM, torch.nn.LSTM's signature plus ``peephole``, ``forget_bias``, ``chrono`` and
    ``layer_norm`` (see :mod:`rnnlab.cells.lstm`). ``proj_size`` is not supported."""

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        proj_size=0,
        device=None,
        dtype=None,
        *,
        peephole=False,
        forget_bias=0.0,
        chrono=0,
        layer_norm=False,
        engine="auto",
        recurrent_dropout=0.0,
        recurrent_init="uniform",
    ):
        if proj_size:
            raise ValueError("proj_size is not supported by rnnlab.LSTM")
        variant = {"chrono": chrono} if chrono else {}
        # Passed on as given: the cell checks them (a string switch is refused, not truthy).
        if peephole:
            variant["peephole"] = peephole
        if forget_bias:
            variant["forget_bias"] = forget_bias
        if layer_norm:
            variant["layer_norm"] = layer_norm
        super().__init__(
            "lstm",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device,
            dtype,
            engine=engine,
            recurrent_dropout=recurrent_dropout,
            recurrent_init=recurrent_init,
            **variant,
        )
        self.proj_size = 0  # as torch.nn.LSTM has it (projections are not supported)


class GRU(Recurrent):
    """GRU, torch.nn.GRU's signature plus ``reset="after"|"before"`` and ``chrono`` (see
    :mod:`rnnlab.cells.gru`)."""

    def __init__(
        self,
        input_size,
        hidden_size,
        num_layers=1,
        bias=True,
        batch_first=False,
        dropout=0.0,
        bidirectional=False,
        device=None,
        dtype=None,
        *,
        reset="after",
        chrono=0,
        engine="auto",
        recurrent_dropout=0.0,
        recurrent_init="uniform",
    ):
        variant = {"chrono": chrono} if chrono else {}
        super().__init__(
            "gru",
            input_size,
            hidden_size,
            num_layers,
            bias,
            batch_first,
            dropout,
            bidirectional,
            device,
            dtype,
            engine=engine,
            recurrent_dropout=recurrent_dropout,
            recurrent_init=recurrent_init,
            reset=reset,
            **variant,
        )


def _mut(kind):
    class MUT(Recurrent):
        def __init__(
            self,
            input_size,
            hidden_size,
            num_layers=1,
            bias=True,
            batch_first=False,
            dropout=0.0,
            bidirectional=False,
            device=None,
            dtype=None,
            *,
            engine="auto",
            recurrent_dropout=0.0,
            recurrent_init="uniform",
        ):
            super().__init__(
                kind,
                input_size,
                hidden_size,
                num_layers,
                bias,
                batch_first,
                dropout,
                bidirectional,
                device,
                dtype,
                engine=engine,
                recurrent_dropout=recurrent_dropout,
                recurrent_init=recurrent_init,
            )

    MUT.__name__ = MUT.__qualname__ = kind.upper()
    MUT.__doc__ = f"{kind.upper()} of Jozefowicz et al. 2015 (see :mod:`rnnlab.cells.mut`)."
    return MUT


MUT1, MUT2, MUT3 = _mut("mut1"), _mut("mut2"), _mut("mut3")


_EAGER: dict = {}


def _eager(fn):
    """``fn`` wrapped by ``torch.compiler.disable`` (built on first use: the wrapper imports
    dynamo, which an eager-only user never needs)."""
    if fn not in _EAGER:
        _EAGER[fn] = torch.compiler.disable(fn)
    return _EAGER[fn]
