"""The host runtime in the Amaranth simulator: the unchanged :class:`EngineHost` drives the real
:class:`RolinEngine` through :class:`~ganforge.testbench.amaranth_bus.AmaranthBus` (registers
over AXI4-Lite, DMA commands on the engine's streams, the interrupt, started coroutines)."""

import pytest
from amaranth.sim import Simulator

from ganforge.firmware.registers import ROLIN, encode
from ganforge.firmware.rolin import in_layer
from ganforge.firmware.runtime.host import EngineHost
from ganforge.rtl.rolin.engine import ENGINE_ID, TAG_LOAD, RolinEngine
from ganforge.testbench.amaranth_bus import AmaranthBus

FIFO_DEPTH, BPB = 4, 8          # 64-bit AXI beats of four 16-bit elements


def _engine():
    return RolinEngine(data_width=16, axi_data_width=64, axi_addr_width=32, axi_max_burst=4,
                       axi_max_outstanding_reads=2, fifo_depth=FIFO_DEPTH, table_depth=8,
                       max_channels=4, count_bits=8)


def _run(bench, *, monitor=None, **bus_kwargs):
    """Simulate ``bench(ctx, bus, host, dut, now)`` on a small engine (``now()``: the clock
    edges so far); ``monitor(ctx, dut)`` is an optional background process."""
    dut = _engine()
    bus = AmaranthBus(dut, ROLIN, streams={"rd_cmd": dut.rd_cmd, "wr_cmd": dut.wr_cmd},
                      **bus_kwargs)
    host = EngineHost(bus, fifo_depth=FIFO_DEPTH, bytes_per_beat=BPB)
    cycles = [0]

    async def count(ctx):
        async for _ in ctx.tick():
            cycles[0] += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_process(count)
    if monitor is not None:
        async def watch(ctx):
            await monitor(ctx, dut)
        sim.add_process(watch)
    bus.add_testbench(sim, lambda ctx: bench(ctx, bus, host, dut, lambda: cycles[0]))
    sim.run()


LAYER = in_layer(count=64, channels=3, eps_q=9, gamma=[-3, 4, 100], beta=[5, -6, 7], frac_x=10,
                 frac_y=11, frac_gamma=12, frac_dy=9, frac_dx=9, frac_xhat=10)


def test_engine_host_settings_read_back_through_the_bank():
    writes = []

    async def monitor(ctx, dut):
        csr = dut.csr
        async for _, _, valid, ready, addr, wdata in ctx.tick().sample(
                csr.awvalid, csr.awready, csr.awaddr, csr.wdata):
            if valid and ready:
                writes.append((addr, wdata))

    async def bench(ctx, bus, host, dut, now):
        assert await bus.read("id") == ENGINE_ID
        assert await bus.read_fields("info") == {"lanes": 4, "data_width": 16, "log2_fifo_depth": 2}
        await host.mode(ld="ep", st="fp", discard=True, relu=False)
        assert await bus.read_fields("mode") == \
            {"ld_mode": 2, "st_mode": 1, "st_discard": 1, "ld_relu": 0}
        await host.store_side(LAYER, base=5)
        await host.load_side(LAYER, base=2)
        assert [await bus.read(n) for n in ("st_count", "channels", "st_base", "eps_q",
                                            "ld_count", "ld_base", "gb_addr")] == [64, 3, 5, 9, 64, 2, 2]
        fp, ep = LAYER.fp, LAYER.ep
        assert await bus.read_fields("st_shifts") == {
            "sh_a": fp["sh_a"], "b_lshift": fp["b_lshift"], "scale_frac": fp["scale_frac"],
            "xhat_base": ep["xhat_base"]}
        assert await bus.read_fields("st_ep_shifts") == {"sh_c": ep["sh_c"], "c2_extra": ep["c2_extra"]}
        assert await bus.read_fields("ld_shifts") == {
            "scale_frac": fp["scale_frac"], "coef_frac": ep["coef_frac"], "xhat_base": ep["xhat_base"]}
        # The γ/β table took each channel (GB_DATA is write-only: the bank saw the words).
        gb = [w for a, w in writes if a == ROLIN["gb_data"].addr]
        assert gb == [encode(ROLIN["gb_data"], gamma=g, beta=b) for g, b in zip(LAYER.gamma, LAYER.beta)]
        # A 64-bit register: LO then HI, and it reads back whole.
        del writes[:]
        await bus.write("limit", (0x12 << 32) | 0x3456_7890)
        assert writes == [(0x30, 0x3456_7890), (0x34, 0x12)]
        assert await bus.read("limit") == (0x12 << 32) | 0x3456_7890
        assert await host.counters() == {"rd_bytes": 0, "wr_bytes": 0}
        assert await host.errors() == []
        # An unmapped word answers SLVERR, which raw access reports.
        assert await bus.raw_read(0x3C) == (0, 2)
        assert await bus.raw_write(0x3C, 1) == 2
        with pytest.raises(ValueError, match="register mode: 0x40 is not a 6-bit value"):
            await bus.write("mode", 0x40)

    _run(bench, monitor=monitor)


