"""EORS on the generated Verilog under cocotb (Icarus; Verilator in the slow suite), every
stream throttled: the EorsUnit's prediction equals eors_predict, the core with the prediction
as output mask equals eors_fp, the core without EORS equals the exact layer, and the audited
core's false_zero / missed_zero counters equal the host's counts."""

import dataclasses

import numpy as np
import pytest

from ganforge.config import get_preset
from ganforge.golden import work_counts
from ganforge.golden import eors_estimate
from ganforge.simop import simulate_eors_op


def _case(op, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-3000, 3000, (2, 3, 4, 4))
    x[rng.random(x.shape) < 0.4] = 0
    x[0, 0, 0, 0] = -32768
    w = rng.integers(-3000, 3000, (5, 3, 3, 3) if op == "conv" else (3, 5, 4, 4))
    bias = rng.integers(-2 ** 22, 2 ** 22, 5)
    params = dict(stride=1 if op == "conv" else 2, padding=1, shift=14, activation="relu",
                  slope_shift=2, bias=bias)
    if op == "conv_transpose":
        params["output_padding"] = 0
    return {"x": x, "w": w}, params


@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_eors_flow_bit_exact_throttled(sim, op):
    tensors, params = _case(op, 7 if op == "conv" else 8)
    config = dataclasses.replace(get_preset("tiny"), eors_extra_mantissa_bits=1, eors_acc_width=36)
    geo = dict(stride=params["stride"], padding=params["padding"])
    est = eors_estimate(tensors["x"], tensors["w"], params["bias"], op=op, mantissa_bits=1, **geo)
    margin = int(np.median(np.abs(est))) // 4
    out = simulate_eors_op(op, tensors, params, config, margin=margin, sim=sim, throttle=True,
                           seed=3, audit=True)
    assert out["prediction_matches_golden"] and out["matches_golden"]
    assert out["error"] == 0 and out["eors_error"] == 0 and out["audit_error"] == 0
    # The audited core counts the mispredictions in hardware, as the host does.
    assert out["audit_matches_golden"]
    assert int(out["audit_false_zero"]) == int(out["eors_false_zero"])
    assert int(out["audit_missed_zero"]) == int(out["eors_missed_zero"])
    assert int(out["audit_false_zero"]) + int(out["audit_missed_zero"]) > 0
    assert 0 < out["eors_predicted_zero"] < out["eors_outputs"]
    # One speculation product per non-zero input tap; the core skips the predicted zeros.
    unmasked = work_counts(op, tensors, **geo)["effective_macs"]
    assert int(out["eors_macs"]) == unmasked
    assert int(out["macs_issued"]) == int(out["effective_macs"])


@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
@pytest.mark.parametrize("op", ["conv", "conv_transpose"])
def test_eors_overlapped_on_the_pipeline_top_level(sim, op):
    """The unit and the core in one simulation (EorsPipeline), every stream throttled: each
    tile's prediction and result are bit-exact, the core starts a tile only after its
    prediction is out, and the overlapped run is shorter than the two run one after the other."""
    tensors, params = _case(op, 7 if op == "conv" else 8)
    config = dataclasses.replace(get_preset("tiny"), eors_extra_mantissa_bits=1, eors_acc_width=36)
    out = simulate_eors_op(op, tensors, params, config, margin=0, sim=sim, throttle=True,
                           seed=4, pipelined=True)
    assert out["pipelined_matches_golden"] and out["matches_golden"]
    starts = [int(c) for c in out["pipeline_core_start"]]
    assert len(starts) == tensors["x"].shape[0] and 0 < starts[0] < starts[1]
    assert int(out["cycles_pipelined"]) < int(out["cycles_sequential"])



