"""cocotb test of the generated OutputStage Verilog against the golden model."""

import random

import cocotb
import numpy as np

from ganforge import golden as G
from amaranth.hdl import signed
from amaranth.lib.data import StructLayout

from ganforge.golden.fixed import ACTIVATIONS
from ganforge.rtl.core.output_stage import output_layout
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSink, StreamSource, reset, start_clock


@cocotb.test()
async def output_stage_bit_exact(dut):
    args = tb_args()
    rng = random.Random(args["seed"])
    await start_clock(dut)
    await reset(dut)
    width = args["data_width"]
    for case in args["cases"]:
        dut.shift.value = case["shift"]
        dut.activation.value = ACTIVATIONS[case["activation"]]
        dut.slope_shift.value = case["slope_shift"]
        acc = np.array(case["acc"], dtype=np.int64)
        want_y, want_m = G.output_stage(acc.reshape(1, -1, 1, 1), case["shift"], width,
                                        case["activation"], case["slope_shift"])
        src = StreamSource(dut, "i", StructLayout({"acc": signed(args["acc_width"])}), idle=0.3, rng=rng)
        sink = StreamSink(dut, "o", output_layout(width), stall=0.4, rng=rng)
        cocotb.start_soon(src.send([{"acc": int(v)} for v in acc]))
        got = await sink.receive(len(acc), timeout_cycles=100)
        got_y = [int(g.value) for g in got]
        got_m = [int(g.mask) for g in got]
        assert got_y == want_y.reshape(-1).tolist(), case
        assert got_m == want_m.reshape(-1).astype(int).tolist(), case
