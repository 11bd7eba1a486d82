"""cocotb test bench of the generated SparseCore Verilog: runs a packed program.

The run's cycle count is the core's own: busy plus idle cycles since reset.

The program comes from :func:`ganforge.testbench.benches.simulate_program` (through
``tb_args``), already packed into port integers: the command stream (each
pass's descriptor and loads), the element beats, and the number of output
beats to collect. The two input streams are driven at once by independent
throttled sources, as two DMA channels would; the core orders them. A
throttled sink collects every output beat. The raw output words, the core's
counters and the cycle count go to the JSON file named by ``out``.
"""

import json
import random

import cocotb
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from ganforge.rtl.core import COUNTERS as CORE_COUNTERS
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSink, StreamSource, reset, start_clock

COUNTERS = CORE_COUNTERS + ("error",)


@cocotb.test()
async def run_program(dut):
    args = tb_args()
    rng = random.Random(args["seed"])
    idle, stall = args["idle"], args["stall"]
    await start_clock(dut)
    dut.error_clear.value = 0
    await reset(dut)
    cmd = StreamSource(dut, "cmd", idle=idle, rng=random.Random(rng.random()))
    beats = StreamSource(dut, "x_in", idle=idle, rng=random.Random(rng.random()))
    sink = StreamSink(dut, "o", stall=stall, rng=random.Random(rng.random()))
    collected = cocotb.start_soon(sink.receive(args["words"], timeout_cycles=args["timeout_cycles"]))
    # The two input streams run independently, as they would from two DMA channels: the
    # core orders them (a pass's beats wait for its descriptor).
    sending = cocotb.start_soon(cmd.send(args["cmd"]))
    await beats.send(args["x"])
    await sending
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
