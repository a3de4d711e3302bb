"""Chrono initialisation (Tallec & Ollivier 2018) of the LSTM and GRU gate biases."""

from __future__ import annotations

import math

import numpy as np
import pytest

import rnnlab
from rnnlab.cells import make_cell
from rnnlab.cells.base import chrono_bias
from rnnlab.diagnostics.gradflow import cell_variant


def test_chrono_bias_spreads_memories_from_two_steps_to_t_max():
    b = chrono_bias(4, 10)  # u = 1 + 8 (j + 1/2) / 4 = 2, 4, 6, 8
    np.testing.assert_allclose(b, np.log([2.0, 4.0, 6.0, 8.0]), rtol=0, atol=1e-15)
    # A keep gate sigmoid(log u) = u / (1 + u) forgets 1 / (1 + u) per step: memory 1 + u steps.
    memory = 1 / (1 - 1 / (1 + np.exp(-chrono_bias(1000, 200))))
    assert memory.min() == pytest.approx(2.0, abs=0.2)
    assert memory.max() == pytest.approx(200.0, abs=0.2)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_chrono_sets_input_and_forget_biases_in_every_layer(bidirectional):
    H, T = 5, 50
    m = rnnlab.LSTM(3, H, num_layers=2, bidirectional=bidirectional, chrono=T)
    b = chrono_bias(H, T)
    for name, p in m.named_parameters():
        if name.startswith("bias_ih"):
            np.testing.assert_allclose(p[:H].detach().double().numpy(), -b, rtol=1e-6)
            np.testing.assert_allclose(p[H : 2 * H].detach().double().numpy(), b, rtol=1e-6)
            assert p[2 * H :].abs().max() <= 1 / math.sqrt(H)  # g and o keep torch.nn's init
        elif name.startswith("bias_hh"):
            assert p[: 2 * H].abs().max() == 0
    assert m.resolved_engine() == "builtin"  # an initialisation only: torch's kernel still runs


def test_gru_chrono_sets_the_update_gate_bias_and_reference_init_agrees():
    H, T = 6, 30
    m = rnnlab.GRU(2, H, chrono=T)
    b = chrono_bias(H, T)
    np.testing.assert_allclose(m.bias_ih_l0[H : 2 * H].detach().double().numpy(), b, rtol=1e-6)
    assert m.bias_hh_l0[H : 2 * H].abs().max() == 0
    ref = make_cell("gru", 2, H, chrono=T).init_params(np.random.default_rng(0))
    np.testing.assert_array_equal(ref["bias_ih"][H : 2 * H], b)
    np.testing.assert_array_equal(ref["bias_hh"][H : 2 * H], 0.0)
    lstm = make_cell("lstm", 2, H, chrono=T).init_params(np.random.default_rng(0))
    np.testing.assert_array_equal(lstm["bias_ih"][:H], -b)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"chrono": 2}, "integer >= 3"),
        ({"chrono": True}, "integer >= 3"),
        ({"chrono": 10.0}, "integer >= 3"),
        ({"chrono": 10, "forget_bias": 1.0}, "pick one"),
        ({"chrono": 10, "bias": False}, "needs bias=True"),
    ],
)
def test_bad_chrono_arguments_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rnnlab.LSTM(3, 4, **kwargs)


def test_long_term_chrono_cells_cover_twice_the_task_length():
    assert cell_variant("lstm-chrono", 100) == ("lstm", {"chrono": 200})
    assert cell_variant("gru-chrono", 50) == ("gru", {"chrono": 100})
    assert cell_variant("lstm-fb1", 50) == ("lstm", {"forget_bias": 1.0})
