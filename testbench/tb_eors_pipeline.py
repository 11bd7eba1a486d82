"""cocotb test bench of the generated EorsPipeline: EORS overlapped with the core, tile by tile.

The programs come from :func:`ganforge.testbench.benches.simulate_pipeline`
(through ``tb_args``), packed per tile: the unit's speculation passes and the
core's passes with that tile's prediction as output mask. The bench plays the
firmware's schedule:

* the unit's command and element streams run from the start, tile after tile,
  at the unit's own pace (its predictions go to memory);
* the core's tile ``t`` starts as soon as the unit's last prediction word of
  tile ``t`` has come out, and never before: the data dependency of EORS. So
  the core computes tile ``t`` while the unit speculates tile ``t + 1``.

The host's own work (packing a prediction into MASK beats) takes no simulated
time. The run's cycle count is the core's clock since reset when its last
output has left. The raw output words of both, their counters and the cycle
counts go to the JSON file named by ``out``.
"""

import json
import random

import cocotb
from cocotb.triggers import Event, FallingEdge, ReadOnly, RisingEdge

from ganforge.rtl.core import COUNTERS
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSink, StreamSource, reset, start_clock


@cocotb.test()
async def run_pipeline(dut):
    args = tb_args()
    rng = random.Random(args["seed"])
    idle, stall, timeout = args["idle"], args["stall"], args["timeout_cycles"]
    await start_clock(dut)
    dut.c_error_clear.value = 0
    dut.u_error_clear.value = 0
    await reset(dut)

    def streams(prefix):
        return (StreamSource(dut, f"{prefix}_cmd", idle=idle, rng=random.Random(rng.random())),
                StreamSource(dut, f"{prefix}_x_in", idle=idle, rng=random.Random(rng.random())),
                StreamSink(dut, f"{prefix}_o", stall=stall, rng=random.Random(rng.random())))

    u_cmd, u_x, u_sink = streams("u")
    c_cmd, c_x, c_sink = streams("c")
    unit_tiles, core_tiles = args["unit"], args["core"]
    predicted = [Event() for _ in unit_tiles]
    unit_words, core_words, core_start = [], [], []

    async def unit_outputs():
        for t, tile in enumerate(unit_tiles):
            unit_words.append(await u_sink.receive(tile["words"], timeout_cycles=timeout))
            predicted[t].set()

    async def unit_inputs():
        sending = cocotb.start_soon(u_cmd.send([w for tile in unit_tiles for w in tile["cmd"]]))
        await u_x.send([b for tile in unit_tiles for b in tile["x"]])
        await sending

    async def core_inputs():
        for t, tile in enumerate(core_tiles):
            await predicted[t].wait()
            core_start.append(int(dut.c_cycles_busy.value) + int(dut.c_cycles_idle.value))
            sending = cocotb.start_soon(c_cmd.send(tile["cmd"]))
            await c_x.send(tile["x"])
            await sending

    async def core_outputs():
        for tile in core_tiles:
            core_words.append(await c_sink.receive(tile["words"], timeout_cycles=timeout))

    tasks = [cocotb.start_soon(f()) for f in (unit_outputs, unit_inputs, core_inputs)]
    await core_outputs()
    for task in tasks:
        await task
    await ReadOnly()
    if dut.c_busy.value:
        await FallingEdge(dut.c_busy)
    await RisingEdge(dut.clk)
    await ReadOnly()
    result = {
        "unit_words": [[int(w) for w in ws] for ws in unit_words],
        "core_words": [[int(w) for w in ws] for ws in core_words],
        "cycles": int(dut.c_cycles_busy.value) + int(dut.c_cycles_idle.value),
        "core_start": core_start,
        "core": {n: int(getattr(dut, f"c_{n}").value) for n in COUNTERS + ("error",)},
        "unit": {n: int(getattr(dut, f"u_{n}").value) for n in COUNTERS + ("error",)},
    }
    with open(args["out"], "w") as f:
        json.dump(result, f)
