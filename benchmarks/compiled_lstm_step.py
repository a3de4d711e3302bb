"""What a compiled step kernel would buy: the standard LSTM's per-step elementwise work in one C++
call forward and one backward, the GEMMs still torch's, timed against torch.nn.LSTM, rnnlab's
fused engine and the minimal eager loop (docs/performance.md, "A compiled step kernel": measured
to inform the decision issue 2 asks for; not adopted, because the package stays pure Python and
the fused backward is the cells' shared ``step_backward``).

The loop is the minimal loop's (``minimal_lstm_loop.py``): the input projection of all steps in
one GEMM, weight gradients as single GEMMs after the backward loop. Per step it issues one
``addmm_`` and one compiled call forward (the four gate activations, ``c``, ``tanh(c)``, ``h``),
and one ``addmm`` and one compiled call backward (the four gate gradients and the cell-state
carry). That is as close to oneDNN's fused kernel as a Python loop over torch's GEMMs can come: it
measures the cost of the GEMMs plus one call per step, with no Python elementwise operations.

Needs a C++ compiler and ninja (``torch.utils.cpp_extension.load_inline``; compiled once into
torch's extension cache, about a minute). It first checks outputs and gradients against
torch.nn.LSTM in float64, then times the contenders in alternating blocks.

    python benchmarks/compiled_lstm_step.py [--size 35x20x200x200] [--rounds 10] [--packed]

``--packed`` adds the compiled step with its per-step GEMMs on oneDNN's pre-packed ``W_hh``.
"""

from __future__ import annotations

import argparse
import shutil
import sys

import torch
from minimal_lstm_loop import (
    check_gradients,
    compare,
    gradients_after_the_loop,
    keep_for_backward,
    kept_for_backward,
    minimal,
    project_inputs,
)

