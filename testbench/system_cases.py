"""Layers on the whole system in the Amaranth simulator, for the tests and the benches:
:func:`run_layers` compiles layers into one program
(:class:`~ganforge.firmware.compiler.layer.LayerPlan`), runs it against
:class:`~.axi_mem.AxiMemory` and reads everything back. The layer cuts it runs are in
:mod:`ganforge.bench.system_cases`.
"""

import random

import numpy as np
from amaranth.sim import Simulator

from ganforge.firmware.compiler.layer import SystemInfo, result_elements, unpad
from ganforge.firmware.runtime.processor import ProgramError
from ganforge.firmware.runtime.system import SystemHost
from ganforge.rtl.control.isa import Error

from .amaranth_bus import AmaranthBus
from .axi_mem import AxiMemory

__all__ = ["MEM", "run_layers"]

MEM = 1 << 21


def run_layers(system, layers, *, branches=None, parallel=False, seed=0, stall=0.2,
               cycles=400_000, budget=20_000, aborts=()):
    """Run ``layers`` as one program; returns their outputs (``out``), the snapshot's
    counters, the cluster's counter registers, ``retired`` and ``busy``: the cycles the
    command processor ran.

    ``layers``: dicts of :meth:`LayerPlan.layer`'s arguments (``op``, ``tensors``,
    ``params``, ``group``, ``mode``, ``out_channels``), the golden result ``want``, and
    optionally ``input_of``: the index of an earlier layer whose result region this layer
    streams instead of its own ``x`` (the region is filled with garbage first, so only the
    earlier layer's writes make it right).

    ``branches``: lists of steps, each a layer's index, ``("wait_idle", cores, writes)``,
    ``("signal", event)`` or ``("wait_event", event, count)``; default: one branch per
    layer. With ``parallel`` each branch runs in a thread of its own
    (:meth:`LayerPlan.parallel`), else the branches' steps run in one thread, in order.

    ``aborts``: cycle counts; for each, the program starts and the host writes ``ABORT``
    that many cycles after GO (each must stop with ``ABORTED``; ``got["aborted_at"]`` holds
    the instruction address of each) before the program runs to its end.
    """
    info = SystemInfo.of(system)
    mem = AxiMemory(system.axi, MEM, rng=random.Random(seed), stall=stall)
    bus = AmaranthBus(system, system.regmap, memory=mem, timeout=cycles)
    branches = branches if branches is not None else [[k] for k in range(len(layers))]
    got = {"busy": 0}

    async def bench(ctx):
        host = SystemHost(bus, info, mem_size=MEM)
        plan = host.plan()
        addrs, out_bytes = [], []
        for k, L in enumerate(layers):
            want = L["want"]
            oc = L.get("out_channels") or want.shape[1]
            out_bytes.append(result_elements(L["op"], (want.shape[0], oc, *want.shape[2:]),
                                             info.bus_bytes // 2) * 2)
            host.mem.region(f"out{k}", out_bytes[k])
            if "input_of" in L:
                src = L["input_of"]
                await bus.put(host.mem.regions[f"out{src}"], b"\x77" * out_bytes[src])
                addrs.append({"x": host.mem.regions[f"out{src}"]})
                continue
            addrs.append({})
            for name in ("x", "dy"):
                if name in L["tensors"]:
                    await host.mem.put(f"{name}{k}", L["tensors"][name])
                    addrs[k][name] = host.mem.regions[f"{name}{k}"]

        def step(p, s):
            if isinstance(s, int):
                L = layers[s]
                blocks[s] = p.layer(L["op"], L["tensors"], L["params"], addrs=addrs[s],
                        out=host.mem.regions[f"out{s}"], out_shape=L["want"].shape,
                        group=L["group"], mode=L.get("mode", "multicast"),
                        out_channels=L.get("out_channels"))
            elif s[0] == "wait_idle":
                p.wait_idle(s[1], writes=s[2])
            else:
                getattr(p, s[0])(*s[1:])

        blocks = {}                 # layer -> its result's padded blocks (LayerPlan.blocks)

        def branch(steps):
            return lambda p: [step(p, s) for s in steps]
        if parallel:
            plan.parallel(*map(branch, branches))
        else:
            for steps in branches:
                branch(steps)(plan)
        await host.load(plan, budget=budget)
        got["aborted_at"] = []
        for n in aborts:
            await host.cp.start(host.program_base)
            await bus.wait_cycles(n)
            await host.cp.abort()
            try:
                await host.cp.wait(cycles=cycles)
            except ProgramError as exc:
                if exc.code != Error.ABORTED:
                    raise
                got["aborted_at"].append(exc.pc)
            else:
                raise AssertionError(f"the program ended before its ABORT at cycle {n}")
        got["retired"], got["counters"] = await host.run_loaded(cycles=cycles)
        got["out"] = []
        for k, L in enumerate(layers):
            shape = L["want"].shape
            oc = L.get("out_channels") or shape[1]
            full = (shape[0], oc, *shape[2:])
            raw = await host.mem.get(f"out{k}", (out_bytes[k] // 2,))
            got["out"].append(unpad(raw, blocks.get(k), full)[:, :shape[1]])
        got["cluster"] = {name: await bus.read(f"cluster_{name}")
                          for name in ("ld_bytes", "mcast_bytes", "stored")}

    async def busy(ctx):
        async for _, _, b in ctx.tick().sample(system.processor.busy):
            got["busy"] += b

    sim = Simulator(system)
    sim.add_clock(1e-8)
    sim.add_process(mem.process)
    sim.add_process(busy)
    bus.add_testbench(sim, bench)
    sim.run()
    got["mem"] = mem
    return got
