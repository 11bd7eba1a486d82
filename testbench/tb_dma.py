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
  command. Also: CSR accesses to unmapped addresses answer SLVERR; the error
  bits clear by writing 1s; ``limit`` reads back; the counters clear.
"""

import random

import cocotb
from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge

from ganforge.rtl.rolin.engine import ERROR_BITS
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
    await start_clock(dut)
    env = RolinEnv(dut, mem_size=args["mem_size"], data_width=args["axi_data_width"],
                   throttle=args.get("throttle", 0.3), seed=args["seed"])
    await reset(dut)
    await env.set("limit", args["mem_size"] - 1)
    return env


@cocotb.test()
async def dma_transfers(dut):
    args = tb_args()
    env = await _setup(dut, args)
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
        cocotb.start_soon(env.write_cmds([(addr, n)]))
        await env.st.send(_words(payload, bpb))
        await env.wait_idle(0b10)
        assert env.ram.read(addr, n) == payload, f"memory at {addr:#x}+{n} differs"
        for i in range(n):
            expect[addr + i] = payload[i]
    want_aw = [b for a, n in cmds for b in split_bursts(a, n, bpb, max_burst)]
    assert aw_log == want_aw

    # Reads: every command queued at once, data checked in order.
    want = []
    for addr, n in cmds:
        want += _words(bytes(expect[addr + i] for i in range(n)), bpb)
    cocotb.start_soon(env.read([(a, n, 0) for a, n in cmds]))
    got = await env.ld.receive(len(want), timeout_cycles=5000)
    assert got == want
    await env.wait_idle()
    want_ar = [b for a, n in cmds for b in split_bursts(a, n, bpb, max_burst)]
    assert ar_log == want_ar
    total = sum(n for _, n in cmds)
    assert await env.get("rd_bytes") == total
    assert await env.get("wr_bytes") == total
    assert await env.get("rd_bursts") == len(want_ar)
    assert await env.get("wr_bursts") == len(want_aw)
    peak = await env.get("rd_peak_outstanding")
    assert 2 <= peak <= args["max_outstanding"], f"peak outstanding reads {peak}"
    assert await env.get("errors") == 0
    await env.set("counter_clear", 1)
    assert await env.get("rd_bytes") == 0 and await env.get("wr_bursts") == 0
    dut._log.warning("transfers: %d commands, %d bytes, %d read bursts, peak %d outstanding",
                  len(cmds), total, len(want_ar), peak)


@cocotb.test()
async def dma_errors(dut):
    args = tb_args()
    env = await _setup(dut, args)
    bpb, mem = env.bpb, args["mem_size"]
    top = 2 ** 32
    bad = [("zero", 0, 0), ("unaligned", 4096 + 1, 4 * bpb), ("unaligned", 4096, 4 * bpb + 2),
           ("range", mem - bpb, 2 * bpb), ("range", top - bpb, 4 * bpb)]
    payload = bytes(range(4 * bpb))
    for engine in ("rd", "wr"):
        for kind, addr, n in bad:
            bit = 1 << ERROR_BITS[f"{engine}_{kind}"]
            before = await env.get(f"{engine}_bursts")
            if engine == "rd":
                await env.read([(addr, n, 0)])
            else:
                await env.write_cmds([(addr, n)])
            await ClockCycles(dut.clk, 4)
            assert await env.get("errors") == bit, (engine, kind, addr, n)
            assert await env.get(f"{engine}_bursts") == before, "a refused command reached the bus"
            assert await env.get("status") & 0b11 == 0
            await env.set("error_clear", bit)
            assert await env.get("errors") == 0
            # The engine takes the next, good command.
            if engine == "wr":
                cocotb.start_soon(env.write_cmds([(4096, len(payload))]))
                await env.st.send(_words(payload, bpb))
                await env.wait_idle(0b10)
                assert env.ram.read(4096, len(payload)) == payload
            else:
                env.ram.write(8192, payload)
                cocotb.start_soon(env.read([(8192, len(payload), 0)]))
                assert await env.ld.receive(len(payload) // bpb, timeout_cycles=2000) == \
                    _words(payload, bpb)
    assert not int(dut.irq.value)

    # CSR map: unmapped addresses answer SLVERR; limit reads back; irq follows errors.
    _, resp = await env.read_word(0xFFC)
    assert resp == 2
    assert await env.write_word(0xFFC, 1) == 2
    assert await env.get("limit") == mem - 1
    assert await env.get("id") == 0x524F4C31
    await env.read([(0, 0, 0)])
    await ClockCycles(dut.clk, 3)
    assert int(dut.irq.value) == 1
    await env.set("error_clear", 0xFFFF)
    await ClockCycles(dut.clk, 2)
    assert int(dut.irq.value) == 0
