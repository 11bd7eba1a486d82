"""cocotb tests of the DMA and CSRs of RolinEngine against cocotbext-axi's AxiRam.

* ``dma_transfers``: random aligned writes and reads (long ones split into
  ``max_burst``-beat bursts, ones that cross 4 KiB boundaries), all read
  commands queued at once so several bursts are in flight; every AR/AW is
  checked (no 4 KiB crossing, at most ``max_burst`` beats, the split the
  reference model predicts); memory and read data are compared byte for byte;
  the byte and burst counters against the sums; the peak of outstanding
  reads must exceed 1.
* ``dma_errors``: zero length, unaligned address, unaligned length, past
  ``limit``, wrapping the address space, for reads and writes: each sets its
  error bit, issues nothing on the bus, and the DMA then performs a good
  command. Also: every register of the map answers OKAY and the unmapped
  words SLVERR; the error bits clear by writing 1s; ``limit`` reads back;
  ``INFO`` matches the build; ``irq`` follows the errors; the counters clear.
* ``dma_faults``: a read beat and a write burst answered SLVERR (the memory model's
  access raises there): ``rd_bus``/``wr_bus`` set, ``RD_ERR_ADDR``/``WR_ERR_ADDR`` name
  the beat and the burst, the data still moves; then AR and AW paused for ever: the
  watchdog gives both transfers up (``rd_timeout``, ``wr_timeout``), the write's data is
  taken so the store path ends, both engines go idle; then transfers are exact again.

Every register access and DMA command goes through the firmware's engine
control (:class:`~ganforge.firmware.runtime.host.EngineHost`) on the cocotb bus.
"""

import itertools
import random

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from ganforge.firmware.registers import ROLIN, decode, encode
from ganforge.firmware.runtime.host import EngineHost
from ganforge.rtl.rolin.engine import ENGINE_ID, TAG_LOAD
from ganforge.testbench.rolin_env import RolinEnv, split_bursts
from ganforge.testbench.runner import tb_args
from ganforge.testbench.streams import reset, start_clock


async def _monitor(dut, prefix, log, max_burst, bpb):
    """Record every AR/AW handshake ``(addr, beats)`` and check the AXI burst rules."""
    valid = getattr(dut, f"axi__{prefix}valid")
    ready = getattr(dut, f"axi__{prefix}ready")
    addr = getattr(dut, f"axi__{prefix}addr")
    alen = getattr(dut, f"axi__{prefix}len")
    while True:
        await RisingEdge(dut.clk)
        await ReadOnly()
        if valid.value and ready.value:
            a, beats = int(addr.value), int(alen.value) + 1
            assert beats <= max_burst, f"{prefix} burst of {beats} beats > {max_burst}"
            assert a % 4096 + beats * bpb <= 4096, f"{prefix} burst at {a:#x} crosses 4 KiB"
            log.append((a, beats))


def _words(data, bpb):
    return [int.from_bytes(data[i:i + bpb], "little") for i in range(0, len(data), bpb)]


async def _setup(dut, args):
    """The environment, the bus and the firmware's engine control, after reset."""
    await start_clock(dut)
    env = RolinEnv(dut, mem_size=args["mem_size"], data_width=args["axi_data_width"],
                   throttle=args.get("throttle", 0.3), seed=args["seed"])
    await reset(dut)
    await env.bus.write("limit", args["mem_size"] - 1)
    info = await env.bus.read_fields("info")
    return env, env.bus, EngineHost(env.bus, fifo_depth=1 << info["log2_fifo_depth"],
                                    bytes_per_beat=env.bpb)