SOURCE = r"""
#include <torch/extension.h>
#include <cmath>

template <typename T> static inline T sigm(T x) { return T(1) / (T(1) + std::exp(-x)); }

static void check_rows(const torch::Tensor& t, int64_t width) {
  TORCH_CHECK(t.dim() == 2 && t.size(1) == width && t.stride(1) == 1, "expected (B, ", width,
              ") with contiguous rows");
}

// a (B, 4H): pre-activations, replaced by the activations [i, f, g, o]; c_prev, c, tc, h (B, H).
void step_forward(torch::Tensor a, torch::Tensor c_prev, torch::Tensor c, torch::Tensor tc,
                  torch::Tensor h) {
  const int64_t B = a.size(0), H = c.size(1);
  check_rows(a, 4 * H);
  for (auto* t : {&c_prev, &c, &tc, &h}) check_rows(*t, H);
  AT_DISPATCH_FLOATING_TYPES(a.scalar_type(), "step_forward", [&] {
    for (int64_t b = 0; b < B; ++b) {
      scalar_t* A = a.data_ptr<scalar_t>() + b * a.stride(0);
      const scalar_t* cp = c_prev.data_ptr<scalar_t>() + b * c_prev.stride(0);
      scalar_t* C = c.data_ptr<scalar_t>() + b * c.stride(0);
      scalar_t* TC = tc.data_ptr<scalar_t>() + b * tc.stride(0);
      scalar_t* Hr = h.data_ptr<scalar_t>() + b * h.stride(0);
_Pragma("omp simd")
      for (int64_t j = 0; j < H; ++j) {
        const scalar_t i = sigm(A[j]), f = sigm(A[H + j]);
        const scalar_t g = std::tanh(A[2 * H + j]), o = sigm(A[3 * H + j]);
        A[j] = i; A[H + j] = f; A[2 * H + j] = g; A[3 * H + j] = o;
        const scalar_t cn = f * cp[j] + i * g, t = std::tanh(cn);
        C[j] = cn; TC[j] = t; Hr[j] = o * t;
      }
    }
  });
}

// dh (B, H): the whole gradient into h_t; dcf (B, H): dc_{t+1} f_{t+1}, replaced by dc_t f_t;
// act (B, 4H): [i, f, g, o]; c_prev, tc (B, H); da (B, 4H): the pre-activations' gradient.
void step_backward(torch::Tensor dh, torch::Tensor dcf, torch::Tensor act, torch::Tensor c_prev,
                   torch::Tensor tc, torch::Tensor da) {
  const int64_t B = act.size(0), H = dh.size(1);
  check_rows(act, 4 * H);
  check_rows(da, 4 * H);
  for (auto* t : {&dh, &dcf, &c_prev, &tc}) check_rows(*t, H);
  AT_DISPATCH_FLOATING_TYPES(act.scalar_type(), "step_backward", [&] {
    for (int64_t b = 0; b < B; ++b) {
      const scalar_t* A = act.data_ptr<scalar_t>() + b * act.stride(0);
      const scalar_t* DH = dh.data_ptr<scalar_t>() + b * dh.stride(0);
      scalar_t* DCF = dcf.data_ptr<scalar_t>() + b * dcf.stride(0);
      const scalar_t* cp = c_prev.data_ptr<scalar_t>() + b * c_prev.stride(0);
      const scalar_t* TC = tc.data_ptr<scalar_t>() + b * tc.stride(0);
      scalar_t* DA = da.data_ptr<scalar_t>() + b * da.stride(0);
_Pragma("omp simd")
      for (int64_t j = 0; j < H; ++j) {
        const scalar_t i = A[j], f = A[H + j], g = A[2 * H + j], o = A[3 * H + j], t = TC[j];
        const scalar_t dc = DCF[j] + DH[j] * o * (scalar_t(1) - t * t);
        DA[j] = dc * g * i * (scalar_t(1) - i);
        DA[H + j] = dc * cp[j] * f * (scalar_t(1) - f);
        DA[2 * H + j] = dc * i * (scalar_t(1) - g * g);
        DA[3 * H + j] = DH[j] * t * o * (scalar_t(1) - o);
        DCF[j] = dc * f;
      }
    }
  });
}
"""


def build():
    """Compile the two step functions (cached by torch after the first build)."""
    from torch.utils.cpp_extension import load_inline

    return load_inline(
        name="rnnlab_bench_lstm_step",
        cpp_sources=SOURCE,
        functions=["step_forward", "step_backward"],
        extra_cflags=["-O3", "-march=native", "-ffast-math", "-fopenmp-simd"],
    )


def recurrent_products(W_hh, B: int, packed: bool):
    """``forward(a, h)``: ``a += h W_hh^T`` in place; ``backward(dy, da)``: ``dy + da W_hh``.
    ``packed``: both GEMMs on oneDNN's pre-packed weights (``torch.ops.mkldnn._linear_pointwise``,
    as in ``packed_weights.py``; float32 only), else ``torch.addmm``."""
    if not packed:
        W = W_hh.t().contiguous()
        return (lambda a, h: a.addmm_(h, W)), (lambda dy, da: torch.addmm(dy, da, W_hh))
    linear, reorder = torch.ops.mkldnn._linear_pointwise, torch.ops.mkldnn._reorder_linear_weight
    Wp, WpT = reorder(W_hh.contiguous(), B), reorder(W_hh.t().contiguous(), B)
    return (
        lambda a, h: a.add_(linear(h, Wp, None, "none", [], "")),
        lambda dy, da: dy + linear(da, WpT, None, "none", [], ""),
    )


