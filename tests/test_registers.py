"""Register maps (rtl/bus/regmap.py), the bank built from them (AxiLiteCsr, Amaranth
simulator), the firmware's codecs (firmware/registers.py), docs/registers.md, and the host
runtime's bus helpers and engine control on a bus model (firmware/runtime/)."""

import asyncio
import random
from pathlib import Path

import pytest

from ganforge.firmware.registers import ROLIN, decode, encode, render_docs
from ganforge.firmware.rolin import in_layer
from ganforge.firmware.runtime.bus import Bus
from ganforge.firmware.runtime.host import EngineHost, pair_reads
from ganforge.rtl.bus.csr import AxiLiteCsr
from ganforge.rtl.bus.regmap import Field, Register, RegisterMap, render_markdown
from ganforge.rtl.rolin.engine import ERROR_BITS, RolinEngine

from sim_streams import simulate

ROOT = Path(__file__).resolve().parents[1]


# --- the description ---------------------------------------------------------------------

@pytest.mark.parametrize("build, words", [
    (lambda: Register("r", 0, "rw", 8, fields=[Field("a", 0, 4), Field("b", 3, 2)]),
     ["register r field b", "bit 3 overlaps field a"]),
    (lambda: Register("r", 0, "rw", 8, fields=[Field("a", 4, 5)]), ["register r field a", "[8:4]"]),
    (lambda: Register("r", 0, "rw", 8, fields=[Field("a", 0), Field("a", 1)]),
     ["register r field a", "twice"]),
    (lambda: Register("r", 0, "rw", 8, fields=[Field("a", 0, 2, values={"x": 4})]),
     ["register r field a", "named value x"]),
    (lambda: Register("r", 0, "rw", 8, fields=[Field("a", 0, access="ro")]),
     ["register r field a", "access"]),
    (lambda: Register("r", 0, "rw", 8, reset=0x80, fields=[Field("a", 0, 4)]),
     ["register r", "outside the fields"]),
    (lambda: Register("r", 0, "ro", reset=1), ["register r", "only an rw register"]),
    (lambda: Register("r", 0, "rw", 65), ["register r", "width"]),
    (lambda: Register("r", 0, "wo", 33), ["register r", "width"]),
    (lambda: Register("r", 2), ["register r", "address"]),
    (lambda: Register("r", 0, "rx"), ["register r", "access"]),
    (lambda: Register("R", 0), ["register name"]),
    (lambda: RegisterMap("m", [Register("a", 0, "ro", 64), Register("b", 4)]),
     ["register b overlaps a at 0x4"]),
    (lambda: RegisterMap("m", [Register("a", 0), Register("a", 8)]), ["register a", "twice"]),
    (lambda: RegisterMap("m", [Register("a", 0x100)], addr_width=8), ["register a", "8-bit space"]),
])
def test_map_refuses_bad_descriptions(build, words):
    with pytest.raises(ValueError) as exc:
        build()
    msg = str(exc.value)
    assert all(w in msg for w in words), msg
    assert "\n" not in msg


def test_rolin_map_fields():
    assert len(ROLIN) == 30 and [r.addr for r in ROLIN] == sorted(r.addr for r in ROLIN)
    mode = ROLIN["mode"]
    assert [(f.name, f.offset, f.width) for f in mode.fields] == \
        [("ld_mode", 0, 2), ("st_mode", 2, 2), ("st_discard", 4, 1), ("ld_relu", 5, 1)]
    assert {f.name: f.offset for f in ROLIN["errors"].fields} == ERROR_BITS
    assert not ROLIN["st_count"].declared and ROLIN["st_count"].fields[0].width == 17
    assert ROLIN.at(0x34).name == "limit" and ROLIN.at(0x3C) is None
    # The engine's bank is built from the map: one port per register, shaped by it.
    engine = RolinEngine()
    for obj in (engine, engine._csr, engine._dma):      # not elaborated here
        obj._MustUse__silence = True
    members = engine._csr.signature.members
    for r in ROLIN:
        assert members[r.name].shape == r.shape(), r.name
        assert (r.name + "_stb" in members) == (r.access == "wo")


