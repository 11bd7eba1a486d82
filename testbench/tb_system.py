"""cocotb: layer programs on the whole accelerator, the
:class:`~ganforge.rtl.top.system.System` (command processor, ROLIN engine, cluster of
sparse cores), as generated Verilog.

External memory is cocotbext-axi's AxiRam on the ``axi__*`` port, every channel (AW, W,
B, AR, R) paused at random with probability ``throttle``, or, when the DUT is a
:class:`~ganforge.testbench.sim_system.SimSystem`, the AxiRam inside the design at
bandwidth ``rate`` (``[num, den]`` beats a cycle) and ``latency``; the registers go over
cocotbext-axi's AxiLiteMaster on ``csr__*``. The host is the firmware's
(:class:`~ganforge.firmware.runtime.system.SystemHost`): it only writes memory and the
processor's registers, then waits for ``irq``. Every core command beat, load, store and
register setting comes from the one program :class:`~ganforge.firmware.compiler.layer.LayerPlan`
compiles from all of ``layers``.

Arguments (``GANFORGE_TB_ARGS``, :func:`~ganforge.testbench.runner.tb_args`):

``system``
    The keyword arguments of the System (rebuilt here, unelaborated, for
    :meth:`SystemInfo.of <ganforge.firmware.compiler.layer.SystemInfo.of>`).
``layers``
    Layer specs, run in order in one program: ``layer`` (a layer of
    :func:`~ganforge.testbench.rolin_ref.i2i_layers`, as trained), ``samples``, ``cin``,
    ``cout``, ``hw`` (the cut), ``group`` (core indices) and ``mode`` (``multicast`` or
    ``unicast``). Each takes its input as trained (after IN and ReLU) cut to
    ``[:samples, :cin, :hw, :hw]``, and ReLU as its activation.
``throttle``, ``seed``, ``mem_size``
    The AXI pause probability, the random seed, the bytes of memory (the processor's
    window).
``rate``, ``latency``
    Optional, with SimSystem: the memory's bandwidth and latency.
``cycles``, ``budget``
    Optional: the most cycles to wait for the interrupt, the processor's no-progress
    budget.
``resets``
    Optional: cycles after GO at which ``rst`` is asserted (4 cycles) in a second run of
    the program, one run each; after each, the program runs again and must be bit-exact,
    write nothing outside its outputs and retire as many instructions.
``aborts``
    Optional: the same with the host writing ``CTRL.abort`` instead of ``rst``: the run must
    stop with ``ABORTED``, and the system clears itself for the next one.

Every output is compared bit for bit with :func:`~ganforge.golden.reference_result`, the
cores' MAC counters summed over cores with :func:`~ganforge.golden.work_counts` summed
over layers, the inputs must be left intact, and no block may report an error. ``out``
(JSON) gets ``cycles`` (clock cycles from the ``CTRL.go`` write to the interrupt),
``counters`` (the program's counters by name, as :meth:`SystemHost.run` returns them),
``retired`` (instructions) and ``layers`` (per layer: the output's shape, and its input's
bytes). A heartbeat logs the cycles elapsed every 20000 cycles.
"""

import json

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles, RisingEdge, Timer

from ganforge.firmware.compiler.layer import SystemInfo
from ganforge.firmware.runtime.processor import ProgramError
from ganforge.firmware.runtime.system import SystemHost
from ganforge.golden import reference_result, work_counts
from ganforge.rtl.control.isa import Error
from ganforge.rtl.refuse import unused
from ganforge.rtl.top.system import System
from ganforge.testbench.rolin_ref import i2i_layers
from ganforge.testbench.runner import tb_args
from ganforge.testbench.system_env import SystemEnv

#: The cores' counters summed over cores, and the golden work count each must equal.
WORK = (("dense_macs", "dense_macs"), ("macs_issued", "effective_macs"),
        ("input_zero_skipped", "input_zero_skipped"))
#: The cluster's counters (snapshot end values, equal to its registers after the program).
CLUSTER = ("ld_bytes", "mcast_bytes", "stored")
HEARTBEAT = 20000
def layer_cut(name, samples, cin, cout, hw):
    """``(op, tensors, params)`` of a cut of the image-to-image generator's layer ``name``:
    its input as trained (after IN and ReLU) and its weights, ReLU as activation (as
    ``t3_cut`` in tests/test_system.py)."""
    rec = i2i_layers()[name]
    op = str(rec["op"])
    x = rec["x"][:samples, :cin, :hw, :hw].astype(np.int64)
    # conv: (Cout, Cin, k, k); conv_transpose: (Cin, Cout, k, k)
    w = (rec["w"][:cin, :cout] if op == "conv_transpose" else rec["w"][:cout, :cin]).astype(np.int64)
    params = dict(stride=int(rec["stride"]), padding=int(rec["padding"]), shift=int(rec["shift"]),
                  activation="relu", slope_shift=int(rec["slope_shift"]))
    return op, {"x": x, "w": w}, params


