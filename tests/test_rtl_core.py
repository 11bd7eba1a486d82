"""SparseCore in the Amaranth simulator: the lane geometry (strides 1 and 2, K 1 to 5, conv and
transposed conv), masks, dense against sparse, element order, reductions over passes, sample
slots, both weight-gradient mappings, every counter against the golden work counts, and every
error path. Several ops run as one program (one simulation), as the cocotb regression does.
"""

import numpy as np
import pytest

from ganforge import golden as G
from ganforge.firmware.compiler import Program, check_program, compile_op
from ganforge.rtl.core import SparseCore
from ganforge.golden import audit_counts, reference_result, work_counts
from ganforge.rtl.core.descriptor import CmdKind, Error

from core_harness import check_counters, desc_cmd, golden_work, run_program

CORE = dict(lanes=4, weight_depth=256, out_depth=256, max_kernel=5, fifo_depth=4)

# (op, stride, padding, k, cin, cout, (h, w)): the geometries the lane must get right.
GEOMETRIES = [
    ("conv", 1, 1, 3, 3, 2, (6, 5)),
    ("conv", 2, 1, 4, 2, 3, (8, 8)),
    ("conv", 2, 0, 3, 2, 2, (7, 7)),
    ("conv", 1, 2, 5, 1, 2, (5, 5)),
    ("conv", 1, 0, 1, 3, 5, (3, 4)),
    ("conv_transpose", 2, 1, 4, 3, 2, (4, 4)),
    ("conv_transpose", 1, 0, 4, 2, 3, (1, 1)),
    ("conv_transpose", 2, 0, 3, 2, 2, (3, 3)),
    ("conv_input_grad", 2, 1, 4, 3, 2, (8, 8)),
    ("conv_transpose_input_grad", 2, 1, 4, 2, 3, (4, 4)),
]


def make_case(rng, op, stride, padding, k, cin, cout, hw, n=1, sparsity=0.5, mask_rate=0.5,
              lim=3000):
    """Tensors and parameters of one FP/EP op, with a random output mask and bias."""
    def data(shape):
        a = rng.integers(-lim, lim, size=shape)
        a[rng.random(shape) < sparsity] = 0
        return a
    params = dict(stride=stride, padding=padding, shift=10, activation="relu")
    if op == "conv":
        tensors = {"x": data((n, cin, *hw)), "w": rng.integers(-lim, lim, (cout, cin, k, k))}
    elif op == "conv_transpose":
        tensors = {"x": data((n, cin, *hw)), "w": rng.integers(-lim, lim, (cin, cout, k, k))}
    elif op == "conv_input_grad":                     # dx [n, cin, hw] from dy [n, cout, .]
        tensors = {"dy": data((n, cout, *G.conv2d_out_hw(hw, k, stride, padding))),
                   "w": rng.integers(-lim, lim, (cout, cin, k, k))}
        params["input_hw"] = hw
    else:                                             # dx [n, cin, hw] from dy [n, cout, .]
        tensors = {"dy": data((n, cout, *G.conv_transpose2d_out_hw(hw, k, stride, padding))),
                   "w": rng.integers(-lim, lim, (cin, cout, k, k))}
    y, _ = reference_result(op, tensors, **params)
    if mask_rate is not None:
        params["out_mask"] = rng.random(y.shape) >= mask_rate
    params["bias"] = rng.integers(-50000, 50000, y.shape[1])
    return tensors, params


def run_batch(cases, *, dense=False, core=CORE, seed=0, shuffle=None, **kw):
    """Run ``cases`` [(op, tensors, params)] as one program; check every result bit for bit
    and return the core's counters and the summed golden work counts."""
    progs = [compile_op(op, t, lanes=core["lanes"], weight_depth=core["weight_depth"],
                        out_depth=core["out_depth"], dense=dense, **p) for op, t, p in cases]
    passes = [p for prog in progs for p in prog.passes]
    if shuffle is not None:                           # any element order gives the same sums
        for p in passes:
            body = [b for b in p.beats]
            shuffle.shuffle(body)
            p.beats = [dict(b, end=int(i == len(body) - 1)) for i, b in enumerate(body)]
    drained, counters = run_program(Program("batch", passes, (), core["lanes"]), core, seed=seed, **kw)
    k = 0
    for prog, (op, t, p) in zip(progs, cases):
        n = sum(1 for q in prog.passes if q.desc["drain"])
        y, m = prog.assemble(drained[k:k + n])
        k += n
        want_y, want_m = reference_result(op, t, **p)
        assert np.array_equal(y, want_y), op
        assert np.array_equal(m, want_m), op
    return counters, golden_work(cases)


