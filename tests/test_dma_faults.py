"""The DMA against a faulty memory, in the Amaranth simulator: error responses reported with
their address, and a watchdog that ends every wait on a memory that stops answering."""

import random

import pytest

from ganforge.rtl.bus.axi import RESP_DECERR, RESP_SLVERR
from ganforge.rtl.bus.dma import ERR_BITS, Dma

from ganforge.testbench.axi_mem import AxiMemory
from sim_streams import put, simulate, take

BPB = 8                 # bytes per beat of a 64-bit bus
WATCHDOG = 40
MEM = 1 << 14


def errors_of(bits):
    return sorted(name for name, bit in ERR_BITS.items() if bits >> bit & 1)


def run(mem_kw, body, *, max_burst=4, budget=5000, seed=1):
    """Run ``body(ctx, dma, mem)`` against a Dma on an AxiMemory built with ``mem_kw``."""
    dma = Dma(addr_width=32, data_width=64, max_burst=max_burst, max_outstanding_reads=2,
              max_outstanding_writes=2, watchdog=WATCHDOG)
    mem = AxiMemory(dma.axi, MEM, rng=random.Random(seed), **mem_kw)
    for a in range(0, 1024, BPB):
        mem.put(a, (a // BPB).to_bytes(BPB, "little"))

    async def bench(ctx):
        ctx.set(dma.limit, MEM - 1)
        await body(ctx, dma, mem)

    simulate(dma, {"bench": bench}, processes=[mem.process], budget=budget)


async def read(ctx, dma, addr, n, *, beats=None):
    """A read command of ``n`` bytes; returns the data of ``beats`` beats (all by default)."""
    await put(ctx, dma.rd_cmd, [{"addr": addr, "length": n, "tag": 0}], idle=0)
    got = await take(ctx, dma.rd_data, n // BPB if beats is None else beats, stall=0)
    return [int(v.data) for v in got]


async def settle(ctx, dma, cycles):
    for _ in range(cycles):
        await ctx.tick()
    return ctx.get(dma.errors)


@pytest.mark.parametrize("resp", [RESP_SLVERR, RESP_DECERR])
def test_a_read_error_reports_its_beat_and_delivers_the_data(resp):
    bad = 5 * BPB + 3                                  # a byte of beat 5, in the second burst

    async def body(ctx, dma, mem):
        data = await read(ctx, dma, 0, 8 * BPB)
        assert data == list(range(8)), "the data of every beat is still delivered"
        assert errors_of(await settle(ctx, dma, 2)) == ["rd_bus"]
        assert ctx.get(dma.rd_err_addr) == 5 * BPB     # the first of the two bad beats
        assert not ctx.get(dma.rd_busy)
        # a second error does not move the recorded address: the first one sticks
        await read(ctx, dma, 6 * BPB, 2 * BPB)
        assert ctx.get(dma.rd_err_addr) == 5 * BPB
        ctx.set(dma.clear_errors, 1 << ERR_BITS["rd_bus"])
        await ctx.tick()
        ctx.set(dma.clear_errors, 0)
        assert errors_of(await settle(ctx, dma, 1)) == []
        await read(ctx, dma, 6 * BPB, 2 * BPB)         # after a clear: the new address
        assert ctx.get(dma.rd_err_addr) == 7 * BPB
    run({"errors": {bad: resp, 7 * BPB: resp}, "stall": 0.3}, body)


def test_a_write_error_reports_its_burst():
    async def body(ctx, dma, mem):
        await put(ctx, dma.wr_cmd, [{"addr": 64, "length": 8 * BPB}], idle=0)
        await put(ctx, dma.wr_data, list(range(100, 108)), rng=random.Random(2), idle=0.2)
        while ctx.get(dma.wr_busy):
            await ctx.tick()
        assert errors_of(ctx.get(dma.errors)) == ["wr_bus"]
        assert ctx.get(dma.wr_err_addr) == 64 + 4 * BPB      # the second burst of 4 beats
        assert mem.get(64 + 6 * BPB, BPB) == (106).to_bytes(BPB, "little"), "still written"
    run({"errors": {64 + 6 * BPB: RESP_SLVERR}, "stall": 0.2}, body)


def test_responses_with_an_id_the_dma_did_not_issue_are_bus_errors():
    """A memory answering with the wrong ID (rid, bid): rd_bus and wr_bus, with the address of
    the first beat (burst) so answered; the data still moves."""
    async def body(ctx, dma, mem):
        assert await read(ctx, dma, 0, 4 * BPB) == list(range(4))
        await put(ctx, dma.wr_cmd, [{"addr": 128, "length": 2 * BPB}], idle=0)
        await put(ctx, dma.wr_data, [7, 8], idle=0)
        while ctx.get(dma.wr_busy):
            await ctx.tick()
        assert errors_of(await settle(ctx, dma, 2)) == ["rd_bus", "wr_bus"]
        assert ctx.get(dma.rd_err_addr) == 0 and ctx.get(dma.wr_err_addr) == 128
        assert mem.get(128 + BPB, BPB) == (8).to_bytes(BPB, "little")
    run({"wrong_id": True}, body)


@pytest.mark.parametrize("kind", ["dead", "mute"])
def test_a_memory_that_never_answers_ends_each_transfer_with_a_timeout(kind):
    """A memory that never takes an address (dead) or never answers one (mute): each engine
    gives its transfer up after the watchdog; the write engine takes the rest of its data
    so the producer finishes; both go idle and take the next command."""
    async def body(ctx, dma, mem):
        await put(ctx, dma.rd_cmd, [{"addr": 0, "length": 8 * BPB, "tag": 0}], idle=0)
        for _ in range(3 * WATCHDOG):
            assert not ctx.get(dma.rd_data.valid)
            await ctx.tick()
        assert errors_of(ctx.get(dma.errors)) == ["rd_timeout"]
        assert not ctx.get(dma.rd_busy)
        await put(ctx, dma.wr_cmd, [{"addr": 256, "length": 8 * BPB}], idle=0)
        await put(ctx, dma.wr_data, list(range(8)), idle=0)     # every beat is taken: no hang
        assert errors_of(await settle(ctx, dma, 3 * WATCHDOG)) == ["rd_timeout", "wr_timeout"]
        assert not ctx.get(dma.wr_busy)
        # the engines take the next commands (and give them up again)
        await put(ctx, dma.rd_cmd, [{"addr": 64, "length": BPB, "tag": 0}], idle=0)
        await put(ctx, dma.wr_cmd, [{"addr": 64, "length": BPB}], idle=0)
        await put(ctx, dma.wr_data, [1], idle=0)
        await settle(ctx, dma, 3 * WATCHDOG)
        assert not ctx.get(dma.rd_busy) and not ctx.get(dma.wr_busy)
    run({kind: True}, body)


def test_beats_that_come_after_a_timeout_are_discarded():
    """A memory slower than the watchdog: the late beats of the given-up read are taken and
    dropped, and the next read delivers its own data, exactly."""
    async def body(ctx, dma, mem):
        await put(ctx, dma.rd_cmd, [{"addr": 0, "length": 4 * BPB, "tag": 0}], idle=0)
        seen = 0
        for _ in range(4 * WATCHDOG):
            seen += ctx.get(dma.rd_data.valid)
            await ctx.tick()
        assert seen == 0, "a beat of the given-up read reached rd_data"
        assert errors_of(ctx.get(dma.errors)) == ["rd_timeout"]
        mem.late = 0
        assert await read(ctx, dma, 16 * BPB, 4 * BPB) == [16, 17, 18, 19]
        assert errors_of(ctx.get(dma.errors)) == ["rd_timeout"]
    run({"late": 2 * WATCHDOG}, body, max_burst=4)


def test_the_watchdog_is_refused_out_of_range():
    with pytest.raises(ValueError, match="watchdog"):
        Dma(watchdog=4)
    with pytest.raises(ValueError, match="tag_width"):
        Dma(tag_width=0)
