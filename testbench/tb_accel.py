"""cocotb: conv → IN → ReLU → conv of the i2i generator on the Accelerator, FP and EP.

The DUT is :class:`ganforge.rtl.top.accelerator.Accelerator`: the sparse core
behind the ROLIN engine. External memory is cocotbext-axi's AxiRam (random
pauses on every channel with ``throttle``); the CSRs go over AXI-Lite. The
controller is the firmware's (:class:`~ganforge.firmware.runtime.host.AcceleratorHost`):
the core's command stream (descriptors and weights, from :func:`compile_op`),
each pass's input geometry, the register settings and the DMA read and write
commands; this testbench only gives it a bus (:attr:`RolinEnv.bus`). Every
input tile reaches the core through the DMA and the load path; every output
tile leaves it through the store path and the DMA.

The chain is ``T2 → T2.in → T3`` (conv 4×4/2, IN + ReLU, conv 3×3), cut to
``ci2`` input channels, ``co2`` IN channels, ``co3`` output channels and an
``hw × hw`` input (the whole layer with 16, 32, 32, 16):

FP
    1. T2 on the core, its input read in bypass; its output ``x`` stored with
       the statistics unit on (the parameter unit fills the table).
    2. T3 on the core, its input ``x`` read through the normalise unit (IN and
       ReLU); its output stored plainly.
EP
    3. T3's input gradient on the core, from T3's output error; stored with
       the statistics unit in EP mode (``x`` read beside it).
    4. T2's input gradient on the core, from the IN backward with the ReLU mask
       applied on the load path to the stored error and ``x``.

Fraction bits are chosen on the whole saved batch, as training does; the run
takes the first ``samples``. Every stored tensor is compared bit for bit with
the golden model, and the core's MAC counters with the golden work counts.
Each layer's cycles and MACs issued, and the DMA's byte counters, go to
``out`` (JSON) when given; a heartbeat logs the core's progress.
"""

import json
import random

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from ganforge.firmware.runtime.host import AcceleratorHost
from ganforge.golden import reference_result, work_counts
from ganforge.rtl.core import MAC_COUNTERS, SparseCore
from ganforge.rtl.bus.ld_adapter import geom_layout
from ganforge.testbench.rolin_env import RolinEnv, in_layer
from ganforge.testbench.rolin_ref import conv_ep, i2i_layers, in_block, in_golden
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSource, reset, start_clock

#: The accelerator's sideband ports that the bus presents as registers (no CSR yet).
PORTS = ("st_positions", "core_busy", "core_error", "ld_error", "st_error", *MAC_COUNTERS)


def _conv_params(rec):
    return dict(stride=int(rec["stride"]), padding=int(rec["padding"]), shift=int(rec["shift"]),
                activation=str(rec["activation"]), slope_shift=int(rec["slope_shift"]))


def chain_golden(samples, ci2, co2, co3, hw):
    """The golden chain on the cut layers: tensors, op parameters and the IN block."""
    L = i2i_layers()
    t2, t3, rin = L["T2"], L["T3"], L["T2.in"]
    x2 = t2["x"][:, :ci2, :hw, :hw].astype(np.int64)
    w2 = t2["w"][:co2, :ci2].astype(np.int64)
    w3 = t3["w"][:co3, :co2].astype(np.int64)
    fp2, fp3 = _conv_params(t2), _conv_params(t3)
    x, _ = reference_result("conv", {"x": x2, "w": w2}, **fp2)
    # EP: T3's output error, cut, gives dy at the IN output with batch-wide fraction bits.
    h3 = x.shape[2]
    dy3 = t3["dy"][:, :co3, :h3, :h3].astype(np.int64)
    dy_in, fdy = conv_ep(dict(t3, w=w3), dy3, x.shape[2:])
    blk = in_golden(x, rin["gamma"][:co2], rin["beta"][:co2], fx=int(rin["x_frac"]),
                    fg=int(rin["frac_gamma"]), dy_in=dy_in, fdy=fdy)
    out3, _ = reference_result("conv", {"x": blk["y"], "w": w3}, **fp3)
    dx2, f2 = conv_ep(dict(t2, w=w2, dy_frac=blk["frac_dx"]), blk["dx"], (hw, hw))
    ep3 = dict(stride=fp3["stride"], padding=fp3["padding"], input_hw=x.shape[2:],
               shift=int(t3["dy_frac"]) + int(t3["w_frac"]) - fdy)
    ep2 = dict(stride=fp2["stride"], padding=fp2["padding"], input_hw=(hw, hw),
               shift=blk["frac_dx"] + int(t2["w_frac"]) - f2)
    # The core's output stage with these shifts is the golden requantisation.
    assert np.array_equal(reference_result("conv_input_grad", {"dy": dy3, "w": w3}, **ep3)[0], dy_in)
    assert np.array_equal(reference_result("conv_input_grad", {"dy": blk["dx"], "w": w2}, **ep2)[0], dx2)
    if (ci2, co2, co3, hw) == (16, 32, 32, 16):        # the whole layers: the saved workload
        assert np.array_equal(x, rin["x"]) and np.array_equal(blk["y"], t3["x"])
        assert np.array_equal(out3, L["T3.in"]["x"]) and np.array_equal(blk["dx"], t2["dy"])
        assert blk["frac_dx"] == int(t2["dy_frac"])
        assert np.array_equal(dx2, in_block("T1.in")["dy_in"])
    S = samples
    blk = dict(blk, **{k: blk[k][:S] for k in ("x", "y", "mask", "dy_in", "dx")})
    return dict(x2=x2[:S], w2=w2, w3=w3, dy3=dy3[:S], x=x[:S], out3=out3[:S], dx2=dx2[:S], blk=blk,
                fp2=fp2, fp3=fp3, ep2=ep2, ep3=ep3)