@pytest.mark.parametrize("dense", [False, True])
def test_core_geometries_bit_exact_with_golden_counters(dense):
    rng = np.random.default_rng(11)
    cases = [(g[0], *make_case(rng, *g)) for g in GEOMETRIES]
    counters, golden = run_batch(cases, dense=dense, seed=int(dense))
    check_counters(counters, golden, dense)
    assert golden["zero_insertion_skipped"] > 0
    assert golden["false_zero"] > 0 and golden["missed_zero"] > 0


def test_audit_counts_false_and_missed_zeros_in_hardware():
    """An audited pass (skip_zero on, skip_mask off, mask applied at the drain): every tap of
    the non-zero inputs is issued, the result is the masked one, and the core's false_zero
    and missed_zero counters equal the golden counts of the mask against the ReLU mask."""
    rng = np.random.default_rng(23)
    cases = [(g[0], *make_case(rng, *g, n=2)) for g in GEOMETRIES[:2] + GEOMETRIES[5:6]]
    progs = [compile_op(op, t, lanes=4, weight_depth=256, out_depth=256, audit=True, **p)
             for op, t, p in cases]
    drained, counters = run_program(Program("batch", [q for pr in progs for q in pr.passes], (), 4),
                                    CORE, seed=5)
    k, want = 0, {"false_zero": 0, "missed_zero": 0, "macs": 0}
    for prog, (op, t, p) in zip(progs, cases):
        n = sum(1 for q in prog.passes if q.desc["drain"])
        y, m = prog.assemble(drained[k:k + n])
        k += n
        want_y, want_m = reference_result(op, t, **p)
        assert np.array_equal(y, want_y) and np.array_equal(m, want_m), op
        for name, v in audit_counts(op, t, **p).items():
            want[name] += v
        unmasked = {key: v for key, v in p.items() if key != "out_mask"}
        want["macs"] += work_counts(op, t, **unmasked)["effective_macs"]
    assert counters["error"] == 0 and counters["output_mask_skipped"] == 0
    assert counters["macs_issued"] == want["macs"]
    assert counters["false_zero"] == want["false_zero"] > 0
    assert counters["missed_zero"] == want["missed_zero"] > 0
    with pytest.raises(ValueError, match="out_mask"):
        compile_op("conv", cases[0][1], lanes=4, weight_depth=256, out_depth=256, audit=True,
                   **{key: v for key, v in cases[0][2].items() if key != "out_mask"})


def test_core_element_order_and_back_to_back_taps():
    """Elements in random order, and many taps into one accumulator word on consecutive
    cycles (the read-modify-write path without stalls)."""
    rng = np.random.default_rng(12)
    cases = [(g[0], *make_case(rng, *g)) for g in GEOMETRIES[:3]]
    one = {"x": np.arange(1, 9).reshape(1, 8, 1, 1) * 1000, "w": np.arange(1, 17).reshape(2, 8, 1, 1) * 7}
    cases.append(("conv", one, dict(stride=1, padding=0, shift=0, activation="identity")))
    counters, golden = run_batch(cases, shuffle=np.random.default_rng(3), idle=0.0, stall=0.0)
    check_counters(counters, golden, False)


def test_core_saturation_and_leaky_relu():
    rng = np.random.default_rng(9)
    t, p = make_case(rng, "conv", 1, 1, 3, 4, 3, (5, 5), sparsity=0.0, mask_rate=None, lim=32768)
    p.update(shift=4, activation="leaky_relu", slope_shift=3, bias=np.array([-(2**20), 0, 2**20]))
    want, _ = reference_result("conv", t, **p)
    assert (want == 32767).any() and (want < -2048).any()
    run_batch([("conv", t, p)])


def test_core_sample_slots_splits_and_weight_gradients():
    """C_out = 1 puts samples side by side (slots); C_in·K² over the operand memory splits
    the reduction over passes (drain = 0); both weight-gradient mappings."""
    rng = np.random.default_rng(7)
    slots = ("conv_transpose", *make_case(rng, "conv_transpose", 2, 1, 4, 3, 1, (4, 4), n=4))
    split = ("conv", *make_case(rng, "conv", 1, 1, 3, 9, 2, (4, 4)))
    x = rng.integers(-900, 900, (2, 3, 6, 6))
    x[rng.random(x.shape) < 0.5] = 0
    dy = rng.integers(-900, 900, (2, 5, 3, 3))
    dy[rng.random(dy.shape) < 0.5] = 0
    wg = ("conv_weight_grad", {"x": x, "dy": dy}, dict(stride=2, padding=1, kernel_size=4, shift=3))
    xt = rng.integers(-900, 900, (2, 5, 3, 3))
    dyt = rng.integers(-900, 900, (2, 2, 6, 6))
    dyt[rng.random(dyt.shape) < 0.7] = 0
    wgt = ("conv_transpose_weight_grad", {"x": xt, "dy": dyt},
           dict(stride=2, padding=1, kernel_size=4, shift=3))
    core = dict(CORE, weight_depth=64)
    prog = compile_op(*split[:2], lanes=4, weight_depth=64, out_depth=256, **split[2])
    assert sum(1 for p in prog.passes if not p.desc["drain"]) >= 1
    prog = compile_op(*slots[:2], lanes=4, weight_depth=64, out_depth=256, **slots[2])
    assert prog.passes[0].desc["slots"] == 2
    for dense in (False, True):
        counters, golden = run_batch([slots, split, wg, wgt], dense=dense, core=core)
        check_counters(counters, golden, dense)


