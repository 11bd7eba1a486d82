"""The generated Verilog of SparseCore under cocotb, on Icarus and Verilator, with every
stream randomly throttled: all six ops on random shapes, sparsities from 0 % to all-zero
tiles, saturating values, masks and activations; bit-exact against the golden model, and
every MAC counter equal to the golden work counts."""

import copy

import numpy as np
import pytest

from ganforge import golden as G
from ganforge.firmware.compiler import Program, compile_op
from ganforge.golden import OPS, reference_result
from ganforge.firmware.compiler.bits import packer
from ganforge.firmware.compiler.encode import pack_program
from ganforge.rtl.core import SparseCore
from ganforge.rtl.core.descriptor import CmdKind, Error, cmd_layout
from ganforge.rtl.refuse import unused
from ganforge.testbench import run_core_faults, simulate_program

from core_harness import check_counters, golden_work, op_tensors

CORE = dict(lanes=4, weight_depth=256, out_depth=256, max_kernel=5, fifo_depth=4)
FP_OPS = OPS[:4]


def random_case(op, rng):
    """A random valid layer for ``op``: (tensors, params)."""
    while True:
        k = int(rng.integers(1, 6))
        stride = int(rng.integers(1, 3))
        padding = int(rng.integers(0, k))
        n, cin, cout = int(rng.integers(1, 4)), int(rng.integers(1, 7)), int(rng.integers(1, 10))
        hw = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        try:
            out = (G.conv2d_out_hw(hw, k, stride, padding)
                   if op in ("conv", "conv_input_grad", "conv_weight_grad")
                   else G.conv_transpose2d_out_hw(hw, k, stride, padding))
        except ValueError:
            continue
        if min(out) >= 1 and out[0] * out[1] <= 256 and max(out) <= 64:
            break
    sparsity = float(rng.choice([0.0, 0.5, 0.9, 0.99, 1.0]))
    big = rng.random() < 0.3

    def t(shape, sparse=True):
        lim = 32768 if big else 3000
        a = rng.integers(-lim, lim, size=shape)
        if big:
            a[rng.random(shape) < 0.2] = -32768
        if sparse:
            a[rng.random(shape) < sparsity] = 0
        return a

    params = dict(stride=stride, padding=padding, shift=int(rng.integers(0, 20)),
                  activation=str(rng.choice(["identity", "relu", "leaky_relu"])),
                  slope_shift=int(rng.integers(0, 6)))
    tensors = op_tensors(op, t, n=n, cin=cin, cout=cout, k=k, hw=hw, out=out, params=params)
    if op in FP_OPS:
        y, _ = reference_result(op, tensors, **params)
        params["out_mask"] = rng.random(y.shape) < float(rng.choice([0.0, 0.5, 0.9, 1.0]))
        params["bias"] = rng.integers(-2**20, 2**20, y.shape[1])
    return tensors, params


def run_batch(cases, sim, dense=False, seed=0):
    """Run several ops as one program (one simulator run); return (results, references)."""
    progs = [compile_op(op, tensors, lanes=CORE["lanes"], weight_depth=CORE["weight_depth"],
                        out_depth=CORE["out_depth"], dense=dense, **params)
             for op, tensors, params in cases]
    joined = Program("batch", [p for prog in progs for p in prog.passes], (), CORE["lanes"])
    drained, counters, cycles = simulate_program(joined, CORE, sim=sim, throttle=True, seed=seed)
    results = []
    k = 0
    for prog in progs:
        n = sum(1 for p in prog.passes if p.desc["drain"])
        results.append(prog.assemble(drained[k:k + n]))
        k += n
    refs = [reference_result(op, tensors, **params) for op, tensors, params in cases]
    return results, refs, counters


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
@pytest.mark.parametrize("seed", [1, 2])
def test_core_random_ops_bit_exact(sim, seed):
    rng = np.random.default_rng(seed)
    cases = [(op, *random_case(op, rng)) for op in OPS for _ in range(2)]
    dense = seed == 2
    results, refs, counters = run_batch(cases, sim, dense=dense, seed=seed)
    for (op, tensors, params), (y, m), (wy, wm) in zip(cases, results, refs):
        assert np.array_equal(y, wy), (op, {k: v for k, v in params.items() if k not in ("out_mask", "bias")})
        assert np.array_equal(m, wm), op
    check_counters(counters, golden_work(cases), dense)