def test_pipeline_tiles_of_several_samples():
    """Tiles of two samples over a batch of three (the last tile partial), throttled on Icarus:
    every tile bit-exact against the golden model and one core start per tile; a tile of 0
    samples is refused."""
    tensors, params = _case("conv_transpose", 9)
    rng = np.random.default_rng(9)
    x = rng.integers(-3000, 3000, (3, 3, 4, 4))
    x[rng.random(x.shape) < 0.4] = 0
    tensors["x"] = x
    config = dataclasses.replace(get_preset("tiny"), eors_extra_mantissa_bits=1, eors_acc_width=36)
    runs = {tile: simulate_eors_op("conv_transpose", tensors, params, config, margin=0,
                                   sim="icarus", throttle=True, seed=5, pipelined=True,
                                   pipeline_tile=tile, baseline=False)
            for tile in (1, 2)}
    for tile, out in runs.items():
        assert out["pipelined_matches_golden"] and out["matches_golden"], tile
        assert out["pipeline_tile"] == tile
        assert len(out["pipeline_core_start"]) == -(-3 // tile)
    with pytest.raises(Exception, match="pipeline_tile must be an integer >= 1"):
        simulate_eors_op("conv_transpose", tensors, params, config, margin=0, sim="icarus",
                         pipelined=True, pipeline_tile=0)


@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_eors_unit_survives_resets_mid_tile(sim):
    """The speculation unit (a SparseCore with shift-add lanes) reset at three points of a
    program of several tiles, on the generated Verilog (Icarus; Verilator, slow): after
    each, the program's prediction is again exactly the golden ``eors_predict``."""
    from ganforge.config import eors_unit_from_config
    from ganforge.firmware.compiler import compile_eors, eors_prediction
    from ganforge.golden import eors_predict
    from ganforge.rtl.eors import EorsUnit
    from ganforge.testbench import run_core_faults
    config = dataclasses.replace(get_preset("tiny"), eors_extra_mantissa_bits=1, eors_acc_width=36)
    ukw = eors_unit_from_config(config)
    rng = np.random.default_rng(4)
    x, w = rng.integers(-3000, 3000, (2, 6, 8, 8)), rng.integers(-3000, 3000, (8, 6, 3, 3))
    bias = rng.integers(-2 ** 22, 2 ** 22, 8)
    knobs = dict(mantissa_bits=1, margin=1 << 10, acc_width=36)
    prog = compile_eors("conv", {"x": x, "w": w}, lanes=ukw["lanes"], weight_depth=ukw["weight_depth"],
                        out_depth=ukw["out_depth"], data_width=ukw["data_width"], stride=1,
                        padding=1, bias=bias, **knobs)
    drained, res = run_core_faults(prog, [], ukw, resets=(2000, 5000, 9000), sim=sim, seed=2,
                                   component=EorsUnit)
    want = eors_predict(x, w, bias, op="conv", stride=1, padding=1, **knobs)
    assert np.array_equal(eors_prediction(prog, drained), want)
    assert [r["busy"] for r in res["resets"]] == [1, 1, 1], res["resets"]


@pytest.mark.parametrize("sim", ["icarus", pytest.param("verilator", marks=pytest.mark.slow)])
def test_eors_pipeline_survives_resets_mid_run(sim):
    """The whole EorsPipeline (the unit and the core behind one reset) reset at three points
    of a program of two tiles (about 1 000 cycles), on Icarus (and Verilator, slow), every
    stream throttled: while
    the unit speculates tile 0 and the core waits for it, while the core computes tile 0 and
    the unit speculates tile 1, and while the core computes tile 1 alone. After each the
    program's predictions and results are again bit-exact against the golden model."""
    tensors, params = _case("conv", 7)
    config = dataclasses.replace(get_preset("tiny"), eors_extra_mantissa_bits=1, eors_acc_width=36)
    out = simulate_eors_op("conv", tensors, params, config, margin=0, sim=sim, throttle=True,
                           seed=6, pipelined=True, pipeline_tile=1, baseline=False,
                           pipeline_resets=(40, 500, 900))
    assert out["pipelined_matches_golden"] and out["matches_golden"]
    busy = [(r["unit_busy"], r["core_busy"]) for r in out["pipeline_resets"]]
    assert [r["cycle"] for r in out["pipeline_resets"]] == [40, 500, 900]
    assert busy == [(1, 0), (1, 1), (0, 1)], busy