def _bad(prog, **fields):
    return desc_cmd(dict(prog.passes[0].desc, **fields))


END = {"slot": [{"valid": 0, "ci": 0, "i": 0, "j": 0, "value": 0}] * 4, "end": 1}


@pytest.mark.parametrize("fields,code", [
    (dict(kernel=0), Error.KERNEL), (dict(kernel=7), Error.KERNEL), (dict(stride=3), Error.STRIDE),
    (dict(padding=3), Error.PADDING), (dict(out_h=60), Error.OUT_SIZE),
    (dict(cin=200), Error.WEIGHT_SIZE), (dict(activation=3), Error.ACTIVATION),
    (dict(slots=3), Error.SLOTS), (dict(shift=50), Error.SHIFT), (dict(in_w=0), Error.SIZE),
    (dict(wload=0, wbank=0, cin=20), Error.REUSE),
])
def test_core_refuses_malformed_descriptor_without_hanging(fields, code):
    """The bad pass's loads and beats are dropped, the error sticks, and the good program
    sent after it still runs."""
    rng = np.random.default_rng(9)
    t, p = make_case(rng, "conv", 1, 1, 3, 2, 2, (5, 5), mask_rate=None)
    prog = compile_op("conv", t, lanes=4, weight_depth=256, out_depth=256, **p)
    bad = [_bad(prog, **fields)] + prog.passes[0].loads          # its loads are dropped too
    beats = [{"slot": [{"valid": 1, "ci": 0, "i": 0, "j": 0, "value": 5}] * 4, "end": 0}, END]
    # The bad pass goes first: the good one must still run after it.
    drained, counters = run_program(prog, CORE, seed=4, before=[(bad, beats)])
    assert counters["error"] == code
    y, _ = prog.assemble(drained)
    assert np.array_equal(y, reference_result("conv", t, **p)[0])


def test_core_load_and_element_errors_do_not_hang():
    """A load nobody announced, an operand word out of order, and elements outside the input
    map: each sets its error and is dropped; the passes still finish."""
    rng = np.random.default_rng(5)
    t, p = make_case(rng, "conv", 1, 1, 3, 2, 2, (5, 5), mask_rate=None)
    prog = compile_op("conv", t, lanes=4, weight_depth=256, out_depth=256, **p)
    stray = {"kind": int(CmdKind.WEIGHT), "addr": 0, "en": 15, "value": [1] * 4}
    _, counters = run_program(prog, CORE, extra=[([stray], [])])
    assert counters["error"] == Error.LOAD
    # Operand words out of order: LOAD, the pass's remaining loads are dropped, it runs with
    # what it has, and ends.
    prog2 = compile_op("conv", t, lanes=4, weight_depth=256, out_depth=256, **p)
    first = prog2.passes[0]
    w = [ld for ld in first.loads if ld["kind"] == CmdKind.WEIGHT]
    first.loads = [ld for ld in first.loads if ld["kind"] != CmdKind.WEIGHT] + w[1:]
    _, counters = run_program(prog2, CORE)
    assert counters["error"] == Error.LOAD
    # An element beyond the map's channels is dropped (ELEMENT).
    prog3 = compile_op("conv", t, lanes=4, weight_depth=256, out_depth=256, **p)
    last = prog3.passes[-1]
    last.beats[0] = dict(last.beats[0], slots=[(1, 9, 0, 0, 77)] + last.beats[0]["slots"][1:])
    _, counters = run_program(prog3, CORE)
    assert counters["error"] == Error.ELEMENT


def _masked_cycles(t, p, *, balance, core=CORE):
    """Run one masked op; check it bit for bit; return its cycles (busy + idle) and counters."""
    prog = compile_op("conv", t, lanes=core["lanes"], weight_depth=core["weight_depth"],
                      out_depth=core["out_depth"], balance=balance, **p)
    drained, counters = run_program(prog, core, idle=0.0, stall=0.0)
    y, m = prog.assemble(drained)
    want_y, want_m = reference_result("conv", t, **p)
    assert np.array_equal(y, want_y) and np.array_equal(m, want_m)
    return counters["cycles_busy"] + counters["cycles_idle"], counters


