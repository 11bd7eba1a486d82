"""cocotb: DCGAN training steps with every layer op on the accelerator, checked against the
golden training bit for bit.

The DUT is the whole :class:`~ganforge.rtl.top.system.System` as Verilog, with
cocotbext-axi's AxiRam as external memory (every AXI channel paused at random with
probability ``throttle``), or :class:`~ganforge.testbench.sim_system.SimSystem` (the
memory inside the design, at bandwidth ``rate`` and ``latency``), and AxiLiteMaster on
the registers. The training loop is the
golden model's own :func:`~ganforge.golden.train_dcgan`, with
:class:`~ganforge.firmware.schedule.device.SystemDevice` as the device of every layer:
each FP, EP and WG runs as one program on the accelerator, and the training goes on with
the accelerator's results. The loop is blocking Python: it runs under
``cocotb.task.bridge`` and reaches the simulation through ``cocotb.task.resume``.

At the end the same training runs in the golden model alone; every parameter of G and D
must be equal, bit for bit (the float master weights after Adam, which depend on every
gradient the accelerator computed).

Arguments (:func:`~ganforge.testbench.runner.tb_args`): ``system`` (the System's keyword
arguments), ``steps``, ``batch``, ``seed``, ``mode`` (``multicast``/``unicast``),
``throttle``, ``mem_size``, ``cycles`` (the budget of each program), ``rate`` and
``latency`` (with SimSystem). ``out`` (JSON) gets
``programs`` (per program: layer, phase, op, cycles, counters, tensor ``elements`` and,
with SimSystem, ``mem_bytes`` read and written by the program), ``traffic`` (what the
host moved), ``steps``, ``batch`` and ``equal`` (true).
"""

import json
import random

import cocotb
import numpy as np
from cocotb.task import bridge, resume
from cocotb.triggers import ClockCycles, RisingEdge

from ganforge.firmware.compiler.layer import SystemInfo
from ganforge.firmware.runtime.system import SystemHost
from ganforge.firmware.schedule.device import SystemDevice
from ganforge.golden.nn import Arith
from ganforge.golden.train import train_dcgan
from ganforge.rtl.refuse import unused
from ganforge.rtl.top.system import System
from ganforge.testbench.runner import tb_args
from ganforge.testbench.system_env import SystemEnv


@cocotb.test()
async def dcgan_steps(dut):
    args = tb_args()
    system = unused(System(**args["system"]))     # its parameters only
    info = SystemInfo.of(system)
    env = await SystemEnv.start(dut, info.regmap, mem_size=args["mem_size"],
                                throttle=args["throttle"], seed=args["seed"],
                                rate=tuple(args.get("rate", (1, 1))),
                                latency=args.get("latency", 1))
    host = SystemHost(env.bus, info, mem_size=args["mem_size"])
    steps, batch, seed = args["steps"], args["batch"], args["seed"]
    cycles, beats = [], []

    class Timed:
        """The host, each program's cycles (GO to the interrupt) noted."""
        traffic = host.traffic

        @staticmethod
        async def run_layer(*a, **kw):
            before = memory_beats()
            result = await host.run_layer(*a, **kw)
            await RisingEdge(dut.clk)          # the clock's watch sees the interrupt's edge
            cycles.append(env.clock.program_cycles)
            after = memory_beats()
            beats.append(None if before is None else [y - x for x, y in zip(before, after)])
            return result

    def memory_beats():
        """Beats the memory inside the design read and wrote so far (the host's backdoor
        is not counted); None with the model memory."""
        if not env.rtl_memory:
            return None
        return int(dut.mem_reads.value), int(dut.mem_writes.value)

    def log(msg):
        dut._log.info(f"progress: {msg}")

    def progress(entry):
        entry["cycles"] = cycles[-1]
        if beats[-1] is not None:
            nb = info.bus_bytes
            entry["mem_bytes"] = {"read": beats[-1][0] * nb, "written": beats[-1][1] * nb}
        c = entry["counters"]
        macs = sum(v for k, v in c.items() if k.endswith(".macs_issued"))
        log(f"program {len(device.log)}: {entry['layer']} {entry['phase']} ({entry['op']}): "
            f"{entry['cycles']} cycles, {macs} MACs")

    def call(fn, *a, **kw):
        return resume(fn)(*a, **kw)

    device = SystemDevice(Timed, call, cycles=args.get("cycles", 4_000_000), mode=args["mode"],
                          progress=progress)

    def train(dev):
        return train_dcgan(Arith(fixed=True), iterations=steps, batch=batch, seed=seed,
                           device=dev)

    log(f"{steps} step(s) of batch {batch} on {info.cores} core(s), {args['mode']}")
    got = await bridge(train)(device)
    want = train(None)
    diffs = [f"{la.name}.{k}" for net in "GD" for la, lb in zip(got[net].layers, want[net].layers)
             for k in la.params if not np.array_equal(la.params[k], lb.params[k])]
    assert not diffs, f"parameters differ from the golden training: {', '.join(diffs)}"
    log(f"parameters after {steps} step(s) equal the golden training's; "
        f"{len(device.log)} programs, host traffic {host.traffic.as_dict()}")
    await ClockCycles(dut.clk, 2)
    if args.get("out"):
        with open(args["out"], "w") as f:
            json.dump({"programs": device.log, "traffic": host.traffic.as_dict(),
                       "steps": steps, "batch": batch, "equal": True}, f)