# --- the codecs ---------------------------------------------------------------------------

def test_codecs_round_trip_every_field():
    rng = random.Random(5)
    for reg in ROLIN:
        for _ in range(20):
            fields = {f.name: rng.randint(f.min, f.max) for f in reg.fields}
            word = encode(reg, **fields)
            assert 0 <= word < 1 << reg.width
            assert decode(reg, word) == fields, reg.name


def test_codecs_pack_the_documented_bits():
    assert encode(ROLIN["st_shifts"], sh_a=-3, b_lshift=20, scale_frac=16, xhat_base=-6) == \
        (-3 & 0xFF) | 20 << 8 | 16 << 14 | (-6 & 0xFF) << 20
    assert encode(ROLIN["ld_shifts"], scale_frac=16, coef_frac=16, xhat_base=-6) == \
        16 | 16 << 6 | (-6 & 0xFF) << 12
    assert encode(ROLIN["mode"], ld_mode="ep", st_mode="fp", ld_relu=True) == 2 | 1 << 2 | 1 << 5
    assert encode(ROLIN["gb_data"], gamma=-1, beta=5) == 0xFFFF | 5 << 16
    assert encode(ROLIN["limit"], value=2 ** 40) == 2 ** 40
    assert encode(ROLIN["limit"]) == 0xFFFF_FFFF          # fields not given: their reset
    assert decode(ROLIN["start"], 2) == {"store": 0, "load": 1}


@pytest.mark.parametrize("reg, fields, words", [
    ("st_shifts", {"sh_a": 128}, ["st_shifts", "sh_a", "128", "[-128, 127]"]),
    ("st_shifts", {"b_lshift": -1}, ["st_shifts", "b_lshift", "[0, 63]"]),
    ("mode", {"ld_mode": "relu"}, ["mode", "ld_mode", "'relu'", "bypass, fp, ep"]),
    ("mode", {"ld_relu": 0.5}, ["mode", "ld_relu", "integer"]),
    ("mode", {"relu": 1}, ["mode", "no field 'relu'"]),
    ("st_count", {"value": 1 << 17}, ["st_count", "value"]),
])
def test_encode_refuses_what_does_not_fit(reg, fields, words):
    with pytest.raises(ValueError) as exc:
        encode(ROLIN[reg], **fields)
    assert all(w in str(exc.value) for w in words), str(exc.value)


def test_decode_refuses_bad_words():
    with pytest.raises(ValueError, match="mode: 0x40 is not a 6-bit word"):
        decode(ROLIN["mode"], 0x40)
    with pytest.raises(ValueError, match="status: 0x8 sets reserved bits 0x8"):
        decode(ROLIN["status"], 0x8)
    with pytest.raises(ValueError, match="reg must be a Register"):
        encode("mode", ld_mode=1)


# --- the documentation --------------------------------------------------------------------

def test_docs_registers_md_is_current():
    """docs/registers.md is generated: rerun `python -m ganforge.firmware.registers`."""
    assert (ROOT / "docs" / "registers.md").read_text() == render_docs(), \
        "docs/registers.md is stale: run `python -m ganforge.firmware.registers`"


def test_markdown_lists_every_field():
    text = render_markdown(ROLIN)
    for reg in ROLIN:
        assert f"`{reg.name.upper()}`" in text
        if reg.declared:
            for f in reg.fields:
                assert f"| {f.bits} | `{f.name}` |" in text, (reg.name, f.name)
    assert "| [7:0] | `sh_a` | yes |" in text and "0: `bypass`, 1: `fp`, 2: `ep`" in text


# --- the bank, in the Amaranth simulator ---------------------------------------------------

SMALL = RegisterMap("small", [
    Register("counter", 0x0, "ro", 48),
    Register("setting", 0x8, "rw", 20, reset=0x1234, fields=[
        Field("lo", 0, 12), Field("sh", 12, 8, signed=True)]),
    Register("kick", 0xC, "wo", 16, fields=[Field("go", 0), Field("arg", 8, 8)]),
    Register("plain", 0x10, "rw", 32),
], addr_width=8)


