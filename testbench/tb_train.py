"""cocotb: training steps with every layer op on the accelerator, checked against the
golden model bit for bit: ``dcgan_steps`` (the DCGAN's training) and ``retrain_steps``
(a pretrained translator retrained on a user's data with frozen layers, issue 15).

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

``retrain_steps`` takes ``pretrained`` (a pickle of the device-mode network), ``pairs``
(an .npz of ``src`` and ``clean``), ``trainable``, ``steps``, ``batch``, ``seed`` and
``lr``, and compares the network's parameters after the steps with the golden retraining's.
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


async def _system_device(dut, args):
    """The System with its memory, a host, and a :class:`SystemDevice` whose programs are
    timed (cycles from GO to the interrupt; with SimSystem the memory's bytes) and logged.
    Returns ``(host, device, log)``."""
    system = unused(System(**args["system"]))     # its parameters only
    info = SystemInfo.of(system)
    env = await SystemEnv.start(dut, info.regmap, mem_size=args["mem_size"],
                                throttle=args["throttle"], seed=args["seed"],
                                rate=tuple(args.get("rate", (1, 1))),
                                latency=args.get("latency", 1))
    host = SystemHost(env.bus, info, mem_size=args["mem_size"])
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
    log(f"{info.cores} core(s), {args['mode']}")
    return host, device, log


def _differing(got, want):
    """Names of the parameters of two lists of networks that are not equal."""
    return [f"{la.name}.{k}" for g, w in zip(got, want) for la, lb in zip(g.layers, w.layers)
            for k in la.params if not np.array_equal(la.params[k], lb.params[k])]


def _write(args, device, host, **extra):
    if args.get("out"):
        with open(args["out"], "w") as f:
            json.dump({"programs": device.log, "traffic": host.traffic.as_dict(), "equal": True,
                       **extra}, f)


@cocotb.test()
async def dcgan_steps(dut):
    args = tb_args()
    host, device, log = await _system_device(dut, args)
    steps, batch, seed = args["steps"], args["batch"], args["seed"]

    def train(dev):
        return train_dcgan(Arith(fixed=True), iterations=steps, batch=batch, seed=seed,
                           device=dev)

    log(f"{steps} DCGAN step(s) of batch {batch}")
    got = await bridge(train)(device)
    want = train(None)
    diffs = _differing([got["G"], got["D"]], [want["G"], want["D"]])
    assert not diffs, f"parameters differ from the golden training: {', '.join(diffs)}"
    log(f"parameters after {steps} step(s) equal the golden training's; "
        f"{len(device.log)} programs, host traffic {host.traffic.as_dict()}")
    await ClockCycles(dut.clk, 2)
    _write(args, device, host, steps=steps, batch=batch)


@cocotb.test()
async def retrain_steps(dut):
    """Retraining steps of a pretrained device-mode translator on the user's pairs
    (:func:`~ganforge.golden.retrain.retrain`) with every convolution's op a program: the
    frozen prefix's FP once per pair, then each step's FP, EP and WG of the trainable
    suffix. The instance norms and the update run in the golden model (the host)."""
    import copy
    import pickle
    from ganforge.golden.retrain import retrain
    args = tb_args()
    with open(args["pretrained"], "rb") as f:
        base = pickle.load(f)
    data = np.load(args["pairs"])
    pairs = (data["src"], data["clean"])
    host, device, log = await _system_device(dut, args)
    trainable, steps, batch = args["trainable"], args["steps"], args["batch"]

    def run(dev):
        net = copy.deepcopy(base)
        for layer in net.layers:
            if hasattr(layer, "device"):
                layer.device = dev
        retrain(net, pairs, trainable, steps, batch=batch, lr=args["lr"], seed=args["seed"])
        return net

    log(f"{steps} retraining step(s) of batch {batch} on {len(pairs[0])} pairs, "
        f"trainable {', '.join(trainable)}")
    got = await bridge(run)(device)
    want = run(None)
    diffs = _differing([got], [want])
    assert not diffs, f"parameters differ from the golden retraining: {', '.join(diffs)}"
    log(f"parameters after {steps} step(s) equal the golden retraining's; {len(device.log)} programs")
    await ClockCycles(dut.clk, 2)
    _write(args, device, host, steps=steps, batch=batch, trainable=trainable)
