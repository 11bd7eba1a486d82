"""The Amaranth-simulator stream helpers (tests/sim_streams.py) on a FIFO: every item crosses
once and in order under throttling on both sides, and the watchdog names what hangs."""

import random

import pytest
from amaranth.hdl import Module, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from sim_streams import put, simulate, sink, source


@pytest.mark.parametrize("idle,stall", [(0, 0), (0.5, 0), (0, 0.5), (0.4, 0.6)])
def test_put_and_take_move_every_item_once_in_order(idle, stall):
    rng = random.Random(1)
    fifo = SyncFIFOBuffered(width=8, depth=3)
    items = [rng.randrange(256) for _ in range(60)]
    got = []
    simulate(fifo, {"source": source(fifo.w_stream, items, rng=rng, idle=idle),
                    "sink": sink(fifo.r_stream, len(items), got, rng=rng, stall=stall)},
             budget=2000)
    assert [int(v) for v in got] == items


class _Stage(wiring.Component):
    """One pipeline register on a struct stream: takes an item when empty or being emptied."""

    def __init__(self, layout):
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [self.o.payload.eq(self.i.payload), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


def test_struct_payloads_as_dicts_or_raw_bits():
    dut = _Stage(data.StructLayout({"lo": 4, "hi": signed(4)}))
    got = []

    async def bench(ctx):
        await put(ctx, dut.i, [{"lo": 1, "hi": -2}, 0x43], idle=0)
        await ctx.tick()
        await put(ctx, dut.i, [{"lo": 5, "hi": 3}], idle=0)

    simulate(dut, {"bench": bench, "sink": sink(dut.o, 3, got, stall=0)}, budget=50)
    assert [(p.lo, p.hi) for p in got] == [(1, -2), (3, 4), (5, 3)]


def test_watchdog_names_what_did_not_finish():
    fifo = SyncFIFOBuffered(width=8, depth=2)
    with pytest.raises(AssertionError, match=r"50-cycle budget spent; not finished: sink$"):
        simulate(fifo, {"source": source(fifo.w_stream, [1, 2], idle=0),
                        "sink": sink(fifo.r_stream, 3, [], stall=0)}, budget=50)


def test_helpers_refuse_bad_throttling():
    with pytest.raises(ValueError, match="idle=0.3 needs an rng"):
        source(None, [], idle=0.3)
    with pytest.raises(ValueError, match=r"stall must be a probability in \[0, 1\)"):
        sink(None, 1, [], rng=random.Random(0), stall=1)
    with pytest.raises(ValueError, match="budget"):
        simulate(None, {"b": None}, budget=0)
