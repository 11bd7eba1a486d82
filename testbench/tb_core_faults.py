"""cocotb: faults on the generated SparseCore Verilog — refused descriptors, the sticky
error, ``error_clear`` and ``irq``, and resets in the middle of a pass.

Arguments (:func:`~ganforge.testbench.runner.tb_args`, port integers packed by the
caller):

``good``
    ``{"cmd", "x", "words"}``: a program that drains ``words`` output beats.
``faults``
    ``[{"name", "cmd", "x", "code"}]``: a bad pass each (its command beats and its input
    beats up to ``end``) and the error code the core must report.
``resets``
    Cycles after the good program's start at which ``rst`` is asserted for 2 cycles, one
    run each, the streams cut off at once.
``timeout_cycles``
    The budget of every wait.

The run:

1. the good program, its output words recorded (``reference``);
2. per fault: the bad pass, then a wait for the core to go idle; ``error`` must read the
   fault's code and ``irq`` 1; a second bad pass (the next fault's, or the first's) must
   leave the first code in place (the first error sticks); a pulse on ``error_clear``
   must bring ``error`` and ``irq`` to 0; then the good program again, whose words must
   equal ``reference``;
3. per reset: the good program started, ``rst`` for 2 cycles at the given cycle with
   every stream dropped, a wait for the core to clear its accumulators (its scrub after a
   reset), then the good program again from the start: ``error`` 0 and the words equal
   to ``reference``.

``out`` gets ``reference`` (the words; the caller compares them with the golden model),
``faults`` (per fault: ``name``, ``error``, ``irq``, ``sticky``, ``cleared``) and
``resets`` (per reset: the cycle, and whether the core was busy when it came).
"""

import json
import random

import cocotb
from cocotb.triggers import ClockCycles, FallingEdge, First, ReadOnly, RisingEdge

from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSink, StreamSource, reset, start_clock
from ganforge.testbench.tb_core import status


async def idle(dut, budget, what):
    """Wait (at most ``budget`` cycles) until the core is not busy; returns at a rising
    edge (a phase where the bench may drive signals), the core idle and settled."""
    await ReadOnly()
    if dut.busy.value:
        edge = FallingEdge(dut.busy)
        if await First(edge, ClockCycles(dut.clk, budget)) is not edge:
            raise TimeoutError(f"{what}: the core stayed busy {budget} cycles; it reads "
                               f"{status(dut)}")
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)


class Streams:
    """The core's three streams, throttled at random; ``send`` runs a program to its end."""

    def __init__(self, dut, rng, budget):
        self.dut, self.rng, self.budget = dut, rng, budget
        self.cmd = StreamSource(dut, "cmd", idle=0.2, rng=random.Random(rng.random()))
        self.x = StreamSource(dut, "x_in", idle=0.2, rng=random.Random(rng.random()))
        self.o = StreamSink(dut, "o", stall=0.2, rng=random.Random(rng.random()))

    def start(self, cmd, x):
        return [cocotb.start_soon(self.cmd.send(cmd)), cocotb.start_soon(self.x.send(x))]

    async def finish(self, tasks, what):
        for task in tasks:
            if not task.done():
                await First(task.complete, ClockCycles(self.dut.clk, self.budget))
            if not task.done():
                raise TimeoutError(f"{what}: input beats not taken in {self.budget} cycles; the "
                                   f"core reads {status(self.dut)}")
            task.result()

    async def run(self, prog, what):
        tasks = self.start(prog["cmd"], prog["x"])
        words = await self.o.receive(prog["words"], timeout_cycles=self.budget)
        await self.finish(tasks, what)
        await idle(self.dut, self.budget, what)
        return [int(w) for w in words]

    def drop(self, tasks):
        """Stop driving: cancel the senders, every valid and ready low."""
        for task in tasks:
            task.cancel()
        self.dut.cmd__valid.value = 0
        self.dut.x_in__valid.value = 0
        self.dut.o__ready.value = 0


@cocotb.test()
async def core_faults(dut):
    args = tb_args()
    budget = args["timeout_cycles"]
    rng = random.Random(args["seed"])
    await start_clock(dut)
    dut.error_clear.value = 0
    await reset(dut)
    s = Streams(dut, rng, budget)
    good = args["good"]
    reference = await s.run(good, "the good program")
    assert int(dut.error.value) == 0, f"the good program set error: {status(dut)}"

    faults = []
    for k, fault in enumerate(args["faults"]):
        what = f"fault {fault['name']}"
        await s.finish(s.start(fault["cmd"], fault["x"]), what)
        await idle(dut, budget, what)
        code, irq = int(dut.error.value), int(dut.irq.value)
        assert code == fault["code"] and irq == 1, \
            f"{what}: error {code} (want {fault['code']}), irq {irq}"
        other = args["faults"][(k + 1) % len(args["faults"])]
        await s.finish(s.start(other["cmd"], other["x"]), what)
        await idle(dut, budget, what)
        sticky = int(dut.error.value)
        assert sticky == fault["code"], f"{what}: a second bad pass changed error to {sticky}"
        await RisingEdge(dut.clk)
        dut.error_clear.value = 1
        await RisingEdge(dut.clk)
        dut.error_clear.value = 0
        await RisingEdge(dut.clk)
        await RisingEdge(dut.clk)
        cleared = (int(dut.error.value), int(dut.irq.value))
        assert cleared == (0, 0), f"{what}: error_clear left error, irq = {cleared}"
        after = await s.run(good, f"the good program after {what}")
        assert after == reference, f"{what}: the good program's outputs changed after it"
        faults.append(dict(name=fault["name"], error=code, irq=irq, sticky=sticky,
                           cleared=list(cleared)))
        dut._log.info(f"{what}: error {code}, irq {irq}; sticky, cleared; the next run is exact")

    resets = []
    for at in args["resets"]:
        await RisingEdge(dut.clk)
        tasks = s.start(good["cmd"], good["x"])
        dut.o__ready.value = 1
        await ClockCycles(dut.clk, at)
        busy = int(dut.busy.value)
        s.drop(tasks)
        await reset(dut)
        await idle(dut, budget, f"the scrub after a reset at cycle {at}")
        assert int(dut.error.value) == 0, f"reset at cycle {at}: the core reads {status(dut)}"
        after = await s.run(good, f"the good program after a reset at cycle {at}")
        assert after == reference, f"reset at cycle {at}: the next run's outputs differ"
        assert int(dut.error.value) == 0, f"reset at cycle {at}: {status(dut)}"
        resets.append(dict(cycle=at, busy=busy))
        dut._log.info(f"reset at cycle {at} (busy {busy}): the next run is exact")

    with open(args["out"], "w") as f:
        json.dump({"reference": reference, "faults": faults, "resets": resets}, f)