@cocotb.test()
async def system_layers(dut):
    args = tb_args()
    system = unused(System(**args["system"]))     # its parameters only
    info = SystemInfo.of(system)
    mem_size = args["mem_size"]

    env = await SystemEnv.start(dut, info.regmap, mem_size=mem_size, throttle=args["throttle"],
                                seed=args["seed"], rate=tuple(args.get("rate", (1, 1))),
                                latency=args.get("latency", 1))
    bus, clock = env.bus, env.clock

    def log(msg):
        dut._log.info(f"progress: {msg}")

    async def heartbeat():
        while True:
            await Timer(HEARTBEAT * env.bus.period_ns, unit="ns")
            if clock.go is None:
                log(f"{clock.now} cycles since reset, program not started")
            elif clock.irq is None:
                log(f"{clock.now - clock.go} cycles since GO, irq {int(dut.irq.value)}")


    host = SystemHost(bus, info, mem_size=mem_size)
    layers = []
    for k, spec in enumerate(args["layers"]):
        op, tensors, params = layer_cut(spec.get("layer", "T3"), spec["samples"], spec["cin"],
                                        spec["cout"], spec["hw"])
        want, _ = reference_result(op, tensors, **params)
        await host.mem.put(f"in{k}", tensors["x"])
        host.mem.region(f"out{k}", want.size * 2)
        layers.append(dict(op=op, tensors=tensors, params=params, want=want, spec=spec))
        log(f"layer {k}: {op} {tensors['x'].shape} -> {want.shape} on cores {spec['group']}, "
            f"{spec['mode']}")
    if host.mem.next_addr > mem_size:
        raise ValueError(f"the layers need {host.mem.next_addr} bytes of memory, above {mem_size}")

    def program():
        """The one program of every layer (built afresh: a plan is finished once)."""
        plan = host.plan()
        for k, L in enumerate(layers):
            plan.layer(L["op"], L["tensors"], L["params"], addrs={"x": host.mem.regions[f"in{k}"]},
                       out=host.mem.regions[f"out{k}"], out_shape=L["want"].shape,
                       group=list(L["spec"]["group"]), mode=L["spec"]["mode"])
        return plan

    async def check_memory(when):
        """Bit-exact outputs, nothing written past them (to the next 4 KiB), untouched inputs."""
        for k, L in enumerate(layers):
            got = await host.mem.get(f"out{k}", L["want"].shape)
            end = host.mem.regions[f"out{k}"] + L["want"].size * 2
            tail = await bus.get(end, -end % 4096)
            assert not any(tail), f"{when}: layer {k}: bytes written past its output at {end:#x}"
            if not np.array_equal(got, L["want"]):
                bad = np.argwhere(got != L["want"])
                raise AssertionError(
                    f"{when}: layer {k} ({L['op']}): {len(bad)} of {got.size} outputs differ from "
                    f"the golden model; first at {tuple(int(i) for i in bad[0])}: got "
                    f"{got[tuple(bad[0])]}, want {L['want'][tuple(bad[0])]}")
            x = L["tensors"]["x"]
            assert np.array_equal(await host.mem.get(f"in{k}", x.shape), x), \
                f"{when}: layer {k}: input clobbered"

    async def no_errors(when):
        """No block reports an error (a program error raised ProgramError in host.run)."""
        status = await bus.read_fields("cp_status")
        assert status["done"] and not status["error"], (when, status)
        assert await bus.read("engine_errors") == 0, (when, await bus.read_fields("engine_errors"))
        assert await bus.read("cluster_errors") == 0, (when, await bus.read_fields("cluster_errors"))

    cycles, budget = args.get("cycles", 2_000_000), args.get("budget", 20_000)
    retired, counters = await host.run(program(), cycles=cycles, budget=budget)
    await RisingEdge(dut.clk)                 # watch_irq sees the edge it waited for
    ran = clock.program_cycles
    log(f"program done: {retired} instructions, {ran} cycles from GO to the interrupt")
    await no_errors("the program")
    await check_memory("the program")

    # The cores' work adds up to the golden work counts; the cluster's counters equal its
    # registers.
    gold = {}
    for L in layers:
        for key, value in work_counts(L["op"], L["tensors"], **L["params"]).items():
            gold[key] = gold.get(key, 0) + value
    for have, wanted in WORK:
        total = sum(counters[f"core{c}.{have}"] for c in range(info.cores))
        assert total == gold[wanted], (have, total, gold[wanted], counters)
    regs = {name: await bus.read(f"cluster_{name}") for name in CLUSTER}
    assert {k: counters[k] for k in CLUSTER} == regs, (regs, counters)

    async def abort():
        await host.cp.abort()
        try:
            await host.cp.wait(cycles=cycles)
        except ProgramError as exc:
            assert exc.code == Error.ABORTED, f"an ABORT stopped the program with {exc}"
        else:
            raise AssertionError("the program ended before its ABORT")

    # Resets (``rst`` for 4 cycles) and ABORTs in the middle of the program: the outputs
    # cleared, the program started, the interruption at the given cycle after GO, then the
    # program again from the start.
    resets, aborts = [], []
    for kind, at, interrupt, done in (
            [("reset", at, env.reset, resets) for at in args.get("resets", ())]
            + [("ABORT", at, abort, aborts) for at in args.get("aborts", ())]):
        for k, L in enumerate(layers):
            await bus.put(host.mem.regions[f"out{k}"], bytes(L["want"].size * 2))
        await host.load(program(), budget=budget)
        await host.cp.start(host.program_base)
        await ClockCycles(dut.clk, at)
        busy = (await bus.read_fields("cp_status"))["busy"]
        await interrupt()
        retired_again, _ = await host.run(program(), cycles=cycles, budget=budget)
        await no_errors(f"the program after a {kind} at cycle {at}")
        await check_memory(f"the program after a {kind} at cycle {at}")
        assert retired_again == retired, (kind, at, retired_again, retired)
        done.append(dict(cycle=at, busy=busy))
        log(f"{kind} at cycle {at} of the program (busy {busy}): the next run is bit-exact")

    if args.get("out"):
        with open(args["out"], "w") as f:
            json.dump({"cycles": ran, "counters": counters, "retired": retired, "resets": resets,
                       "aborts": aborts,
                       "layers": [{"out_shape": list(L["want"].shape),
                                   "in_bytes": int(L["tensors"]["x"].size * 2)} for L in layers]},
                      f)
