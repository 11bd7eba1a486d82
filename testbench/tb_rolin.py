"""cocotb: the i2i generator's FP and EP through RolinEngine, ROLIN on and off.

External memory is cocotbext-axi's AxiRam. The convolutions themselves are
computed by the golden model in this testbench (the "core"): it receives the
load path's beats, convolves them, and sends the result into the store path.
Everything that crosses external memory goes through the RTL DMA, and every
byte count comes from its counters (CSRs).

The network: ``T1 → T1.in → T2 → T2.in → T3 → T3.in → T4 → T4.in → T5``
(conv → IN → ReLU blocks). Per conv layer ``Tk``:

ROLIN on
    FP: read the weights; read the input — the image for T1, else the
    previous IN's *input* ``x`` through the normalise unit (FP mode, ReLU) —
    then store the output ``x`` through the statistics unit (the parameter
    unit fills the table as maps complete).
    EP: read the weights; read the error at the output — T5's loss gradient,
    else the IN's stored error ``dy`` and input ``x`` (interleaved) through
    the normalise unit in EP mode, which applies the ReLU mask and the IN
    backward — then store the conv's EP result through the statistics unit
    in EP mode (which reads the previous IN's ``x`` beside it).
ROLIN off (IN as separate passes)
    FP: read weights and input (plain), store ``x``; a statistics pass reads
    ``x``; a normalise pass reads ``x`` and stores ``y``; the next conv reads ``y``.
    EP: read weights and the stored ``dx`` (plain), store the conv's EP result
    ``dy``; a statistics pass reads ``dy`` and ``x``; a correction pass reads
    ``dy`` and ``x`` and stores ``dx``; the next conv reads ``dx``.

Every load-path output is compared bit for bit with the golden model
(:mod:`ganforge.testbench.rolin_ref`), and the results of the chain with the
saved workload. The counts go to ``GANFORGE_TB_ARGS``'s ``out`` JSON file.
"""

import json

import cocotb
import numpy as np

from ganforge import golden as G
from ganforge.firmware.runtime.host import EngineHost
from ganforge.rtl.rolin.engine import TAG_LOAD, TAG_STORE_AUX
from ganforge.testbench.rolin_env import RolinEnv, in_layer
from ganforge.testbench.rolin_ref import IN_BLOCKS, WIDTH, conv_fp, i2i_layers, in_block
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import reset, start_clock

CONVS = ["T1", "T2", "T3", "T4", "T5"]


def to_words(arr, bpb):
    raw = np.ascontiguousarray(arr, dtype="<i2").tobytes()
    return [int.from_bytes(raw[i:i + bpb], "little") for i in range(0, len(raw), bpb)]