def check_work(where, delta, op, tensors, params):
    """The core's MAC counters over a layer against the golden work counts."""
    gold = work_counts(op, tensors, **params)
    for have, want in (("dense_macs", "dense_macs"), ("macs_issued", "effective_macs"),
                       ("input_zero_skipped", "input_zero_skipped"),
                       ("zero_insertion_skipped", "zero_insertion_skipped")):
        assert delta[have] == gold[want], (where, have, delta, gold)


async def watch(dut, log, every=20000):
    """Log the core's progress every ``every`` cycles (the run's heartbeat in the log)."""
    while True:
        await ClockCycles(dut.clk, every)
        log(f"heartbeat: macs_issued {int(dut.macs_issued.value)}, core busy "
            f"{int(dut.core_busy.value)}, ld {dut.ld__valid.value}/{dut.ld__ready.value}, "
            f"x_in {dut.x_in__valid.value}/{dut.x_in__ready.value}, "
            f"st {dut.st__valid.value}/{dut.st__ready.value}")


@cocotb.test()
async def accel_chain(dut):
    args = tb_args()
    S = args["samples"]
    rng = random.Random(args["seed"])
    await start_clock(dut)
    dut.error_clear.value = 0
    dut.ld_keep_zero.value = 0
    dut.st_positions.value = 0
    dut.cmd__valid.value = 0              # the host's streams are idle through the reset
    dut.geom__valid.value = 0
    core = SparseCore(**args["core"])
    throttle = args["throttle"]
    streams = {"cmd": StreamSource(dut, "cmd", idle=throttle, rng=random.Random(rng.random())),
               "geom": StreamSource(dut, "geom", geom_layout(core.cb), idle=throttle,
                                    rng=random.Random(rng.random()))}
    env = RolinEnv(dut, mem_size=args["mem_size"], data_width=args["axi_data_width"],
                   throttle=throttle, seed=args["seed"], data_streams=False, streams=streams,
                   ports=PORTS)
    bus = env.bus
    await reset(dut)
    await bus.write("limit", args["mem_size"] - 1)

    def log(msg):
        dut._log.info(f"progress: {msg}")

    cocotb.start_soon(watch(dut, log))
    g = chain_golden(S, *args["cut"])
    blk = g["blk"]
    host = AcceleratorHost(bus, core, fifo_depth=args["fifo_depth"], bytes_per_beat=env.bpb)
    layer = in_layer(blk)
    await host.mem.put("x2", g["x2"])
    await host.mem.put("dy3", g["dy3"])
    co2 = g["w2"].shape[0]
    cycles, macs = {}, {}

    def now():
        return int(dut.cycles_busy.value) + int(dut.cycles_idle.value)

    async def phase(name, op, tensors, params, want, side, **where):
        """One layer of the chain on the accelerator: the ROLIN ``side`` (store or load) set
        up, the layer run, its cycles and MACs recorded, its work counted as the golden
        model does, and its output ``where["out"]`` compared with ``want`` bit for bit."""
        await (host.store_side if side == "store" else host.load_side)(layer, 0)
        t0 = now()
        d = await host.layer(op, tensors, params, out_shape=want.shape, **where)
        cycles[name] = now() - t0
        macs[name] = d["macs_issued"]
        log(f"{name}: {cycles[name]} cycles, {d}")
        check_work(name, d, op, tensors, params)
        if side == "store":
            await host.wait_params(S * co2)
        got = await host.mem.get(where["out"], want.shape)
        assert np.array_equal(got, want), f"{name}: {where['out']} differs from the golden model"

    # FP 1: T2, output x through the statistics unit.
    await phase("fp_T2", "conv", {"x": g["x2"], "w": g["w2"]}, g["fp2"], g["x"], "store",
                inp="x2", out="x", st="fp")
    # FP 2: T3, input through IN + ReLU on the load path.
    await phase("fp_T3", "conv", {"x": blk["y"], "w": g["w3"]}, g["fp3"], g["out3"], "load",
                inp="x", out="out3", ld=("fp", 0))
    if args["ep"]:
        # EP 1: T3's input gradient, stored through the statistics unit in EP mode.
        await phase("ep_T3", "conv_input_grad", {"dy": g["dy3"], "w": g["w3"]}, g["ep3"],
                    blk["dy_in"], "store", inp="dy3", out="dy_in", st="ep", aux="x")
        # EP 2: T2's input gradient from the IN backward (with the ReLU mask) on the load path.
        await phase("ep_T2", "conv_input_grad", {"dy": blk["dx"], "w": g["w2"]}, g["ep2"],
                    g["dx2"], "load", inp=("dy_in", "x"), out="dx2", ld=("ep", 0))
    if args.get("out"):
        with open(args["out"], "w") as f:
            json.dump({"cycles": cycles, "macs_issued": macs, **await host.counters()}, f)