#: Descriptor fields that the core refuses, with the error code it must report.
BAD_FIELDS = [
    ("kernel 0", dict(kernel=0), Error.KERNEL), ("kernel 7", dict(kernel=7), Error.KERNEL),
    ("stride 3", dict(stride=3), Error.STRIDE), ("padding 3", dict(padding=3), Error.PADDING),
    ("out_h 60", dict(out_h=60), Error.OUT_SIZE), ("cin 200", dict(cin=200), Error.WEIGHT_SIZE),
    ("activation 3", dict(activation=3), Error.ACTIVATION), ("slots 3", dict(slots=3), Error.SLOTS),
    ("shift 50", dict(shift=50), Error.SHIFT), ("in_w 0", dict(in_w=0), Error.SIZE),
    ("reuse 20", dict(wload=0, wbank=0, cin=20), Error.REUSE),
]


def packed_faults(core, prog):
    """Every bad pass of :data:`BAD_FIELDS` (pass 0 of ``prog`` with its fields changed, its
    loads, one element beat and the end beat), and a load no pass announced: ``[(name,
    (cmd words, beat words), code)]``."""
    lanes = core.lanes
    beats = [{"slots": [(1, 0, 0, 0, 5)] * lanes, "end": 0}, {"slots": [(0, 0, 0, 0, 0)] * lanes, "end": 1}]
    out = []
    for name, fields, code in BAD_FIELDS:
        p = copy.copy(prog.passes[0])
        p.desc, p.beats = dict(p.desc, **fields), beats
        cmd, x, _ = pack_program(core, Program("bad", [p], (), lanes))
        out.append((name, (cmd, x), code))
    stray = {"kind": int(CmdKind.WEIGHT), "addr": 0, "en": (1 << lanes) - 1, "value": [1] * lanes}
    pack_cmd = packer(cmd_layout(lanes, core.addr_bits, core.lw, core.cb, core.out_depth))
    out.append(("stray load", ([pack_cmd(stray)], []), Error.LOAD))
    return out


@pytest.mark.parametrize("sim", ["icarus", "verilator"])
def test_core_errors_and_resets_on_the_verilog(sim):
    """On the generated Verilog: every error code the core sets for a refused descriptor or
    a stray load, ``irq`` with it, the first error sticking, ``error_clear``; and a reset
    at four points of a program of several tiles (partial sums in the accumulators: the
    core clears them after a reset, or the next program starts from them). After each,
    the program runs again, bit-exact against the golden model."""
    rng = np.random.default_rng(3)
    core = unused(SparseCore(**CORE))
    p = dict(stride=1, padding=1, shift=4, activation="relu")
    for shape, resets in ((((1, 3, 6, 6), (4, 3, 3, 3)), ()),
                          (((2, 6, 8, 8), (8, 6, 3, 3)), (3, 2000, 5000, 9000))):
        t = {"x": rng.integers(-200, 200, shape[0]), "w": rng.integers(-200, 200, shape[1])}
        prog = compile_op("conv", t, lanes=CORE["lanes"], weight_depth=CORE["weight_depth"],
                          out_depth=CORE["out_depth"], **p)
        faults = packed_faults(core, prog) if not resets else []
        drained, res = run_core_faults(prog, faults, CORE, resets=resets, sim=sim, seed=5)
        y, m = prog.assemble(drained)
        want_y, want_m = reference_result("conv", t, **p)
        assert np.array_equal(y, want_y) and np.array_equal(m, want_m)
        assert [f["error"] for f in res["faults"]] == [int(c) for *_, c in faults]
        assert all(f["irq"] == 1 and f["cleared"] == [0, 0] for f in res["faults"])
        assert [r["busy"] for r in res["resets"]] == [1] * len(resets), res["resets"]


@pytest.mark.slow
def test_core_survives_resets_at_random_cycles():
    """Twelve resets at cycles drawn at random over a strided, half-sparse program of two
    samples (about 2 000 cycles, throttled), on Verilator: after each, the program runs
    again bit-exact."""
    rng = np.random.default_rng(11)
    p = dict(stride=2, padding=1, shift=5, activation="leaky_relu", slope_shift=2)
    t = {"x": rng.integers(-200, 200, (2, 6, 9, 9)), "w": rng.integers(-200, 200, (8, 6, 3, 3))}
    t["x"][rng.random(t["x"].shape) < 0.5] = 0
    prog = compile_op("conv", t, lanes=CORE["lanes"], weight_depth=CORE["weight_depth"],
                      out_depth=CORE["out_depth"], **p)
    resets = sorted(int(c) for c in rng.integers(1, 2000, 12))
    drained, res = run_core_faults(prog, [], CORE, resets=resets, sim="verilator", seed=12)
    y, m = prog.assemble(drained)
    want_y, want_m = reference_result("conv", t, **p)
    assert np.array_equal(y, want_y) and np.array_equal(m, want_m)
    assert [r["cycle"] for r in res["resets"]] == resets
