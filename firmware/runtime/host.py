"""Sequencing of the accelerator: what a controller does, over a :class:`~.bus.Bus`.

* :class:`Regions`: named tensors in external memory, each in a 4 KiB-aligned
  region of its own (so no DMA burst of one tensor crosses into another).
* :class:`EngineHost`: the ROLIN engine (:class:`~ganforge.rtl.rolin.engine.RolinEngine`):
  modes and restarts, DMA commands, an IN layer's settings, waits, errors and
  counters. Every register word is built by the codecs from the engine's map.
* :class:`AcceleratorHost`: the whole accelerator
  (:class:`~ganforge.rtl.top.accelerator.Accelerator`): one layer on the core,
  from its command stream and pass geometries to the DMA reads and writes, in
  the order that keeps the ROLIN units' map numbering right.

The same code runs under cocotb (``ganforge.testbench`` adapts it), the
Amaranth simulator or a board: only the :class:`~.bus.Bus` differs. Failures
raise: ``TimeoutError`` naming what was waited for, ``RuntimeError`` naming the
error bits that are set.
"""

import numpy as np

from ganforge.firmware.compiler import Program
from ganforge.firmware.compiler.layer import sample_passes
from ganforge.firmware.compiler.encode import pack_program
from ganforge.firmware.registers import decode
from ganforge.rtl.core import MAC_COUNTERS
from ganforge.rtl.rolin.engine import TAG_LOAD, TAG_LOAD_AUX, TAG_STORE_AUX

__all__ = ["Regions", "EngineHost", "AcceleratorHost", "pair_reads"]

_REGION_ALIGN = 4096