class Flow:
    """The flow's control: the firmware's engine control (:class:`EngineHost`) for every
    register and DMA command, and the golden model as the core on ``st`` and ``ld``."""

    def __init__(self, env, dut, samples, fifo_depth, log):
        self.env, self.dut, self.S = env, dut, samples
        self.bpb = env.bpb
        self.lanes = self.bpb // 2
        self.host = EngineHost(env.bus, fifo_depth=fifo_depth, bytes_per_beat=self.bpb)
        self.mem = self.host.mem
        self.log = log
        self.layers = i2i_layers()
        self.blocks = {name: in_block(name) for _, name, _ in IN_BLOCKS}
        self.settings = {name: in_layer(b) for name, b in self.blocks.items()}
        base = 0
        self.base = {}
        for _, name, _ in IN_BLOCKS:
            self.base[name] = base
            base += samples * self.blocks[name]["x"].shape[1]

    # --- engine helpers ---------------------------------------------------------
    async def mode(self, ld="bypass", st="off", discard=False):
        await self.host.mode(ld=ld, st=st, discard=discard)

    async def load(self, cmds, nbytes):
        """Issue read commands and return ``(int16 values, mask bits)`` from the load path."""
        cocotb.start_soon(self.host.dma_read(cmds))
        beats = nbytes // self.bpb
        got = await self.env.ld.receive(beats)
        mask_shift = 8 * self.bpb
        data = b"".join((w & ((1 << mask_shift) - 1)).to_bytes(self.bpb, "little") for w in got)
        masks = np.array([(w >> (mask_shift + n)) & 1 for w in got for n in range(self.lanes)])
        return np.frombuffer(data, dtype="<i2").astype(np.int64), masks

    async def load_plain(self, name, shape):
        n = int(np.prod(shape)) * 2
        vals, _ = await self.load([(self.mem.regions[name], n, TAG_LOAD)], n)
        return vals.reshape(shape)

    async def load_pair(self, main, aux, shape):
        """EP load: the error and the stored IN input, interleaved in FIFO-sized chunks."""
        n = int(np.prod(shape)) * 2
        vals, masks = await self.load(self.host.pair(main, aux, n), n)
        return vals.reshape(shape), masks.reshape(shape)

    async def store(self, name, arr, discard=False, aux=None):
        """Send ``arr`` into the store path (written to region ``name`` unless ``discard``)."""
        raw_len = arr.size * 2
        if aux is not None:
            cocotb.start_soon(self.host.dma_read([(self.mem.regions[aux], raw_len, TAG_STORE_AUX)]))
        if not discard:
            cocotb.start_soon(self.host.dma_write([(self.mem.region(name, raw_len), raw_len)]))
        await self.env.st.send(to_words(arr, self.bpb))
        await self.host.wait_idle()

    async def store_side(self, b):
        """Settings of the statistics and parameter units for IN block ``b``."""
        await self.host.store_side(self.settings[b["name"]], self.base[b["name"]])

    async def load_side(self, b):
        await self.host.load_side(self.settings[b["name"]], self.base[b["name"]])

    async def wait_params(self, maps):
        await self.host.wait_params(maps)

    async def check_errors(self, where):
        await self.host.check_errors(where)

    # --- FP ------------------------------------------------------------------------
    async def forward(self, rolin):
        S, L = self.S, self.layers
        self.log(f"FP, ROLIN {'on' if rolin else 'off'}")
        for i, k in enumerate(CONVS):
            rec = L[k]
            self.log(f"FP {k}, ROLIN {'on' if rolin else 'off'}")
            await self.mode()
            w = await self.load_plain(f"{k}.w", rec["w"].shape)
            assert np.array_equal(w, rec["w"])
            prev = self.blocks.get(f"{CONVS[i - 1]}.in") if i else None
            if prev is None:
                x = await self.load_plain("image", (S,) + rec["x"].shape[1:])
            elif rolin:
                await self.load_side(prev)
                await self.mode(ld="fp")
                await self.host.restart(load=True)
                x, mask = (v.reshape((S,) + prev["x"].shape[1:]) for v in
                           await self.load([(self.mem.regions[f"{prev['name']}.x"], prev["x"][:S].size * 2,
                                             TAG_LOAD)], prev["x"][:S].size * 2))
                assert np.array_equal(mask, prev["mask"][:S]), f"{k}: mask of {prev['name']}"
            else:
                x = await self.load_plain(f"{prev['name']}.y", (S,) + prev["x"].shape[1:])
            assert np.array_equal(x, rec["x"][:S]), f"{k}: input differs from the golden model"
            out = conv_fp(rec, x)
            blk = self.blocks.get(f"{k}.in")
            if blk is None:                                   # T5: the generator's output
                await self.mode()
                await self.store("out", out)
                continue
            assert np.array_equal(out, blk["x"][:S])
            name = blk["name"]
            maps = S * blk["x"].shape[1]
            await self.store_side(blk)
            if rolin:
                await self.mode(st="fp")
                await self.host.restart(store=True)
                await self.store(f"{name}.x", out)
                await self.wait_params(maps)
            else:
                await self.mode()
                await self.store(f"{name}.x", out)
                # statistics pass: read x, gather, store nothing
                xs = await self.load_plain(f"{name}.x", out.shape)
                await self.mode(st="fp", discard=True)
                await self.host.restart(store=True)
                await self.store(None, xs, discard=True)
                await self.wait_params(maps)
                # normalise pass: read x through the normalise unit, store y
                await self.load_side(blk)
                await self.mode(ld="fp")
                await self.host.restart(load=True)
                nb = out.size * 2
                y, mask = await self.load([(self.mem.regions[f"{name}.x"], nb, TAG_LOAD)], nb)
                assert np.array_equal(y.reshape(out.shape), blk["y"][:S]), f"{name}: y"
                assert np.array_equal(mask.reshape(out.shape), blk["mask"][:S])
                await self.mode()
                await self.store(f"{name}.y", y.reshape(out.shape))
            await self.check_errors(f"FP {k}")

    # --- EP ------------------------------------------------------------------------
    async def backward(self, rolin):
        S, L = self.S, self.layers
        self.log(f"EP, ROLIN {'on' if rolin else 'off'}")
        for i in reversed(range(len(CONVS))):
            k = CONVS[i]
            rec = L[k]
            self.log(f"EP {k}, ROLIN {'on' if rolin else 'off'}")
            await self.mode()
            w = await self.load_plain(f"{k}.w", rec["w"].shape)
            blk = self.blocks.get(f"{k}.in")
            shape = (S,) + rec["dy"].shape[1:]
            if blk is None:                                   # T5: the loss gradient
                dy = await self.load_plain("dout", shape)
            elif rolin:
                await self.load_side(blk)
                await self.mode(ld="ep")
                await self.host.restart(load=True)
                dy, mask = await self.load_pair(f"{blk['name']}.dy", f"{blk['name']}.x", shape)
                assert np.array_equal(mask, blk["mask"][:S])
            else:
                dy = await self.load_plain(f"{blk['name']}.dx", shape)
            assert np.array_equal(dy, rec["dy"][:S]), f"EP {k}: error at the output differs"
            prev = self.blocks.get(f"{CONVS[i - 1]}.in") if i else None
            frac = prev["fdy"] if prev else self.image_grad_frac
            acc = (G.conv_transpose2d_input_grad(dy, w, int(rec["stride"]), int(rec["padding"]))
                   if rec["op"] == "conv_transpose" else
                   G.conv2d_input_grad(dy, w, int(rec["stride"]), int(rec["padding"]), rec["x"].shape[2:]))
            out = G.requantize(acc, int(rec["dy_frac"]) + int(rec["w_frac"]) - frac, WIDTH)
            if prev is None:                                   # T1: the image gradient
                assert np.array_equal(out, self.image_grad[:S])
                await self.mode()
                await self.store("dimage", out)
                continue
            assert np.array_equal(out, prev["dy_in"][:S]), f"EP {k}: result differs"
            name = prev["name"]
            maps = S * prev["x"].shape[1]
            await self.store_side(prev)
            if rolin:
                await self.mode(st="ep")
                await self.host.restart(store=True)
                await self.store(f"{name}.dy", out, aux=f"{name}.x")
                await self.wait_params(maps)
            else:
                await self.mode()
                await self.store(f"{name}.dy", out)
                dys = await self.load_plain(f"{name}.dy", out.shape)          # statistics pass
                await self.mode(st="ep", discard=True)
                await self.host.restart(store=True)
                await self.store(None, dys, discard=True, aux=f"{name}.x")
                await self.wait_params(maps)
                await self.load_side(prev)                                     # correction pass
                await self.mode(ld="ep")
                await self.host.restart(load=True)
                dx, mask = await self.load_pair(f"{name}.dy", f"{name}.x", out.shape)
                assert np.array_equal(dx, prev["dx"][:S]), f"{name}: dx"
                await self.mode()
                await self.store(f"{name}.dx", dx)
            await self.check_errors(f"EP {k}")

    async def counters(self):
        return await self.host.counters()


