"""cocotb test bench of the generated SparseCore Verilog: runs a packed program.

The run's cycle count is the core's own: busy plus idle cycles since reset.

The program comes from :func:`ganforge.testbench.core_sim.simulate` (through
``tb_args``), already packed into port integers: per pass the load words, the
descriptor word, the input beats, and the number of output beats the pass
drains. Loads, descriptors and input beats go in through throttled stream
sources, and a throttled sink collects every output beat. The raw output
words, the core's counters and the cycle count go to the JSON file named by
``out``.
"""

import json
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSink, StreamSource, reset, start_clock

COUNTERS = ("macs_issued", "input_zero_skipped", "output_mask_skipped", "cycles_busy",
            "cycles_stalled", "cycles_idle", "error")


@cocotb.test()
async def run_program(dut):
    args = tb_args()
    rng = random.Random(args["seed"])
    idle, stall = args["idle"], args["stall"]
    await start_clock(dut)
    dut.error_clear.value = 0
    await reset(dut)
    loads = StreamSource(dut, "load", idle=idle, rng=rng)
    descs = StreamSource(dut, "desc", idle=idle, rng=rng)
    beats = StreamSource(dut, "x_in", idle=idle, rng=rng)
    sink = StreamSink(dut, "o", stall=stall, rng=rng)
    total = sum(p["drain_words"] for p in args["passes"])
    collected = cocotb.start_soon(sink.receive(total, timeout_cycles=args["timeout_cycles"]))
    for p in args["passes"]:
        await loads.send(p["loads"])
        await descs.send([p["desc"]])
        await beats.send(p["beats"])
    words = await collected
    await ReadOnly()
    if dut.busy.value:
        await FallingEdge(dut.busy)
    await RisingEdge(dut.clk)
    await ReadOnly()
    # The core counts every cycle since reset as busy or idle: the run's length.
    cycles = int(dut.cycles_busy.value) + int(dut.cycles_idle.value)
    result = {"words": [int(w) for w in words], "cycles": cycles,
              "counters": {name: int(getattr(dut, name).value) for name in COUNTERS}}
    with open(args["out"], "w") as f:
        json.dump(result, f)
