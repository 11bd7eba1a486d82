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
from cocotb.triggers import ClockCycles, Event, ReadOnly, RisingEdge

from ganforge.rtl.core import COUNTERS
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSink, StreamSource, reset, start_clock


def _status(dut):
    return (f"core busy {int(dut.c_busy.value)} error {int(dut.c_error.value)}, "
            f"unit busy {int(dut.u_busy.value)} error {int(dut.u_error.value)}")


class Pipeline:
    """The schedule above on the six streams; :meth:`run` plays it once, :meth:`drop`
    abandons a run that a reset interrupts."""

    def __init__(self, dut, args, rng):
        self.dut, self.args = dut, args
        idle, stall = args["idle"], args["stall"]

        def streams(prefix):
            return (StreamSource(dut, f"{prefix}_cmd", idle=idle, rng=random.Random(rng.random())),
                    StreamSource(dut, f"{prefix}_x_in", idle=idle, rng=random.Random(rng.random())),
                    StreamSink(dut, f"{prefix}_o", stall=stall, rng=random.Random(rng.random())))

        self.u_cmd, self.u_x, self.u_sink = streams("u")
        self.c_cmd, self.c_x, self.c_sink = streams("c")
        self.tasks = []

    def _spawn(self, coro):
        task = cocotb.start_soon(coro)
        self.tasks.append(task)
        return task

    async def run(self):
        """Play every tile; returns ``(unit words, core words, core start cycles)`` per tile."""
        dut, timeout = self.dut, self.args["timeout_cycles"]
        unit_tiles, core_tiles = self.args["unit"], self.args["core"]
        predicted = [Event() for _ in unit_tiles]
        unit_words, core_words, core_start = [], [], []

        async def unit_outputs():
            for t, tile in enumerate(unit_tiles):
                unit_words.append(await self.u_sink.receive(tile["words"], timeout_cycles=timeout))
                predicted[t].set()

        async def unit_inputs():
            sending = self._spawn(self.u_cmd.send([w for tile in unit_tiles for w in tile["cmd"]]))
            await self.u_x.send([b for tile in unit_tiles for b in tile["x"]])
            await sending

        async def core_inputs():
            for t, tile in enumerate(core_tiles):
                await predicted[t].wait()
                core_start.append(int(dut.c_cycles_busy.value) + int(dut.c_cycles_idle.value))
                sending = self._spawn(self.c_cmd.send(tile["cmd"]))
                await self.c_x.send(tile["x"])
                await sending

        async def core_outputs():
            for tile in core_tiles:
                core_words.append(await self.c_sink.receive(tile["words"], timeout_cycles=timeout))

        tasks = [self._spawn(f()) for f in (unit_outputs, unit_inputs, core_inputs)]
        await core_outputs()
        for task in tasks:
            await task
        await self.idle(f"the end of the pipeline's program")
        self.tasks = []
        return ([[int(w) for w in ws] for ws in unit_words],
                [[int(w) for w in ws] for ws in core_words], core_start)

    async def idle(self, what):
        """Wait, at most the bench's budget, until neither half is busy; returns at a rising
        edge, both settled."""
        dut, budget = self.dut, self.args["timeout_cycles"]
        for _ in range(budget):
            await ReadOnly()
            if not (dut.c_busy.value or dut.u_busy.value):
                break
            await RisingEdge(dut.clk)
        else:
            raise TimeoutError(f"{what}: still busy after {budget} cycles; {_status(dut)}")
        await RisingEdge(dut.clk)

    def drop(self):
        """Stop driving: cancel every task of the run, every valid and ready low."""
        for task in self.tasks:
            task.cancel()
        self.tasks = []
        for prefix in ("u", "c"):
            getattr(self.dut, f"{prefix}_cmd__valid").value = 0
            getattr(self.dut, f"{prefix}_x_in__valid").value = 0
            getattr(self.dut, f"{prefix}_o__ready").value = 0


@cocotb.test()
async def run_pipeline(dut):
    args = tb_args()
    rng = random.Random(args["seed"])
    await start_clock(dut)
    dut.c_error_clear.value = 0
    dut.u_error_clear.value = 0
    await reset(dut)
    pipe = Pipeline(dut, args, rng)
    unit_words, core_words, core_start = await pipe.run()
    await ReadOnly()
    result = {
        "unit_words": unit_words,
        "core_words": core_words,
        "cycles": int(dut.c_cycles_busy.value) + int(dut.c_cycles_idle.value),
        "core_start": core_start,
        "core": {n: int(getattr(dut, f"c_{n}").value) for n in COUNTERS + ("error",)},
        "unit": {n: int(getattr(dut, f"u_{n}").value) for n in COUNTERS + ("error",)},
        "resets": [],
    }
    await RisingEdge(dut.clk)
    for at in args.get("resets", ()):
        run = cocotb.start_soon(pipe.run())
        await ClockCycles(dut.clk, at)
        busy = [int(dut.u_busy.value), int(dut.c_busy.value)]
        run.cancel()
        pipe.drop()
        await reset(dut)
        await pipe.idle(f"the scrub after a reset at cycle {at}")
        again = await pipe.run()
        assert again[:2] == (unit_words, core_words), \
            f"reset at cycle {at}: the next run's outputs differ ({_status(dut)})"
        errors = (int(dut.u_error.value), int(dut.c_error.value))
        assert errors == (0, 0), f"reset at cycle {at}: {_status(dut)}"
        result["resets"].append({"cycle": at, "unit_busy": busy[0], "core_busy": busy[1]})
        dut._log.info(f"reset at cycle {at} (unit busy {busy[0]}, core busy {busy[1]}): "
                      f"the next run is exact")
    with open(args["out"], "w") as f:
        json.dump(result, f)