async def _write(ctx, bus, addr, data, strb=0xF, aw_first=0):
    ctx.set(bus.bready, 1)
    ctx.set(bus.awaddr, addr)
    ctx.set(bus.wdata, data)
    ctx.set(bus.wstrb, strb)
    ctx.set(bus.awvalid, 1)
    pending = {"aw", "w"}
    if aw_first:                           # AW taken, then W a few cycles later
        while not ctx.get(bus.awready):
            await ctx.tick()
        await ctx.tick()
        ctx.set(bus.awvalid, 0)
        pending.discard("aw")
        for _ in range(aw_first):
            await ctx.tick()
    ctx.set(bus.wvalid, 1)
    while pending:
        took = [ch for ch in pending if ctx.get(getattr(bus, f"{ch}ready"))
                and ctx.get(getattr(bus, f"{ch}valid"))]
        await ctx.tick()
        for ch in took:
            ctx.set(getattr(bus, f"{ch}valid"), 0)
            pending.discard(ch)
    while not ctx.get(bus.bvalid):
        await ctx.tick()
    resp = ctx.get(bus.bresp)
    await ctx.tick()
    return resp


async def _read(ctx, bus, addr):
    ctx.set(bus.rready, 1)
    ctx.set(bus.araddr, addr)
    ctx.set(bus.arvalid, 1)
    while not ctx.get(bus.arready):
        await ctx.tick()
    await ctx.tick()
    ctx.set(bus.arvalid, 0)
    while not ctx.get(bus.rvalid):
        await ctx.tick()
    out = ctx.get(bus.rdata), ctx.get(bus.rresp)
    await ctx.tick()
    return out


def test_bank_from_a_map_behaves():
    """Reset values, field views, byte strobes, the LO/HI latch of a wide ro register, wo
    strobes, reads of wo registers, and SLVERR on unmapped words."""
    dut = AxiLiteCsr(SMALL)
    strobes = []

    async def bench(ctx):
        bus = dut.bus
        assert ctx.get(dut.setting.lo) == 0x234 and ctx.get(dut.setting.sh) == 1
        ctx.set(dut.counter, 0xABCD_1234_5678)
        assert await _read(ctx, bus, 0x8) == (0x1234, 0)
        # A field view holds the codec's fields; the byte strobes write bytes.
        word = encode(SMALL["setting"], lo=0xFFF, sh=-2)
        assert await _write(ctx, bus, 0x8, word, aw_first=2) == 0
        assert ctx.get(dut.setting.sh) == -2 and ctx.get(dut.setting.lo) == 0xFFF
        assert await _write(ctx, bus, 0x10, 0x1122_3344, strb=0b0101) == 0
        assert await _read(ctx, bus, 0x10) == (0x0022_0044, 0)
        # LO latches HI: the counter moves between the two reads, the pair does not tear.
        lo, _ = await _read(ctx, bus, 0x0)
        ctx.set(dut.counter, 0xFFFF_0000_0000)
        hi, _ = await _read(ctx, bus, 0x4)
        assert (hi << 32 | lo) == 0xABCD_1234_5678
        # wo: the strobe pulses once with the data; a read answers OKAY with 0.
        assert await _write(ctx, bus, 0xC, encode(SMALL["kick"], go=1, arg=7)) == 0
        assert strobes == [(1, 7)]
        assert await _read(ctx, bus, 0xC) == (0, 0)
        # Unmapped: SLVERR, nothing changes.
        assert await _read(ctx, bus, 0x14) == (0, 2)
        assert await _write(ctx, bus, 0x14, 0xFFFF_FFFF) == 2
        assert await _read(ctx, bus, 0x8) == (word, 0)
        assert strobes == [(1, 7)]

    async def watch(ctx):
        async for _, _, stb, go, arg in ctx.tick().sample(dut.kick_stb, dut.kick.go, dut.kick.arg):
            if stb:
                strobes.append((go, arg))

    simulate(dut, {"the AXI-Lite transactions": bench}, budget=500, processes=[watch])