def test_a_bad_dma_command_raises_the_interrupt():
    async def bench(ctx, bus, host, dut, now):
        with pytest.raises(TimeoutError, match="waited 20 cycles for the interrupt"):
            await bus.wait_irq(cycles=20)
        await host.dma_read([(0x100, 0, TAG_LOAD)])            # length 0: dropped, rd_zero
        await bus.wait_irq(cycles=5)
        assert await bus.read("irq") == 1                     # a sideband port as a register
        assert await host.errors() == ["rd_zero"]
        with pytest.raises(RuntimeError, match="here: engine errors rd_zero"):
            await host.check_errors("here")
        await bus.write_fields("error_clear", rd_zero=1)
        await bus.wait_cycles(2)
        assert await bus.read("irq") == 0 and await host.errors() == []
        # A restart of the load path with a map that is no whole number of beats: count.
        await host.mode(ld="fp")
        await bus.write("ld_count", 6)
        await host.restart(load=True)
        await bus.wait_irq(cycles=5)
        assert await host.errors() == ["count"]

    _run(bench, ports=("irq",))


def test_table_addresses_past_the_tables_set_the_table_error():
    """A restart whose base is past table_depth (8), CHANNELS 0 or past max_channels (4),
    and GB_DATA written with GB_ADDR past max_channels each set ``table``; good values set
    nothing. An unaligned CSR access answers SLVERR and writes nothing."""
    async def bench(ctx, bus, host, dut, now):
        async def expect(errors):
            await bus.wait_cycles(3)
            assert await host.errors() == errors
            if errors:
                await bus.write_fields("error_clear", **{e: 1 for e in errors})
                await bus.wait_cycles(2)
        await host.mode(ld="fp", st="fp")
        await bus.write("ld_count", 8)
        await bus.write("st_count", 8)
        for reg, value, bad in (("ld_base", 7, False), ("ld_base", 8, True),
                                ("ld_base", 0x100, True)):
            await bus.write(reg, value)
            await host.restart(load=True)
            await expect(["table"] if bad else [])
        await bus.write("ld_base", 0)
        for base, channels, bad in ((4, 4, False), (8, 1, True), (0, 0, True), (0, 5, True),
                                    (0, 0x104, True)):
            await bus.write("st_base", base)
            await bus.write("channels", channels)
            await host.restart(store=True)
            await expect(["table"] if bad else [])
        for addr, bad in ((3, False), (4, True), (0x103, True)):
            await bus.write("gb_addr", addr)
            await bus.write_fields("gb_data", gamma=1, beta=2)
            await expect(["table"] if bad else [])
        # An unaligned word address: SLVERR, nothing written.
        before = await bus.read("channels")
        assert await bus.raw_write(0x4C + 1, 3) == 2
        assert await bus.raw_read(0x4C + 2) == (0, 2)
        assert await bus.read("channels") == before

    _run(bench)


def test_more_maps_than_the_tables_hold_set_the_table_error():
    """The store path gathering maps of one beat each from entry 6 of 8: two maps end at
    entry 7, a third would wrap to entry 0, and sets ``table``."""
    async def bench(ctx, bus, host, dut, now):
        await host.mode(st="fp", discard=True)
        await bus.write("st_count", 4)                # one beat of 4 elements per map
        await bus.write("channels", 1)
        await bus.write("st_base", 6)
        await host.restart(store=True)

        async def beat():
            ctx.set(dut.st.payload, 0x0001_0002_0003_0004)
            ctx.set(dut.st.valid, 1)
            for _ in range(200):
                _, _, ready = await ctx.tick().sample(dut.st.ready)
                if ready:
                    break
            else:
                raise TimeoutError("waited 200 cycles for the store path to take a beat")
            ctx.set(dut.st.valid, 0)
            await bus.wait_cycles(60)                 # the parameter unit's 45 cycles a map
        for _ in range(2):
            await beat()
        assert await bus.read("st_maps") == 2 and await host.errors() == []
        await beat()
        assert await host.errors() == ["table"]

    _run(bench)