@cocotb.test()
async def rolin_i2i(dut):
    args = tb_args()
    samples = args["samples"]
    await start_clock(dut)
    env = RolinEnv(dut, mem_size=args["mem_size"], data_width=args["axi_data_width"],
                   throttle=args["throttle"], seed=args["seed"])
    await reset(dut)
    await env.bus.write("limit", args["mem_size"] - 1)

    def log(msg):
        (dut._log.warning if args.get("verbose") else dut._log.info)(f"progress: {msg}")

    flow = Flow(env, dut, samples, args["fifo_depth"], log)
    L = flow.layers
    # Image-gradient fraction bits, batch-wide as training chooses them.
    t1 = L["T1"]
    acc = G.conv2d_input_grad(t1["dy"].astype(np.int64), t1["w"].astype(np.int64), 1, 1, t1["x"].shape[2:])
    from ganforge.golden.nn import Arith
    q = Arith(fixed=True, width=WIDTH).requantize_auto(acc, int(t1["dy_frac"]) + int(t1["w_frac"]))
    flow.image_grad, flow.image_grad_frac = q.q, q.frac
    await flow.mem.put("image", L["T1"]["x"][:samples])
    await flow.mem.put("dout", L["T5"]["dy"][:samples])
    for k in CONVS:
        await flow.mem.put(f"{k}.w", L[k]["w"])
    results = {}
    for rolin in args["modes"]:
        on = rolin == "on"
        await flow.host.clear_counters()
        await flow.forward(on)
        results[f"fp_{rolin}"] = await flow.counters()
        await flow.host.clear_counters()
        await flow.backward(on)
        results[f"ep_{rolin}"] = await flow.counters()
        log(f"ROLIN {rolin}: {results}")
    # The generator's output and the image gradient, as stored, against the golden chain.
    want = conv_fp(L["T5"], in_block("T4.in")["y"][:samples])
    assert np.array_equal(await flow.mem.get("out", want.shape), want)
    if args.get("out"):
        with open(args["out"], "w") as f:
            json.dump(results, f)
