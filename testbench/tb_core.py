"""cocotb test bench of the generated SparseCore Verilog: runs a packed program.

The run's cycle count is the core's own: busy plus idle cycles since reset.

The program comes from :func:`ganforge.testbench.benches.simulate_program` (through
``tb_args``), already packed into port integers: the command stream (each
pass's descriptor and loads), the element beats, and the number of output
beats to collect. The two input streams are driven at once by independent
throttled sources, as two DMA channels would; the core orders them. A
throttled sink collects every output beat. The raw output words, the core's
counters and the cycle count go to the JSON file named by ``out``. An output stream
silent for ``timeout_cycles`` ends the run with an error that says what the core's
``busy`` and ``error`` registers read.
"""

import json
import random

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, First, ReadOnly, RisingEdge

from ganforge.rtl.core import COUNTERS as CORE_COUNTERS
from ganforge.rtl.core.descriptor import Error
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSink, StreamSource, reset, start_clock

COUNTERS = CORE_COUNTERS + ("error",)


def status(dut):
    """The core's status and error registers, in words."""
    code = int(dut.error.value)
    name = Error(code).name if code in Error._value2member_map_ else "unknown"
    return f"busy {int(dut.busy.value)}, error {code} ({name}), {int(dut.macs_issued.value)} MACs issued"


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
    # The two input streams run independently, as they would from two DMA channels: the
    # core orders them (a pass's beats wait for its descriptor).
    sending = [cocotb.start_soon(cmd.send(args["cmd"])), cocotb.start_soon(beats.send(args["x"]))]
    try:
        words = await sink.receive(args["words"], timeout_cycles=args["timeout_cycles"])
    except TimeoutError as exc:
        raise TimeoutError(f"{exc}; the core reads {status(dut)}") from None
    for name, task in zip(("cmd", "x_in"), sending):
        if not task.done():
            await First(task.complete, ClockCycles(dut.clk, args["timeout_cycles"]))
        if not task.done():
            raise TimeoutError(f"{name}: beats not taken {args['timeout_cycles']} cycles after the "
                               f"last output; the core reads {status(dut)}")
        task.result()                       # re-raises a failed send
    await ReadOnly()
    if dut.busy.value:
        edge = FallingEdge(dut.busy)
        if await First(edge, ClockCycles(dut.clk, args["timeout_cycles"])) is not edge:
            raise TimeoutError(f"the core stayed busy {args['timeout_cycles']} cycles after its "
                               f"last output; it reads {status(dut)}")
    await RisingEdge(dut.clk)
    await ReadOnly()
    # The core counts every cycle since reset as busy or idle: the run's length.
    cycles = int(dut.cycles_busy.value) + int(dut.cycles_idle.value)
    result = {"words": [int(w) for w in words], "cycles": cycles,
              "counters": {name: int(getattr(dut, name).value) for name in COUNTERS}}
    with open(args["out"], "w") as f:
        json.dump(result, f)
