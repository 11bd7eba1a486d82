"""The AXI4 memory (``rtl/bus/axi_ram.py``) in the Amaranth simulator: bursts of reads and
writes with byte strobes against a byte model, concurrently and with every ready and valid
of the manager dropped at random; the bandwidth and latency it is set to, measured in
cycles; DECERR beyond its size; refusals."""

import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from ganforge.rtl.bus.axi import AxiSignature
from ganforge.rtl.bus.axi_ram import AxiRam
from sim_streams import simulate

SIZE, DW = 4096, 64
NB = DW // 8


class Harness(wiring.Component):
    """AxiRam on a ``lib.memory`` of ``size`` bytes."""

    def __init__(self, size=SIZE, max_latency=16):
        self.ram = AxiRam(size=size, addr_width=16, data_width=DW, max_latency=max_latency)
        super().__init__({"axi": In(AxiSignature(16, DW)), "rate_num": In(8), "rate_den": In(8),
                          "latency": In(8), "reads": Out(32), "writes": Out(32)})

    def elaborate(self, platform):
        m = Module()
        m.submodules.ram = ram = self.ram
        m.submodules.mem = mem = memory.Memory(shape=DW, depth=ram.size // NB, init=[])
        wr = mem.write_port(granularity=8)
        rd = mem.read_port()
        st = ram.storage
        wiring.connect(m, wiring.flipped(self.axi), ram.axi)
        m.d.comb += [wr.addr.eq(st.addr), wr.data.eq(st.wdata), wr.en.eq(st.wstrb & st.we.replicate(NB)),
                     rd.addr.eq(st.addr), rd.en.eq(st.re), st.rdata.eq(rd.data)]
        for name in ("rate_num", "rate_den", "latency"):
            m.d.comb += getattr(ram, name).eq(getattr(self, name))
        m.d.comb += [self.reads.eq(ram.reads), self.writes.eq(ram.writes)]
        return m


async def _handshake(ctx, valid, ready, rng, stall):
    """Hold ``valid`` until ``ready``; before that, wait a random number of cycles."""
    while rng.random() < stall:
        await ctx.tick()
    ctx.set(valid, 1)
    await ctx.tick().until(ready)
    ctx.set(valid, 0)


async def write_burst(ctx, p, addr, words, strobes, rng, stall):
    ctx.set(p.awaddr, addr)
    ctx.set(p.awlen, len(words) - 1)
    ctx.set(p.awsize, NB.bit_length() - 1)
    ctx.set(p.awburst, 1)
    await _handshake(ctx, p.awvalid, p.awready, rng, stall)
    for k, (w, s) in enumerate(zip(words, strobes)):
        ctx.set(p.wdata, w)
        ctx.set(p.wstrb, s)
        ctx.set(p.wlast, k == len(words) - 1)
        await _handshake(ctx, p.wvalid, p.wready, rng, stall)
    await _handshake(ctx, p.bready, p.bvalid, rng, stall)
    return ctx.get(p.bresp)


async def read_burst(ctx, p, addr, n, rng, stall):
    ctx.set(p.araddr, addr)
    ctx.set(p.arlen, n - 1)
    ctx.set(p.arsize, NB.bit_length() - 1)
    ctx.set(p.arburst, 1)
    await _handshake(ctx, p.arvalid, p.arready, rng, stall)
    got = []
    for k in range(n):
        while rng.random() < stall:
            await ctx.tick()
        ctx.set(p.rready, 1)
        data, resp, last = await ctx.tick().sample(p.rdata, p.rresp, p.rlast).until(p.rvalid)
        ctx.set(p.rready, 0)
        assert last == (k == n - 1)
        got.append((data, resp))
    return got


def _model_write(model, addr, words, strobes):
    for k, (w, s) in enumerate(zip(words, strobes)):
        for i in range(NB):
            if s >> i & 1:
                model[addr + k * NB + i] = w >> 8 * i & 0xFF


def _word(model, addr):
    return int.from_bytes(model[addr:addr + NB], "little")


def _run(dut, benches, *, num=1, den=1, latency=1, budget=200_000):
    async def setup(ctx):
        ctx.set(dut.rate_num, num)
        ctx.set(dut.rate_den, den)
        ctx.set(dut.latency, latency)
    simulate(dut, dict(setup=setup, **benches), budget=budget)


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_bursts_against_a_byte_model(stall):
    """Random bursts with random strobes, a writer in the lower half and a reader of it then
    of the upper half, at once; then everything read back."""
    dut, rng = Harness(), random.Random(7)
    model = bytearray(SIZE)
    half = SIZE // 2
    for a in range(half, SIZE, NB):                  # the upper half, written first, read while
        model[a:a + NB] = rng.randbytes(NB)          # the lower half is written
    pre = [(a, _word(model, a)) for a in range(half, SIZE, NB)]
    checked = []

    async def writer(ctx):
        p = dut.axi
        for a, w in pre:
            assert await write_burst(ctx, p, a, [w], [0xFF], rng, stall) == 0
        done.append("pre")
        for _ in range(40):
            n = rng.randint(1, 8)
            addr = rng.randrange(0, half - n * NB, NB)
            words = [rng.getrandbits(DW) for _ in range(n)]
            strobes = [rng.getrandbits(NB) for _ in range(n)]
            assert await write_burst(ctx, p, addr, words, strobes, rng, stall) == 0
            _model_write(model, addr, words, strobes)
        done.append("writes")

    done = []

    async def reader(ctx):
        p = dut.axi
        while "pre" not in done:
            await ctx.tick()
        for _ in range(30):
            n = rng.randint(1, 8)
            addr = rng.randrange(half, SIZE - n * NB, NB)
            got = await read_burst(ctx, p, addr, n, rng, stall)
            assert got == [(_word(model, addr + k * NB), 0) for k in range(n)]
            checked.append(n)
        while "writes" not in done:
            await ctx.tick()
        for addr in range(0, SIZE, 16 * NB):
            got = await read_burst(ctx, p, addr, 16, rng, stall)
            assert got == [(_word(model, addr + k * NB), 0) for k in range(16)], addr
            checked.append(16)

    _run(dut, dict(writer=writer, reader=reader))
    assert sum(checked) >= SIZE // NB


@pytest.mark.parametrize("num,den,latency", [(1, 1, 1), (1, 4, 1), (3, 8, 12), (1, 1, 16)])
def test_bandwidth_and_latency_are_what_they_are_set_to(num, den, latency):
    """A 64-beat read, and a 64-beat write, with the manager always ready: the first R beat no
    sooner than ``latency`` cycles after the AR, and the beats at ``num/den`` a cycle."""
    dut, n = Harness(), 64
    seen = {}

    async def bench(ctx):
        p = dut.axi
        await ctx.tick().repeat(4)                   # the bucket fills to its cap first
        ctx.set(p.araddr, 0)
        ctx.set(p.arlen, n - 1)
        ctx.set(p.arvalid, 1)
        ctx.set(p.rready, 1)
        await ctx.tick().until(p.arready)
        ctx.set(p.arvalid, 0)
        cycle, beats = 1, []
        while len(beats) < n:
            if ctx.get(p.rvalid):
                beats.append(cycle)
            await ctx.tick()
            cycle += 1
        seen["read"] = beats
        ctx.set(p.awaddr, 0)
        ctx.set(p.awlen, n - 1)
        ctx.set(p.awvalid, 1)
        ctx.set(p.wvalid, 1)
        ctx.set(p.bready, 1)
        await ctx.tick().until(p.awready)
        ctx.set(p.awvalid, 0)
        cycle, wbeats = 0, 0
        while wbeats < n:
            ctx.set(p.wlast, wbeats == n - 1)
            if ctx.get(p.wready):
                wbeats += 1
            await ctx.tick()
            cycle += 1
        ctx.set(p.wvalid, 0)
        seen["write"] = cycle

    _run(dut, dict(bench=bench), num=num, den=den, latency=latency)
    first, last = seen["read"][0], seen["read"][-1]
    assert first >= max(latency, 2)
    assert first <= max(latency, 2) + 1 + den // num
    rate = num / den
    # n beats at rate r take (n - 1) / r cycles after the first, give or take the bucket's credit
    assert abs((last - first) - (n - 1) / rate) <= (num + den) / num + 1
    assert abs(seen["write"] - n / rate) <= (num + den) / num + 2


def test_beyond_the_size_is_decerr():
    dut, rng = Harness(size=1024), random.Random(1)

    async def bench(ctx):
        p = dut.axi
        assert await write_burst(ctx, p, 1024 - NB, [5, 6], [0xFF, 0xFF], rng, 0) == 3
        got = await read_burst(ctx, p, 1024 - NB, 2, rng, 0)
        assert got == [(5, 0), (0, 3)]

    _run(dut, dict(bench=bench))


@pytest.mark.parametrize("kwargs,name", [
    (dict(size=1000), "size"), (dict(size=4), "size"), (dict(size=1 << 20, addr_width=16), "addr_width"),
    (dict(size=4096, max_latency=0), "max_latency")])
def test_bad_parameters_are_refused(kwargs, name):
    with pytest.raises(ValueError, match=name):
        AxiRam(**dict(dict(addr_width=32, data_width=64), **kwargs))