class Regions:
    """Named int16 tensors in external memory, each in a 4 KiB-aligned region of its own.

    ``regions`` maps a name to its byte address; regions are allocated upwards from
    ``base`` on first use.
    """

    def __init__(self, bus, base=0):
        self.bus, self.regions, self.next_addr = bus, {}, base

    def region(self, name, nbytes):
        """The address of ``name``'s region, allocated with ``nbytes`` on first use."""
        if name not in self.regions:
            self.regions[name] = self.next_addr
            self.next_addr += -(-nbytes // _REGION_ALIGN) * _REGION_ALIGN
        return self.regions[name]

    async def put(self, name, arr):
        """Place a tensor in memory (as int16, little-endian)."""
        raw = np.ascontiguousarray(arr, dtype="<i2").tobytes()
        await self.bus.put(self.region(name, len(raw)), raw)

    async def get(self, name, shape):
        """The tensor stored at ``name``'s region, as int64 of ``shape``."""
        if name not in self.regions:
            raise KeyError(f"no region {name!r} in external memory")
        n = int(np.prod(shape))
        raw = await self.bus.get(self.regions[name], 2 * n)
        return np.frombuffer(raw, dtype="<i2").astype(np.int64).reshape(shape)


def pair_reads(main, aux, nbytes, chunk):
    """Read commands ``(addr, length, tag)`` of an EP load pair: ``main`` (tag 0) and ``aux``
    (tag 1) interleaved in chunks of at most ``chunk`` bytes, so the two read FIFOs pair
    them without deadlock."""
    cmds = []
    for off in range(0, nbytes, chunk):
        n = min(chunk, nbytes - off)
        cmds += [(main + off, n, TAG_LOAD), (aux + off, n, TAG_LOAD_AUX)]
    return cmds


class EngineHost:
    """The ROLIN engine's control over ``bus`` (registers of ``RolinEngine.REGMAP``).

    Parameters
    ----------
    bus : Bus
        With the engine's registers and the command streams ``rd_cmd`` and ``wr_cmd``.
    fifo_depth : int
        Beats of each of the engine's read FIFOs (EP load pairs are chunked to it).
    bytes_per_beat : int
        Bytes of an AXI beat.
    """

    def __init__(self, bus, *, fifo_depth, bytes_per_beat):
        self.bus, self.fifo_depth, self.bpb = bus, fifo_depth, bytes_per_beat
        self.mem = Regions(bus)

    # --- modes, restarts, DMA ------------------------------------------------------------
    async def mode(self, ld="bypass", st="off", *, discard=False, relu=True):
        """The load path's mode (``bypass``, ``fp``, ``ep``), the store path's (``off``,
        ``fp``, ``ep``), whether the store path drops its beats, and the ReLU."""
        await self.bus.write_fields("mode", ld_mode=ld, st_mode=st, st_discard=discard, ld_relu=relu)

    async def restart(self, *, store=False, load=False):
        """Restart the map numbering of the store path (at ST_BASE) and/or the load path."""
        await self.bus.write_fields("start", store=store, load=load)

    async def dma_read(self, cmds):
        """Send read commands ``[(addr, length, tag)]``."""
        await self.bus.send("rd_cmd", [{"addr": a, "length": n, "tag": t} for a, n, t in cmds])

    async def dma_write(self, cmds):
        """Send write commands ``[(addr, length)]`` (the store path's beats go there)."""
        await self.bus.send("wr_cmd", [{"addr": a, "length": n} for a, n in cmds])

    def pair(self, main, aux, nbytes, offset=0):
        """:func:`pair_reads` of regions ``main`` and ``aux`` from byte ``offset``, in
        chunks of the read FIFOs' depth."""
        regions = self.mem.regions
        return pair_reads(regions[main] + offset, regions[aux] + offset, nbytes,
                          self.fifo_depth * self.bpb)

    # --- an IN layer ---------------------------------------------------------------------
    async def set_gb(self, layer):
        """The layer's γ and β into the γ/β table, channel by channel."""
        for c, (g, b) in enumerate(zip(layer.gamma, layer.beta)):
            await self.bus.write("gb_addr", c)
            await self.bus.write_fields("gb_data", gamma=g, beta=b)

    async def store_side(self, layer, base):
        """Statistics and parameter units for ``layer`` (an
        :class:`~ganforge.firmware.rolin.InLayer`), its first map at table entry ``base``."""
        bus, fp, ep = self.bus, layer.fp, layer.ep
        await bus.write("st_count", layer.count)
        await bus.write("channels", layer.channels)
        await bus.write("st_base", base)
        await bus.write("eps_q", layer.eps_q)
        await bus.write_fields("st_shifts", sh_a=fp["sh_a"], b_lshift=fp["b_lshift"],
                               scale_frac=fp["scale_frac"], xhat_base=ep["xhat_base"])
        await bus.write_fields("st_ep_shifts", sh_c=ep["sh_c"], c2_extra=ep["c2_extra"])
        await self.set_gb(layer)

    async def load_side(self, layer, base):
        """Normalise unit for ``layer``, its first map at table entry ``base``."""
        await self.bus.write("ld_count", layer.count)
        await self.bus.write("ld_base", base)
        await self.bus.write_fields("ld_shifts", scale_frac=layer.fp["scale_frac"],
                                    coef_frac=layer.ep["coef_frac"], xhat_base=layer.ep["xhat_base"])

    # --- waits, errors, counters ---------------------------------------------------------
    async def _wait_status_clear(self, names, *, cycles, poll, what):
        status = self.bus.regmap["status"]
        await self.bus.wait_until("status", lambda v: not any(decode(status, v)[n] for n in names),
                                  cycles=cycles, poll=poll, what=what)

    async def wait_idle(self, *, read=True, write=True, cycles=200_000):
        """Until the DMA's read and/or write engine is idle (STATUS ``rd_busy``, ``wr_busy``)."""
        names = [n for n, on in (("rd_busy", read), ("wr_busy", write)) if on]
        await self._wait_status_clear(names, cycles=cycles, poll=4,
                                      what=f"{' and '.join(names)} to clear")

    async def wait_at_least(self, name, value, *, cycles=200_000):
        """Until counter register ``name`` reaches ``value``."""
        await self.bus.wait_until(name, lambda v: v >= value, cycles=cycles, poll=8,
                                  what=f"{name} to reach {value}")

    async def wait_params(self, maps, *, cycles=1_600_000):
        """Until the parameter unit has written ``maps`` table entries and is idle."""
        await self.wait_at_least("param_maps", maps, cycles=cycles)
        await self._wait_status_clear(["params_busy"], cycles=cycles, poll=16,
                                      what="the parameter unit to go idle")

    async def errors(self):
        """The names of the error bits set in ERRORS."""
        return [name for name, v in (await self.bus.read_fields("errors")).items() if v]

    async def check_errors(self, where):
        """``RuntimeError`` naming ``where`` and the bits if any error bit is set."""
        err = await self.errors()
        if err:
            raise RuntimeError(f"{where}: engine errors {', '.join(err)}")

    async def clear_counters(self):
        await self.bus.write_fields("counter_clear", counters=1)

    async def counters(self):
        """The DMA's byte counters."""
        return {"rd_bytes": await self.bus.read("rd_bytes"), "wr_bytes": await self.bus.read("wr_bytes")}


class AcceleratorHost(EngineHost):
    """The accelerator's control: the engine, plus one layer at a time on the core.

    Parameters
    ----------
    bus : Bus
        As for :class:`EngineHost`, plus the command streams ``cmd`` (the core's
        descriptors and weights) and ``geom`` (each pass's input geometry), and the
        accelerator's sideband values as registers: ``st_positions`` (written),
        ``core_busy``, ``core_error``, ``ld_error``, ``st_error`` and the MAC counters
        (read).
    core : SparseCore
        The core's parameters (lanes, memory depths, layouts).
    fifo_depth, bytes_per_beat : int
        As for :class:`EngineHost`.
    """

    def __init__(self, bus, core, *, fifo_depth, bytes_per_beat):
        super().__init__(bus, fifo_depth=fifo_depth, bytes_per_beat=bytes_per_beat)
        self.core, self.lanes = core, core.lanes

    async def mac_counters(self):
        return {name: await self.bus.read(name) for name in MAC_COUNTERS}

    def passes(self, op, tensors, params, key):
        """:func:`~ganforge.firmware.compiler.layer.sample_passes` on this core."""
        return sample_passes(op, tensors, params, key, lanes=self.lanes,
                             weight_depth=self.core.weight_depth, out_depth=self.core.out_depth)

    async def layer(self, op, tensors, params, *, inp, out, out_shape, ld=None, st=None, aux=None,
                    cycles=2_000_000):
        """Run ``op`` on the core, one sample per pass group, tiles in NCHW order; returns the
        change of the core's MAC counters.

        ``inp``: the input region (``tensors``' ``x`` or ``dy`` has its shape), or
        ``(main, aux)`` regions for an EP load pair. ``ld``: ``(mode, base)`` of the
        normalise unit (None: bypass). ``st``: the statistics unit's mode (None: off;
        :meth:`store_side` set it up). ``aux``: the region the statistics unit reads beside
        the stored tiles (EP). The output goes to region ``out``.
        """
        bus, lanes = self.bus, self.lanes
        key = "x" if "x" in tensors else "dy"
        _, C, H, W = tensors[key].shape
        Co, P = out_shape[1], out_shape[2] * out_shape[3]
        if Co % lanes:
            raise ValueError(f"{op}: {Co} output channels do not fill the {lanes} lanes")
        await bus.write("st_positions", P)
        out_base = self.mem.region(out, int(np.prod(out_shape)) * 2)
        passes = self.passes(op, tensors, params, key)
        cmd, _, _ = pack_program(self.core, Program(op, [p for *_, p in passes], out_shape, lanes))
        geoms = [{"cin": p.desc["cin"], "in_h": p.desc["in_h"], "in_w": p.desc["in_w"]}
                 for *_, p in passes]
        writes = [(out_base + (n * Co + c0) * P * 2, lanes * P * 2)
                  for n, _, c0, p in passes if p.desc["drain"]]
        before = await self.mac_counters()
        await self.mode(ld=ld[0] if ld else "bypass", st=st or "off")
        if st:
            await self.restart(store=True)
        tasks = [bus.start(bus.send("cmd", cmd)), bus.start(bus.send("geom", geoms)),
                 bus.start(self.dma_write(writes))]
        # Read commands in pass order. The normalise unit restarts at a pass whose first map
        # does not follow the previous pass's last (after that pass has gone through).
        pair = isinstance(inp, tuple)
        main = self.mem.regions[inp[0] if pair else inp]
        expect, since = None, 0
        for n, q0, c0, p in passes:
            cin = p.desc["cin"]
            off = (n * C + q0) * H * W * 2
            nbytes = cin * H * W * 2
            if ld:
                entry = ld[1] + n * C + q0
                if entry != expect:
                    await self.wait_at_least("ld_maps", since)
                    await bus.write("ld_base", entry)
                    await self.restart(load=True)
                    since = 0
                since, expect = since + cin, entry + cin
            if pair:
                await self.dma_read(self.pair(inp[0], inp[1], nbytes, off))
            else:
                await self.dma_read([(main + off, nbytes, TAG_LOAD)])
            if aux and p.desc["drain"]:
                # What the statistics unit reads beside the tile, right after the tile's
                # input, so it never waits behind reads the core cannot take yet.
                await self.dma_read([(self.mem.regions[aux] + (n * Co + c0) * P * 2, lanes * P * 2,
                                      TAG_STORE_AUX)])
        for t in tasks:
            await t
        await self.wait_idle(cycles=cycles)
        await bus.wait_until("core_busy", lambda v: v == 0, cycles=100_000, poll=1,
                             what=f"the core to finish {op}")
        await bus.wait_cycles(1)
        after = await self.mac_counters()
        for name in ("core_error", "ld_error", "st_error"):
            v = await bus.read(name)
            if v:
                raise RuntimeError(f"{op}: {name} {v:#x}")
        await self.check_errors(op)
        return {k: after[k] - before[k] for k in MAC_COUNTERS}