def test_balancing_puts_heavy_channels_in_one_pass():
    """Eight channels on four lanes, the even ones keeping every output and the odd ones few.
    In natural order both passes wait for a heavy lane; balanced, one pass is heavy and the
    other light. The result is bit-exact either way and the balanced run is faster."""
    rng = np.random.default_rng(21)
    t, p = make_case(rng, "conv", 1, 1, 3, 4, 8, (8, 8), sparsity=0.2, mask_rate=None)
    mask = rng.random((1, 8, 8, 8)) < 0.1
    mask[:, 0::2] = True
    p["out_mask"] = mask
    natural, cn = _masked_cycles(t, p, balance=False)
    balanced, cb = _masked_cycles(t, p, balance=True)
    assert cn["macs_issued"] == cb["macs_issued"]
    assert balanced < 0.75 * natural, (balanced, natural)


def test_dead_elements_cost_no_cycle_behind_live_ones():
    """Every lane keeps only output columns 0..4, so the elements of input columns 6 and 7
    have no candidate tap (dead). They are dropped while the iterator works on the taps of
    the live elements before them: the pass takes about as long as the same pass with those
    elements set to zero (never sent), not one cycle more per dead element."""
    rng = np.random.default_rng(22)
    t, p = make_case(rng, "conv", 1, 1, 3, 4, 4, (8, 8), sparsity=0.0, mask_rate=None)
    mask = np.zeros((1, 4, 8, 8), dtype=bool)
    mask[..., :5] = True
    p["out_mask"] = mask
    with_dead, c1 = _masked_cycles(t, p, balance=True)
    gone = dict(t, x=t["x"].copy())
    gone["x"][..., 6:] = 0
    without, c2 = _masked_cycles(gone, p, balance=True)
    dead = int(np.count_nonzero(t["x"][..., 6:]))
    assert c1["macs_issued"] == c2["macs_issued"] and dead == 64
    assert with_dead - without <= dead // 8, (with_dead, without, dead)


@pytest.mark.parametrize("fields,word", [
    (dict(kernel=0), "max_kernel = 5"), (dict(kernel=7), "max_kernel = 5"),
    (dict(stride=3), "max_stride = 2"), (dict(padding=3), "padding 3 must be below the kernel"),
    (dict(out_h=60), "out_depth = 256"), (dict(cin=200), "weight_depth = 256"),
    (dict(activation=3), "activation code 3"), (dict(slots=3), "8 samples in a pass"),
    (dict(shift=50), "acc_width = 48"), (dict(in_w=0), "an empty pass"),
    (dict(in_h=300), "in_h = 300 does not fit"),
])
def test_check_program_refuses_what_the_core_refuses(fields, word):
    """The host's check (run before every simulation) refuses the descriptors the core
    refuses above, naming the parameter and its limit; the good program passes."""
    rng = np.random.default_rng(9)
    t, p = make_case(rng, "conv", 1, 1, 3, 2, 2, (5, 5), mask_rate=None)
    prog = compile_op("conv", t, lanes=4, weight_depth=256, out_depth=256, **p)
    check_program(prog, CORE)
    prog.passes[0].desc = dict(prog.passes[0].desc, **fields)
    with pytest.raises(ValueError, match=f"pass 0: .*{word}"):
        check_program(prog, CORE)
    with pytest.raises(ValueError, match="does not fit the 48-bit accumulator"):
        check_program(prog.passes[1:], CORE, bias=[1 << 47])


@pytest.mark.parametrize("kw,word", [
    (dict(lanes=3), "lanes must be a power of two in 1..64"), (dict(lanes=128), "lanes"),
    (dict(data_width=12), "data_width must be 8 or 16"),
    (dict(acc_width=20), "acc_width must be in 32..64"), (dict(acc_width=65), "acc_width"),
    (dict(max_kernel=0), "max_kernel must be in 1..7"), (dict(max_kernel=8), "max_kernel"),
    (dict(max_stride=3), "max_stride must be in 1..2"),
    (dict(max_kernel=1, max_stride=2), "max_stride must be in 1..1"),
    (dict(out_depth=17), "out_depth must be a power of two"),
    (dict(weight_depth=8), "weight_depth must be a power of two"),
    (dict(weight_depth=16, max_kernel=5), "weight_depth must hold one max_kernel"),
    (dict(coord_bits=2), "coord_bits must be in 4..16"), (dict(fifo_depth=1), "fifo_depth"),
    (dict(lanes=4.0), "lanes must be an integer"),
])
def test_core_refuses_parameters_it_cannot_build(kw, word):
    """Built directly, without a configuration, the core still refuses what it cannot be,
    naming the parameter."""
    with pytest.raises(ValueError, match=f"^SparseCore: {word}"):
        SparseCore(**kw)