def test_bank_refuses_a_list():
    with pytest.raises(ValueError, match="regmap must be a RegisterMap"):
        AxiLiteCsr([Register("a", 0)])


# --- the runtime over a bus model ----------------------------------------------------------

class ModelBus(Bus):
    """A register file and a memory in Python: what a Bus is asked to do, recorded."""

    def __init__(self, regmap):
        super().__init__(regmap)
        self.regs = {r.name: r.reset for r in regmap}
        self.log, self.mem, self.cycles = [], bytearray(1 << 16), 0

    async def read(self, name):
        return self.regs[self.regmap[name].name]

    async def write(self, name, value):
        self.log.append((name, value))
        self.regs[self.regmap[name].name] = value

    async def send(self, stream, items):
        self.log.append((stream, list(items)))

    def start(self, coro):
        return asyncio.ensure_future(coro)

    async def wait_cycles(self, cycles):
        self.cycles += cycles

    async def wait_irq(self, *, cycles):
        raise TimeoutError(f"waited {cycles} cycles for the interrupt")

    async def put(self, addr, data):
        self.mem[addr:addr + len(data)] = data

    async def get(self, addr, nbytes):
        return bytes(self.mem[addr:addr + nbytes])


def test_engine_host_writes_fields_and_names_what_it_waits_for():
    import numpy as np

    async def run():
        bus = ModelBus(ROLIN)
        host = EngineHost(bus, fifo_depth=4, bytes_per_beat=8)
        await host.mode(ld="ep", st="fp", discard=True)
        assert bus.regs["mode"] == 2 | 1 << 2 | 1 << 4 | 1 << 5
        await host.restart(load=True)
        assert bus.log[-1] == ("start", 2)
        layer = in_layer(count=64, channels=2, eps_q=9, gamma=[-3, 4], beta=[5, -6], frac_x=10,
                         frac_y=11, frac_gamma=12, frac_dy=9, frac_dx=9, frac_xhat=10)
        await host.store_side(layer, base=7)
        assert decode(ROLIN["st_shifts"], bus.regs["st_shifts"]) == dict(
            sh_a=layer.fp["sh_a"], b_lshift=layer.fp["b_lshift"], scale_frac=16,
            xhat_base=layer.ep["xhat_base"])
        assert [v for n, v in bus.log if n == "gb_data"] == \
            [encode(ROLIN["gb_data"], gamma=-3, beta=5), encode(ROLIN["gb_data"], gamma=4, beta=-6)]
        assert bus.regs["st_base"] == 7 and bus.regs["eps_q"] == 9
        # Waits: a TimeoutError naming what, after the budget.
        bus.regs["status"] = encode(ROLIN["status"], wr_busy=1)
        await host.wait_idle(write=False)
        with pytest.raises(TimeoutError, match="wr_busy to clear"):
            await host.wait_idle(cycles=40)
        assert bus.cycles >= 40
        with pytest.raises(TimeoutError, match="param_maps to reach 3"):
            await host.wait_params(3, cycles=64)
        # Errors by name.
        bus.regs["errors"] = encode(ROLIN["errors"], rd_range=1, count=1)
        with pytest.raises(RuntimeError, match="here: engine errors rd_range, count"):
            await host.check_errors("here")
        await host.mem.put("t", np.array([[1, -2], [3, 32767]]))
        assert (await host.mem.get("t", (2, 2))).tolist() == [[1, -2], [3, 32767]]
        assert host.mem.region("u", 10) == 4096
        await host.dma_read(host.pair("t", "u", 80))
        assert bus.log[-1] == ("rd_cmd", [{"addr": 0, "length": 32, "tag": 0},
                                          {"addr": 4096, "length": 32, "tag": 1},
                                          {"addr": 32, "length": 32, "tag": 0},
                                          {"addr": 4128, "length": 32, "tag": 1},
                                          {"addr": 64, "length": 16, "tag": 0},
                                          {"addr": 4160, "length": 16, "tag": 1}])

    asyncio.run(run())
    assert pair_reads(0, 100, 0, 32) == []