class CompiledStepLSTM(torch.autograd.Function):
    """``CompiledStepLSTM.apply(ext, packed, X, h0, c0, W_ih, W_hh, b_ih, b_hh) -> (Y, h_T,
    c_T)``; ``packed``: see :func:`recurrent_products`."""

    @staticmethod
    def forward(ctx, ext, packed, X, h0, c0, W_ih, W_hh, b_ih, b_hh):
        A, Hs, Cs, TC = project_inputs(X, h0, c0, W_ih, b_ih, b_hh)
        T, B = X.shape[:2]
        forward_product, backward_product = recurrent_products(W_hh, B, packed)
        a_r, h_r, c_r, tc_r = A.unbind(0), Hs.unbind(0), Cs.unbind(0), TC.unbind(0)
        for t in range(T):
            forward_product(a_r[t], h_r[t])
            ext.step_forward(a_r[t], c_r[t], c_r[t + 1], tc_r[t], h_r[t + 1])
        ctx.ext, ctx.backward_product = ext, backward_product
        return keep_for_backward(ctx, X, W_ih, W_hh, (A, Hs, Cs, TC))

    @staticmethod
    def backward(ctx, dY, dh_T, dc_T):
        X, W_ih, W_hh, (A, Hs, Cs, TC) = kept_for_backward(ctx)
        T = X.shape[0]
        dA = torch.empty_like(A)
        a_r, da_r, c_r, tc_r, dy_r = (x.unbind(0) for x in (A, dA, Cs, TC, dY))
        dcf = dc_T.contiguous().clone()
        for t in range(T - 1, -1, -1):
            dh = dy_r[t] + dh_T if t == T - 1 else ctx.backward_product(dy_r[t], da_r[t + 1])
            ctx.ext.step_backward(dh, dcf, a_r[t], c_r[t], tc_r[t], da_r[t])
        dX, dh0, dW_ih, dW_hh, db = gradients_after_the_loop(dA, X, Hs, W_ih, W_hh)
        return None, None, dX, dh0, dcf, dW_ih, dW_hh, db, db.clone()


def check_float32(run_a, run_b) -> float:
    """Largest difference of outputs and gradients between two runners, float32, 7x4x5x6."""
    torch.manual_seed(0)
    m = torch.nn.LSTM(5, 6)
    X = torch.randn(7, 4, 5, requires_grad=True)
    zero = X.new_zeros(4, 6)

    def grads(run):
        Y = run(m, X, zero, zero)[0]
        return (Y, *torch.autograd.grad(Y.square().sum(), [X, *m.parameters()]))

    return max((a - b).abs().max().item() for a, b in zip(grads(run_a), grads(run_b)))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="35x20x200x200", help="TxBxDxH")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument(
        "--packed", action="store_true", help="also time the compiled step on packed W_hh"
    )
    args = ap.parse_args()
    if shutil.which("ninja") is None or shutil.which("c++") is None:
        print("needs a C++ compiler (c++) and ninja on PATH", file=sys.stderr)
        return 2
    ext = build()

    def runner(packed: bool):
        def run(m, X, h0, c0):
            weights = (m.weight_ih_l0, m.weight_hh_l0, m.bias_ih_l0, m.bias_hh_l0)
            h0, c0 = h0.contiguous(), c0.contiguous()
            return CompiledStepLSTM.apply(ext, packed, X, h0, c0, *weights)

        return run

    compiled, packed = runner(False), runner(True)

    err = check_gradients(5, 3, 4, 6, run=compiled)
    print(f"float64 check against torch.nn.LSTM: max difference {err:.1e}")
    if err > 1e-10:
        print("the compiled step disagrees with torch.nn.LSTM: not timed", file=sys.stderr)
        return 1

    contenders = {"minimal loop": minimal, "compiled step": compiled}
    if args.packed:
        err = check_float32(compiled, packed)
        print(f"float32, packed against unpacked compiled step: max difference {err:.1e}")
        if err > 1e-4:
            print("the packed GEMMs disagree with the unpacked ones: not timed", file=sys.stderr)
            return 1
        contenders["compiled+packed"] = packed
    compare(args.size, args.rounds, contenders)
    return 0


if __name__ == "__main__":
    sys.exit(main())