def test_a_limit_past_the_address_space_allows_all_of_it():
    """LIMIT is 64 bits and the DMA's addresses 32: a LIMIT of 2**32 or more must allow the
    whole 32-bit space (not wrap to a small limit), so a read at the top is not refused."""
    async def bench(ctx, bus, host, dut, now):
        await bus.write("limit", 0xFF)
        await host.dma_read([(0x1000, BPB, TAG_LOAD)])
        await bus.wait_cycles(5)
        assert await host.errors() == ["rd_range"]
        await bus.write_fields("error_clear", rd_range=1)
        await bus.write("limit", 1 << 32)        # truncated, this would be LIMIT 0
        await host.dma_read([(0xFFFF_FF00, BPB, TAG_LOAD)])   # taken (no memory answers it)
        await bus.wait_cycles(5)
        assert await host.errors() == []

    _run(bench)


def test_waits_time_out_naming_what_they_waited_for():
    async def bench(ctx, bus, host, dut, now):
        # A good read: the DMA issues AR, which nothing answers (no memory is modelled), so
        # the read engine stays busy and takes no further command.
        await host.dma_read([(0x0, 4 * BPB, TAG_LOAD)])
        with pytest.raises(TimeoutError, match="waited 30 cycles for stream rd_cmd to take item 0 of 1"):
            await host.dma_read([(0x100, BPB, TAG_LOAD)])
        with pytest.raises(TimeoutError, match="waited 40 cycles for rd_busy to clear"):
            await host.wait_idle(write=False, cycles=40)
        await host.wait_idle(read=False, cycles=40)             # the write engine is idle
        with pytest.raises(TimeoutError, match="ld_maps to reach 1"):
            await host.wait_at_least("ld_maps", 1, cycles=24)
        with pytest.raises(ValueError, match="no command stream 'geom'"):
            await bus.send("geom", [1])
        with pytest.raises(ValueError, match="stream wr_cmd: item 1 .*does not fit"):
            await bus.send("wr_cmd", [{"addr": 0, "length": 8}, {"addr": 1 << 32, "length": 8}])
        with pytest.raises(NotImplementedError, match="no external memory"):
            await host.mem.put("x", [1, 2])
        with pytest.raises(NotImplementedError, match="no external memory"):
            await bus.get(0, 8)

    _run(bench, timeout=30)


def test_started_coroutines_run_beside_the_testbench():
    async def bench(ctx, bus, host, dut, now):
        async def late_write():
            await bus.wait_cycles(60)
            await host.dma_write([(0x0, 0)])                  # wr_zero, from a started task
            return "written"
        t0 = now()
        tasks = [bus.start(late_write()), bus.start(bus.wait_cycles(60))]
        await bus.wait_cycles(10)
        assert await host.errors() == []                       # the task has not written yet
        await host.dma_read([(0x0, 0, TAG_LOAD)])              # rd_zero, from the testbench
        assert [await t for t in tasks] == ["written", None]
        # Side by side: about 60 cycles (plus the write), not 60 + 60 + the testbench's.
        assert 60 < now() - t0 < 80, now() - t0
        assert await host.errors() == ["rd_zero", "wr_zero"]
        # A started coroutine's error reaches whoever awaits it.
        failing = bus.start(bus.send("nowhere", [1]))
        with pytest.raises(ValueError, match="no command stream 'nowhere'"):
            await failing
        # More at once than the pool holds: refused.
        held = [bus.start(bus.wait_cycles(5)) for _ in range(2)]
        with pytest.raises(RuntimeError, match="all 2 task slots are busy"):
            bus.start(bus.wait_cycles(5))
        for t in held:
            await t

    _run(bench, tasks=2)


def test_an_error_nobody_awaits_fails_the_testbench():
    async def bench(ctx, bus, host, dut, now):
        bus.start(bus.send("nowhere", [1]))
        await bus.wait_cycles(3)

    with pytest.raises(ValueError, match="no command stream 'nowhere'"):
        _run(bench)


def test_the_bus_needs_its_testbench():
    dut = _engine()
    bus = AmaranthBus(dut, ROLIN, streams={"rd_cmd": dut.rd_cmd})
    for obj in (dut, dut._csr, dut._dma):                    # never elaborated here
        obj._MustUse__silence = True
    with pytest.raises(RuntimeError, match="outside its testbench"):
        bus.start(bus.wait_cycles(1))
    with pytest.raises(ValueError, match="ports mode are also registers of RolinEngine"):
        AmaranthBus(dut, ROLIN, ports=("mode",))
