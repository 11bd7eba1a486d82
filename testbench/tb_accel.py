"""cocotb: conv → IN → ReLU → conv of the i2i generator on the Accelerator, FP and EP.

The DUT is :class:`ganforge.rtl.top.accelerator.Accelerator`: the sparse core
behind the ROLIN engine. External memory is cocotbext-axi's AxiRam (random
pauses on every channel with ``throttle``); the CSRs go over AXI-Lite. The
host (this testbench) drives what a controller would: the core's command
stream (descriptors and weights, from :func:`compile_op`), each pass's input
geometry, and the DMA read and write commands. Every input tile reaches the
core through the DMA and the load path; every output tile leaves it through
the store path and the DMA.

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
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from ganforge.firmware.compiler.core_program import Program, compile_op, reference_result, work_counts
from ganforge.rtl.core import MAC_COUNTERS, SparseCore
from ganforge.rtl.bus.ld_adapter import geom_layout
from ganforge.rtl.rolin.engine import TAG_LOAD, TAG_LOAD_AUX, TAG_STORE_AUX
from ganforge.firmware.compiler.encode import pack_program
from ganforge.testbench.rolin_env import RamRegions, RolinEnv
from ganforge.testbench.rolin_ref import conv_ep, i2i_layers, in_block, in_golden
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import StreamSource, reset, start_clock


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


class Host:
    """What a controller does: the core's commands, the pass geometries and the DMA commands."""

    def __init__(self, env, dut, core_kwargs, fifo_depth, throttle, rng, log):
        self.env, self.dut, self.log = env, dut, log
        self.core = SparseCore(**core_kwargs)
        self.lanes = self.core.lanes
        self.bpb = env.bpb
        self.fifo_depth = fifo_depth
        self.cmd = StreamSource(dut, "cmd", idle=throttle, rng=random.Random(rng.random()))
        self.geom = StreamSource(dut, "geom", geom_layout(self.core.cb), idle=throttle,
                                 rng=random.Random(rng.random()))
        self.mem = RamRegions(env.ram)
        self.mode_word = 0

    async def mode(self, ld=0, st=0, relu=1):
        await self.env.set("mode", ld | st << 2 | relu << 5)

    def counters(self):
        return {name: int(getattr(self.dut, name).value) for name in MAC_COUNTERS}

    async def layer(self, op, tensors, params, *, inp, out, out_shape, ld=None, st=None, aux=None):
        """Run ``op`` on the core, one sample per pass group, tiles in NCHW order.

        ``inp``: the input region (``tensors``' ``x`` or ``dy`` has its shape), or
        ``(main, aux)`` regions for an EP load pair. ``ld``: ``(mode, base)`` of the
        normalise unit (None: bypass). ``st``: the statistics unit's mode (None: off;
        the host set it up). ``aux``: the region the statistics unit reads beside the
        stored tiles (EP). The output goes to region ``out``.
        """
        env, lanes, bpb = self.env, self.lanes, self.bpb
        key = "x" if "x" in tensors else "dy"
        S, C, H, W = tensors[key].shape
        Co, P = out_shape[1], out_shape[2] * out_shape[3]
        assert Co % lanes == 0, "a tile fills every lane"
        self.dut.st_positions.value = P
        out_base = self.mem.region(out, int(np.prod(out_shape)) * 2)
        # Passes, one sample at a time, so tiles (sample n, channels c0 .. c0+lanes-1) leave
        # in NCHW order and the statistics unit numbers the maps as the table does.
        passes = []
        for n in range(S):
            t = {k: (v[n:n + 1] if k == key else v) for k, v in tensors.items()}
            # The store adapter writes lane l of a tile to channel c0 + l: natural order.
            prog = compile_op(op, t, lanes=lanes, weight_depth=self.core.weight_depth,
                              out_depth=self.core.out_depth, balance=False, **params)
            q0, c0 = 0, 0
            for p in prog.passes:
                assert p.desc["slots"] == 0
                passes.append((n, q0, c0, p))
                q0 += p.desc["cin"]
                if p.desc["drain"]:
                    q0, c0 = 0, c0 + lanes
        cmd, _, _ = pack_program(self.core, Program(op, [p for _, _, _, p in passes], out_shape, lanes))
        geoms = [{"cin": p.desc["cin"], "in_h": p.desc["in_h"], "in_w": p.desc["in_w"]}
                 for _, _, _, p in passes]
        tiles = [(n, c0) for n, _, c0, p in passes if p.desc["drain"]]
        writes = [{"addr": out_base + (n * Co + c0) * P * 2, "length": lanes * P * 2} for n, c0 in tiles]
        before = self.counters()
        await self.mode(ld=ld[0] if ld else 0, st=st or 0)
        if st:
            await env.set("start", 1)
        tasks = [cocotb.start_soon(self.cmd.send(cmd)), cocotb.start_soon(self.geom.send(geoms)),
                 cocotb.start_soon(env.wr_cmd.send(writes))]
        # Read commands in pass order. The normalise unit restarts at a pass whose first map
        # does not follow the previous pass's last (after that pass has gone through).
        pair = isinstance(inp, tuple)
        main = self.mem.regions[inp[0] if pair else inp]
        side = self.mem.regions[inp[1]] if pair else None
        expect, since = None, 0
        for n, q0, c0, p in passes:
            cin = p.desc["cin"]
            off = (n * C + q0) * H * W * 2
            nbytes = cin * H * W * 2
            if ld:
                entry = ld[1] + n * C + q0
                if entry != expect:
                    await self.wait_reg("ld_maps", since)
                    await env.set("ld_base", entry)
                    await env.set("start", 2)
                    since = 0
                since, expect = since + cin, entry + cin
            if pair:
                chunk = self.fifo_depth * bpb
                cmds = []
                for o in range(0, nbytes, chunk):
                    ln = min(chunk, nbytes - o)
                    cmds += [(main + off + o, ln, TAG_LOAD), (side + off + o, ln, TAG_LOAD_AUX)]
                await env.read(cmds)
            else:
                await env.read([(main + off, nbytes, TAG_LOAD)])
            if aux and p.desc["drain"]:
                # What the statistics unit reads beside the tile, right after the tile's
                # input, so it never waits behind reads the core cannot take yet.
                await env.read([(self.mem.regions[aux] + (n * Co + c0) * P * 2, lanes * P * 2,
                                 TAG_STORE_AUX)])
        for t in tasks:
            await t
        await env.wait_idle(0b11, timeout=2_000_000)
        for _ in range(100000):
            await ReadOnly()
            if not self.dut.core_busy.value:
                break
            await RisingEdge(self.dut.clk)
        await RisingEdge(self.dut.clk)
        after = self.counters()
        assert int(self.dut.core_error.value) == 0, f"{op}: core error {int(self.dut.core_error.value)}"
        assert not int(self.dut.ld_error.value) and not int(self.dut.st_error.value)
        err = await env.get("errors")
        assert err == 0, f"{op}: engine errors {err:#x}"
        # The core's MAC counters against the golden work counts.
        gold = work_counts(op, tensors, **params)
        delta = {k: after[k] - before[k] for k in MAC_COUNTERS}
        assert delta["dense_macs"] == gold["dense_macs"], (delta, gold)
        assert delta["macs_issued"] == gold["effective_macs"], (delta, gold)
        assert delta["input_zero_skipped"] == gold["input_zero_skipped"], (delta, gold)
        assert delta["zero_insertion_skipped"] == gold["zero_insertion_skipped"], (delta, gold)
        return delta

    async def wait_reg(self, name, value, timeout=200000):
        for _ in range(timeout // 16):
            if await self.env.get(name) >= value:
                return
            await ClockCycles(self.dut.clk, 8)
        raise TimeoutError(f"{name} did not reach {value}")


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
    env = RolinEnv(dut, mem_size=args["mem_size"], data_width=args["axi_data_width"],
                   throttle=args["throttle"], seed=args["seed"], data_streams=False)
    await reset(dut)
    await env.set("limit", args["mem_size"] - 1)

    def log(msg):
        dut._log.info(f"progress: {msg}")

    cocotb.start_soon(watch(dut, log))
    g = chain_golden(S, *args["cut"])
    blk = g["blk"]
    host = Host(env, dut, args["core"], args["fifo_depth"], args["throttle"], rng, log)
    host.mem.put("x2", g["x2"])
    host.mem.put("dy3", g["dy3"])
    co2 = g["w2"].shape[0]
    cycles, macs = {}, {}

    def stamp(name, t0, delta):
        cycles[name] = int(dut.cycles_busy.value) + int(dut.cycles_idle.value) - t0
        macs[name] = delta["macs_issued"]
        log(f"{name}: {cycles[name]} cycles, {delta}")

    def now():
        return int(dut.cycles_busy.value) + int(dut.cycles_idle.value)

    # FP 1: T2, output x through the statistics unit.
    await env.store_side(blk, 0)
    t0 = now()
    d = await host.layer("conv", {"x": g["x2"], "w": g["w2"]}, g["fp2"], inp="x2", out="x",
                         out_shape=g["x"].shape, st=1)
    stamp("fp_T2", t0, d)
    await host.wait_reg("param_maps", S * co2)
    assert np.array_equal(host.mem.get("x", g["x"].shape), g["x"]), "FP T2: stored x"
    # FP 2: T3, input through IN + ReLU on the load path.
    await env.load_side(blk, 0)
    t0 = now()
    d = await host.layer("conv", {"x": blk["y"], "w": g["w3"]}, g["fp3"], inp="x", out="out3",
                         out_shape=g["out3"].shape, ld=(1, 0))
    stamp("fp_T3", t0, d)
    assert np.array_equal(host.mem.get("out3", g["out3"].shape), g["out3"]), "FP T3: output"
    if args["ep"]:
        # EP 1: T3's input gradient, stored through the statistics unit in EP mode.
        await env.store_side(blk, 0)
        t0 = now()
        d = await host.layer("conv_input_grad", {"dy": g["dy3"], "w": g["w3"]}, g["ep3"], inp="dy3",
                             out="dy_in", out_shape=blk["dy_in"].shape, st=2, aux="x")
        stamp("ep_T3", t0, d)
        await host.wait_reg("param_maps", S * co2)
        assert np.array_equal(host.mem.get("dy_in", blk["dy_in"].shape), blk["dy_in"]), "EP T3: dy"
        # EP 2: T2's input gradient from the IN backward (with the ReLU mask) on the load path.
        await env.load_side(blk, 0)
        t0 = now()
        d = await host.layer("conv_input_grad", {"dy": blk["dx"], "w": g["w2"]}, g["ep2"],
                             inp=("dy_in", "x"), out="dx2", out_shape=g["dx2"].shape, ld=(2, 0))
        stamp("ep_T2", t0, d)
        assert np.array_equal(host.mem.get("dx2", g["dx2"].shape), g["dx2"]), "EP T2: input gradient"
    if args.get("out"):
        with open(args["out"], "w") as f:
            json.dump({"cycles": cycles, "macs_issued": macs,
                       "rd_bytes": await env.get("rd_bytes"), "wr_bytes": await env.get("wr_bytes")}, f)