@cocotb.test()
async def dma_transfers(dut):
    args = tb_args()
    env, bus, host = await _setup(dut, args)
    rng = random.Random(args["seed"])
    bpb, max_burst, mem = env.bpb, args["max_burst"], args["mem_size"]
    ar_log, aw_log = [], []
    cocotb.start_soon(_monitor(dut, "ar", ar_log, max_burst, bpb))
    cocotb.start_soon(_monitor(dut, "aw", aw_log, max_burst, bpb))

    cmds = [(4096 - 3 * bpb, 7 * bpb), (0, bpb), (8192 - bpb, 2 * bpb),
            (3 * 4096 + 5 * bpb, (3 * max_burst + 5) * bpb)]
    for _ in range(args["random_cmds"]):
        n = rng.randint(1, 3 * max_burst + 8) * bpb
        cmds.append((rng.randrange(0, (mem - n) // bpb) * bpb, n))
    expect = {}
    for addr, n in cmds:                                 # writes, one command at a time
        payload = bytes(rng.getrandbits(8) for _ in range(n))
        cocotb.start_soon(host.dma_write([(addr, n)]))
        await env.st.send(_words(payload, bpb))
        await host.wait_idle(read=False)
        assert env.ram.read(addr, n) == payload, f"memory at {addr:#x}+{n} differs"
        for i in range(n):
            expect[addr + i] = payload[i]
    want_aw = [b for a, n in cmds for b in split_bursts(a, n, bpb, max_burst)]
    assert aw_log == want_aw

    # Reads: every command queued at once, data checked in order.
    want = []
    for addr, n in cmds:
        want += _words(bytes(expect[addr + i] for i in range(n)), bpb)
    cocotb.start_soon(host.dma_read([(a, n, TAG_LOAD) for a, n in cmds]))
    got = await env.ld.receive(len(want), timeout_cycles=5000)
    assert got == want
    await host.wait_idle()
    want_ar = [b for a, n in cmds for b in split_bursts(a, n, bpb, max_burst)]
    assert ar_log == want_ar
    total = sum(n for _, n in cmds)
    assert await host.counters() == {"rd_bytes": total, "wr_bytes": total}
    assert await bus.read("rd_bursts") == len(want_ar)
    assert await bus.read("wr_bursts") == len(want_aw)
    peak = await bus.read("rd_peak_outstanding")
    assert 2 <= peak <= args["max_outstanding"], f"peak outstanding reads {peak}"
    assert await host.errors() == []
    await host.clear_counters()
    assert await bus.read("rd_bytes") == 0 and await bus.read("wr_bursts") == 0
    dut._log.warning("transfers: %d commands, %d bytes, %d read bursts, peak %d outstanding",
                  len(cmds), total, len(want_ar), peak)


@cocotb.test()
async def dma_errors(dut):
    args = tb_args()
    env, bus, host = await _setup(dut, args)
    bpb, mem = env.bpb, args["mem_size"]
    top = 2 ** 32
    bad = [("zero", 0, 0), ("unaligned", 4096 + 1, 4 * bpb), ("unaligned", 4096, 4 * bpb + 2),
           ("range", mem - bpb, 2 * bpb), ("range", top - bpb, 4 * bpb)]
    payload = bytes(range(4 * bpb))
    for engine in ("rd", "wr"):
        for kind, addr, n in bad:
            bit = f"{engine}_{kind}"
            before = await bus.read(f"{engine}_bursts")
            if engine == "rd":
                await host.dma_read([(addr, n, TAG_LOAD)])
            else:
                await host.dma_write([(addr, n)])
            await ClockCycles(dut.clk, 4)
            assert await host.errors() == [bit], (engine, kind, addr, n)
            assert await bus.read("errors") == encode(ROLIN["errors"], **{bit: 1})
            assert await bus.read(f"{engine}_bursts") == before, "a refused command reached the bus"
            status = await bus.read_fields("status")
            assert not status["rd_busy"] and not status["wr_busy"], status
            await bus.write_fields("error_clear", **{bit: 1})
            assert await bus.read("errors") == 0
            # The engine takes the next, good command.
            if engine == "wr":
                cocotb.start_soon(host.dma_write([(4096, len(payload))]))
                await env.st.send(_words(payload, bpb))
                await host.wait_idle(read=False)
                assert await bus.get(4096, len(payload)) == payload
            else:
                await bus.put(8192, payload)
                cocotb.start_soon(host.dma_read([(8192, len(payload), TAG_LOAD)]))
                assert await env.ld.receive(len(payload) // bpb, timeout_cycles=2000) == \
                    _words(payload, bpb)
    assert not int(dut.irq.value)

    # CSR map: every address no register holds answers SLVERR, every mapped one OKAY;
    # limit reads back; INFO describes the build; irq follows errors.
    for addr in range(0, 1 << ROLIN.addr_width, 4):
        if ROLIN.at(addr) is None and (addr < 0x100 or addr % 0x400 == 0x3FC):
            _, resp = await bus.raw_read(addr)
            assert resp == 2, f"read of unmapped {addr:#x} answered {resp}"
    assert await bus.raw_write(0xFFC, 1) == 2
    for reg in ROLIN:
        _, resp = await bus.raw_read(reg.addr)
        assert resp == 0, f"read of {reg.name} answered {resp}"
    assert await bus.read("limit") == mem - 1
    assert await bus.read("id") == ENGINE_ID
    info = await bus.read_fields("info")
    assert info["lanes"] * info["data_width"] == 8 * bpb and info["log2_fifo_depth"] >= 2, info
    await host.dma_read([(0, 0, TAG_LOAD)])
    await bus.wait_irq(cycles=8)
    assert int(dut.irq.value) == 1 and await host.errors() == ["rd_zero"]
    await bus.write("error_clear", encode(ROLIN["error_clear"], **{n: 1 for n in decode(ROLIN["errors"], 0)}))
    await ClockCycles(dut.clk, 2)
    assert int(dut.irq.value) == 0


def _fail_at(bad):
    """A replacement for the memory's word access that raises (cocotbext-axi then answers
    SLVERR for that beat or burst) when it touches a byte of ``bad``."""
    def hook(original):
        async def access(address, *a):
            n = len(a[0]) if a and isinstance(a[0], (bytes, bytearray)) else a[0]
            if any(address <= b < address + n for b in bad):
                raise OSError(f"injected fault at {address:#x}")
            return await original(address, *a)
        return access
    return hook


@cocotb.test()
async def dma_faults(dut):
    """Error responses on chosen beats, reported with their address; a memory that stops
    answering, ended by the DMA's watchdog (``args["watchdog"]`` cycles): the read given
    up, the write's data taken so its producer ends, both engines idle, then good again."""
    args = tb_args()
    env, bus, host = await _setup(dut, args)
    bpb, watchdog = env.bpb, args["watchdog"]
    payload = bytes(range(8 * bpb))
    await bus.put(4096, payload)
    # a read: the beat at 4096 + 5 words answers SLVERR; every beat still comes (the memory
    # model answers that one with zeros)
    read_if, write_if = env.ram.read_if, env.ram.write_if
    plain_read, plain_write = read_if._read, write_if._write
    read_if._read = _fail_at({4096 + 5 * bpb + 1})(plain_read)
    cocotb.start_soon(host.dma_read([(4096, len(payload), TAG_LOAD)]))
    want = _words(payload, bpb)
    want[5] = 0
    assert await env.ld.receive(8, timeout_cycles=5000) == want
    await host.wait_idle()
    assert await host.errors() == ["rd_bus"]
    assert await bus.read("rd_err_addr") == 4096 + 5 * bpb
    read_if._read = plain_read
    # a write: its burst holding 8192 + 6 words answers SLVERR
    write_if._write = _fail_at({8192 + 6 * bpb})(plain_write)
    cocotb.start_soon(host.dma_write([(8192, len(payload))]))
    await env.st.send(_words(payload, bpb))
    await host.wait_idle(read=False)
    assert await host.errors() == ["rd_bus", "wr_bus"]
    first = (6 * bpb // (args["max_burst"] * bpb)) * args["max_burst"] * bpb
    assert await bus.read("wr_err_addr") == 8192 + first, "the failing burst's address"
    write_if._write = plain_write
    await bus.write_fields("error_clear", rd_bus=1, wr_bus=1)
    assert await host.errors() == [] and not int(dut.irq.value)

    # a memory that stops answering: AR and AW never accepted
    forever = itertools.repeat(True)
    read_if.ar_channel.set_pause_generator(forever)
    write_if.aw_channel.set_pause_generator(forever)
    cocotb.start_soon(host.dma_read([(0, 4 * bpb, TAG_LOAD)]))
    await bus.wait_irq(cycles=2 * watchdog)
    await host.wait_idle(cycles=4 * watchdog)
    assert await host.errors() == ["rd_timeout"]
    cocotb.start_soon(host.dma_write([(0, 4 * bpb)]))
    await env.st.send(_words(payload[:4 * bpb], bpb))     # taken and dropped: no hang
    await host.wait_idle(cycles=4 * watchdog)
    assert await host.errors() == ["rd_timeout", "wr_timeout"]
    # the memory answers again: after a clear, transfers are exact
    for ch in (read_if.ar_channel, write_if.aw_channel):
        ch.clear_pause_generator()
        ch.pause = False
    await bus.write_fields("error_clear", rd_timeout=1, wr_timeout=1)
    cocotb.start_soon(host.dma_read([(4096, len(payload), TAG_LOAD)]))
    assert await env.ld.receive(8, timeout_cycles=5000) == _words(payload, bpb)
    await host.wait_idle()
    assert await host.errors() == []
