"""The command processor in the Amaranth simulator: every instruction, every error code,
ABORT, and the program after each of them.

The processor runs against :class:`~ganforge.testbench.axi_mem.AxiMemory` (ready and valid
dropped at random), sinks that stall at random on all its output streams, and a real
register bank (:class:`~ganforge.rtl.bus.csr.AxiLiteCsr`) on its register port. What leaves
each port is compared with what the program says, exactly.
"""

import random

import pytest
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.wiring import connect
from amaranth.sim import Simulator

from ganforge.firmware.compiler.cp import assemble, beat_bytes, instr, pack_beats
from ganforge.firmware.runtime.processor import ProcessorHost, ProgramError
from ganforge.rtl.bus.csr import AxiLiteCsr
from ganforge.rtl.bus.regmap import Register, RegisterMap
from ganforge.rtl.control.isa import INSTR_BYTES, ISA, Cond, Error, render_markdown
from ganforge.rtl.control.processor import PROCESSOR_ID, REGMAP, CommandProcessor
from ganforge.testbench.amaranth_bus import AmaranthBus
from ganforge.testbench.axi_mem import AxiMemory
from ganforge.rtl.bus.axi import RESP_SLVERR

CORES, CMD_WIDTH, COUNTERS = 3, 100, 3
#: Event counters of the harness (threads are per test).
THREAD_EVENTS = 4
PROG, DATA, SNAP, MEM = 0x0000, 0x1000, 0x3000, 0x4000

#: The register bank on the processor's register port in these tests.
TEST_MAP = RegisterMap("Probe", [
    Register("scratch", 0x0, "rw", 32, doc="written by REG"),
    Register("probe", 0x4, "ro", 32, doc="what POLL reads"),
], addr_width=12)


class Harness(Elaboratable):
    """A processor with a register bank on its register port."""

    def __init__(self, data_width, threads=1, events=1):
        self.cp = CommandProcessor(addr_width=32, data_width=data_width, max_burst=4,
                                   cores=CORES, cmd_width=CMD_WIDTH, coord_bits=8,
                                   counters=COUNTERS, reg_addr_width=12, threads=threads,
                                   events=events)
        self.bank = AxiLiteCsr(TEST_MAP)

    def elaborate(self, platform):
        m = Module()
        m.submodules.cp, m.submodules.bank = self.cp, self.bank
        connect(m, self.cp.regs, self.bank.bus)
        return m


def simulate(program, *, data_width=64, seed=0, stall=0.3, memory=None, setup=None,
             check=None, events=None, cycles=40_000, cmd_stall=None, threads=1):
    """Run ``program`` (instructions) on a harness; returns what left each port.

    ``memory(mem)`` fills the memory first; ``setup(host)`` runs before GO (default: a
    window over the memory); ``check(host, bus, out)`` replaces the default wait-and-expect-
    done; ``events(ctx, h)`` is a background process driving the sideband inputs."""
    rng = random.Random(seed)
    h = Harness(data_width, threads=threads, events=THREAD_EVENTS)
    cp = h.cp
    mem = AxiMemory(cp.axi, MEM, rng=rng, stall=stall)
    if memory:
        memory(mem)
    bus = AmaranthBus(cp, REGMAP, csr=cp.csr, irq=cp.irq, memory=mem, timeout=cycles)
    out = {"cmd": [], "rd_cmd": [], "wr_cmd": [], "geom": [], "flush": 0}

    def sink(name):
        port = getattr(cp, name)

        p_stall = cmd_stall if name == "cmd" and cmd_stall is not None else stall

        async def proc(ctx):
            held = None         # the payload offered and not taken: it must stay offered
            while True:
                ctx.set(port.ready, int(rng.random() >= p_stall))
                _, _, valid, ready, payload = await ctx.tick().sample(port.valid, port.ready,
                                                                      port.payload)
                bits = payload.as_value().value if hasattr(payload, "as_value") else int(payload)
                if held is not None:
                    assert valid and bits == held, f"{name}: an offered beat was withdrawn or changed"
                if valid and ready:
                    out[name].append(payload)
                held = bits if valid and not ready else None
        return proc

    async def flushes(ctx):
        async for _, _, f in ctx.tick().sample(cp.flush):
            out["flush"] += f

    async def never_holds_the_memory(ctx):
        # Read data the processor asked for is always taken: it never holds the shared
        # memory port up while the cores (or anything else) are busy.
        async for _, _, rvalid, rready in ctx.tick().sample(cp.axi.rvalid, cp.axi.rready):
            assert not (rvalid and not rready), "the processor held an R beat up"

    async def bench(ctx):
        host = ProcessorHost(bus)
        assert await bus.read("id") == PROCESSOR_ID
        await host.load(PROG, program)
        if setup:
            await setup(host)
        else:
            await host.setup(window=(0, MEM))
        if check:
            await check(host, bus, out)
        else:
            await host.start(PROG)
            out["retired"] = await host.wait(cycles=cycles)

    sim = Simulator(h)
    sim.add_clock(1e-8)
    sim.add_process(mem.process)
    for name in ("cmd", "rd_cmd", "wr_cmd", "geom"):
        sim.add_process(sink(name))
    sim.add_process(flushes)
    sim.add_process(never_holds_the_memory)
    if events:
        async def drive(ctx):
            await events(ctx, h)
        sim.add_process(drive)
    bus.add_testbench(sim, bench)
    sim.run()
    out["mem"], out["scratch"] = mem, None
    return out


async def ticks(ctx, n):
    """``n`` clock edges (not ``tick().repeat``: a background process may end mid-wait)."""
    for _ in range(n):
        await ctx.tick()


def beats_of(n, seed=1):
    rng = random.Random(seed)
    return [rng.getrandbits(CMD_WIDTH) for _ in range(n)]


@pytest.mark.parametrize("data_width", [32, 64, 128])
def test_every_instruction_reaches_its_port(data_width):
    beats = beats_of(7)
    counters = [0x1111_2222_3333_4444, 5, (1 << 64) - 1]
    program = [
        instr("NOP"),
        instr("REG", reg=0x0, value=0xCAFE_F00D),
        instr("POLL", reg=0x4, cond=Cond.GE, mask=0xFF, value=3),
        instr("GEOM", mask=0b101, cin=7, in_h=8, in_w=6),
        instr("LOAD", tag=0, mask=0b110, length=256, addr=0x2000),
        instr("STORE", core=2, length=128, addr=0x2800),
        instr("CORE", mask=0b011, beats=len(beats), addr=DATA),
        instr("WAIT", mask=0b10),
        instr("SNAPSHOT", addr=SNAP),
        instr("POLL", reg=0x0, cond=Cond.EQ, mask=0xFFFF, value=0xF00D),
        instr("END"),
    ]

    async def events(ctx, h):
        # the probe counts up slowly (POLL waits for 3); idle input 1 rises late; counters
        ctx.set(h.cp.counters, counters)
        for v in range(1, 5):
            await ticks(ctx, 40)
            ctx.set(h.bank.probe, v)
        await ticks(ctx, 300)
        ctx.set(h.cp.idle, 0b10)

    out = simulate(program, data_width=data_width,
                   memory=lambda mem: mem.put(DATA, pack_beats(beats, CMD_WIDTH, data_width)),
                   events=events)
    assert out["retired"] == len(program) - 1
    assert [(int(g.mask), int(g.cin), int(g.in_h), int(g.in_w)) for g in out["geom"]] == [(5, 7, 8, 6)]
    assert [(int(c.addr), int(c.length), int(c.tag), int(c.mask)) for c in out["rd_cmd"]] == \
        [(0x2000, 256, 0, 0b110)]
    assert [(int(c.addr), int(c.length), int(c.core)) for c in out["wr_cmd"]] == [(0x2800, 128, 2)]
    assert [(int(c.mask), int(c.beat)) for c in out["cmd"]] == [(0b011, b) for b in beats]
    snap = out["mem"].get(SNAP, 8 * COUNTERS)
    assert [int.from_bytes(snap[8 * i:8 * i + 8], "little") for i in range(COUNTERS)] == counters
    assert out["flush"] == 0
    # the program's reads: 11 fetches of 16 bytes and the beats, nothing more
    reads = sum(n for kind, _, n in out["mem"].log if kind == "read") * data_width // 8
    assert reads == 16 * len(program) + len(beats) * beat_bytes(CMD_WIDTH, data_width)


def test_a_slow_core_never_holds_the_memory_port():
    """The cores take command beats rarely (95 % stalls): the processor reads a CORE's beats
    only into room it has, so the R channel is never held up (checked every cycle by the
    harness), and every beat still arrives in order."""
    beats = beats_of(40)
    program = [instr("CORE", mask=0b001, beats=len(beats), addr=DATA), instr("END")]
    out = simulate(program, cmd_stall=0.95, cycles=80_000,
                   memory=lambda mem: mem.put(DATA, pack_beats(beats, CMD_WIDTH, 64)))
    assert [int(c.beat) for c in out["cmd"]] == beats


def raw(code):
    """An instruction with a raw opcode (``encode`` refuses unknown ones)."""
    return "_raw", code


def _layout(program):
    out = b""
    for name, fields in program:
        if name == "_raw":
            out += fields.to_bytes(INSTR_BYTES, "little")
        else:
            out += assemble([(name, fields)])
    return out


def run_failing(program, code, at, *, setup=None, events=None, base=PROG, stall=0.3,
                memory=None, threads=1):
    """Run ``program``, expect it to stop with ``code`` at instruction ``at`` (an index, or
    an address when ``base`` is odd-aligned), then run a good program on the same
    processor and expect it to end normally."""
    got = {}

    async def check(host, bus, out):
        await host.bus.put(PROG, _layout(program))
        good = 0x800
        await host.load(good, [instr("REG", reg=0x0, value=7), instr("END")])
        with pytest.raises(ProgramError) as info:
            await host.run(base, cycles=20_000)
        got["error"] = info.value
        got["flush"] = out["flush"]
        assert (await host.status())["irq"] == 1
        await host.setup(window=(0, MEM), budget=1 << 20)
        assert await host.run(good, cycles=20_000) == 1
        got["status"] = await host.status()

    async def default_setup(host):
        await host.setup(window=(0, MEM))

    simulate([], setup=setup or default_setup, check=check, events=events, stall=stall,
             memory=memory, threads=threads)
    err = got["error"]
    assert err.code == code, str(err)
    assert err.pc == (at if base != PROG else PROG + INSTR_BYTES * at), str(err)
    assert got["status"]["done"] == 1 and got["status"]["error"] == 0
    return got


def test_unknown_opcode():
    run_failing([instr("NOP"), raw(0x5A)], Error.OPCODE, 1)


@pytest.mark.parametrize("bad", [
    instr("GEOM", mask=0b1000, cin=1, in_h=1, in_w=1),        # core 3 of 3 cores
    instr("GEOM", mask=0, cin=1, in_h=1, in_w=1),             # to no core
    instr("GEOM", mask=1, cin=256, in_h=1, in_w=1),           # coordinate beyond 8 bits
    instr("LOAD", tag=4, mask=1, length=16, addr=0),          # tag beyond 2 bits
    instr("LOAD", tag=0, mask=0, length=16, addr=0),          # data for no core
    instr("LOAD", tag=0, mask=0b1000, length=16, addr=0),     # core 3 of 3 cores
    instr("STORE", core=3, length=16, addr=0),
    instr("CORE", mask=0b1000, beats=1, addr=DATA),
    instr("REG", reg=0x1000, value=0),                        # beyond 12 address bits
    instr("REG", reg=0x2, value=0),                           # not word aligned
    instr("POLL", reg=0, cond=3, mask=1, value=1),            # no such condition
], ids=["geom-core", "geom-none", "geom-coord", "load-tag", "load-none", "load-core",
        "store-core", "core-core", "reg-range",
        "reg-align", "poll-cond"])
def test_field_out_of_range(bad):
    run_failing([instr("NOP"), bad], Error.OPCODE, 1)


@pytest.mark.parametrize("bad", [
    instr("LOAD", tag=0, mask=1, length=0x100, addr=MEM - 0x80),
    instr("STORE", length=0x10, addr=(1 << 32) - 8),          # past the 32-bit space
    instr("CORE", mask=1, beats=1000, addr=DATA),
    instr("SNAPSHOT", addr=MEM - 8),
], ids=["load-past-hi", "store-past-space", "core-past-hi", "snapshot-past-hi"])
def test_access_outside_the_window(bad):
    run_failing([instr("NOP"), bad], Error.WINDOW, 1)


def test_running_off_the_window():
    """A program without END runs into the window's end: the fetch is refused."""
    async def setup(host):
        await host.setup(window=(0, PROG + 3 * INSTR_BYTES))
    run_failing([instr("NOP")] * 3, Error.WINDOW, 3, setup=setup)

    async def above_base(host):
        await host.setup(window=(PROG + INSTR_BYTES, MEM))
    run_failing([instr("NOP")], Error.WINDOW, 0, setup=above_base)


def test_misaligned_base_and_addresses():
    run_failing([], Error.ALIGN, PROG + 8, base=PROG + 8)
    run_failing([instr("CORE", mask=1, beats=1, addr=DATA + 4)], Error.ALIGN, 0)
    run_failing([instr("SNAPSHOT", addr=SNAP + 2)], Error.ALIGN, 0)


def test_bus_error_on_the_processors_reads():
    beats = beats_of(3)
    bb = beat_bytes(CMD_WIDTH, 64)

    def memory(mem):
        mem.put(DATA, pack_beats(beats, CMD_WIDTH, 64))
        mem.errors[DATA + bb] = RESP_SLVERR          # the second beat's first word
    run_failing([instr("NOP"), instr("CORE", mask=1, beats=3, addr=DATA), instr("END")],
                Error.BUS, 1, memory=memory)


def test_register_port_error():
    run_failing([instr("REG", reg=0x0, value=1), instr("REG", reg=0x10, value=1)], Error.REG, 1)
    run_failing([instr("POLL", reg=0x20, cond=Cond.EQ, mask=1, value=1)], Error.REG, 0)


def test_core_error_and_fault_stop_the_program():
    beats = beats_of(40)

    def memory(mem):
        mem.put(DATA, pack_beats(beats, CMD_WIDTH, 64))

    def raise_after(signal, n):
        """Raise ``signal`` after the ``n``-th core beat, for 30 cycles."""
        async def events(ctx, h):
            seen = 0
            while seen < n:
                _, _, v, r = await ctx.tick().sample(h.cp.cmd.valid, h.cp.cmd.ready)
                seen += v and r
            ctx.set(getattr(h.cp, signal), 1 if signal == "fault" else 0b010)
            await ticks(ctx, 30)
            ctx.set(getattr(h.cp, signal), 0)
        return events
    for signal, code in (("core_error", Error.CORE), ("fault", Error.FAULT)):
        got = run_failing([instr("NOP"), instr("CORE", mask=0b111, beats=40, addr=DATA),
                           instr("END")], code, 1, events=raise_after(signal, 5),
                          memory=memory)
        assert got["flush"] == 1


def test_timeout_of_a_wait_and_of_a_dead_memory():
    async def setup(host):
        await host.setup(window=(0, MEM), budget=300)
    run_failing([instr("NOP"), instr("WAIT", mask=0b1)], Error.TIMEOUT, 1, setup=setup)
    run_failing([instr("POLL", reg=0x4, cond=Cond.NE, mask=1, value=0)], Error.TIMEOUT, 0,
                setup=setup)


def test_a_dead_memory_ends_with_timeout_and_stuck():
    """A memory that never accepts an address: the fetch times out, the stop cannot finish
    the read in flight, and the processor still ends (STATUS.stuck) instead of hanging."""
    got = {}

    async def check(host, bus, out):
        await host.setup(window=(0, MEM), budget=200)
        with pytest.raises(ProgramError) as info:
            await host.run(PROG, cycles=5_000)
        got["err"] = info.value
        got["busy"] = (await host.status())["busy"]

    h = Harness(64)
    cp = h.cp
    mem = AxiMemory(cp.axi, MEM, dead=True)
    bus = AmaranthBus(cp, REGMAP, csr=cp.csr, irq=cp.irq, memory=mem)
    sim = Simulator(h)
    sim.add_clock(1e-8)
    sim.add_process(mem.process)
    async def bench(ctx):
        await check(ProcessorHost(bus), bus, {})
    bus.add_testbench(sim, bench)
    sim.run()
    assert got["err"].code == Error.TIMEOUT and got["err"].stuck and got["err"].pc == PROG
    assert got["busy"] == 0


def test_abort_stops_a_running_program_and_the_next_runs():
    beats = beats_of(30)
    got = {}

    async def check(host, bus, out):
        await host.load(0x800, [instr("CORE", mask=1, beats=30, addr=DATA), instr("END")])
        await host.start(PROG)
        await bus.wait_cycles(200)                      # inside the WAIT
        assert (await host.status())["busy"] == 1
        await host.abort()
        with pytest.raises(ProgramError) as info:
            await host.wait(cycles=2_000)
        got["err"], got["flush"] = info.value, out["flush"]
        n = len(out["cmd"])
        assert await host.run(0x800, cycles=20_000) == 1
        got["beats"] = [int(c.beat) for c in out["cmd"][n:]]

    simulate([instr("NOP"), instr("WAIT", mask=0b1), instr("END")],
             memory=lambda mem: mem.put(DATA, pack_beats(beats, CMD_WIDTH, 64)), check=check)
    assert got["err"].code == Error.ABORTED and got["err"].pc == PROG + INSTR_BYTES
    assert got["flush"] == 1
    assert got["beats"] == beats


def test_abort_in_the_middle_of_a_core_stream_drains_it():
    """ABORT while beats stream: the beat offered is still delivered whole, the reads in
    flight are dropped, and the next program's beats arrive intact."""
    beats, second = beats_of(60), beats_of(5, seed=9)
    got = {}

    def memory(mem):
        mem.put(DATA, pack_beats(beats, CMD_WIDTH, 64))
        mem.put(0x2000, pack_beats(second, CMD_WIDTH, 64))

    async def check(host, bus, out):
        await host.load(0x800, [instr("CORE", mask=2, beats=5, addr=0x2000), instr("END")])
        await host.start(PROG)
        for _ in range(2000):
            if len(out["cmd"]) >= 10:
                break
            await bus.wait_cycles(1)
        await host.abort()
        with pytest.raises(ProgramError):
            await host.wait(cycles=2_000)
        n = len(out["cmd"])
        got["first"] = [int(c.beat) for c in out["cmd"]]
        assert await host.run(0x800, cycles=20_000) == 1
        got["second"] = [(int(c.mask), int(c.beat)) for c in out["cmd"][n:]]

    simulate([instr("CORE", mask=1, beats=60, addr=DATA), instr("END")], memory=memory,
             check=check)
    assert 10 <= len(got["first"]) < 60
    assert got["first"] == beats[:len(got["first"])]
    assert got["second"] == [(2, b) for b in second]


# --- threads and events ----------------------------------------------------------------------

def at(index):
    """The address of a program's instruction ``index``."""
    return PROG + INSTR_BYTES * index


def geoms(out):
    return [int(g.cin) for g in out["geom"]]


def test_threads_take_turns_instruction_by_instruction():
    """Thread 0 forks thread 1; from then on their instructions alternate, and the program
    ends when the last thread ends."""
    program = [instr("FORK", thread=1, addr=at(5)),
               *[instr("GEOM", mask=1, cin=c, in_h=1, in_w=1) for c in (10, 11, 12)],
               instr("END"),
               *[instr("GEOM", mask=2, cin=c, in_h=1, in_w=1) for c in (20, 21, 22)],
               instr("END")]
    out = simulate(program, threads=2)
    assert geoms(out) == [10, 20, 11, 21, 12, 22]
    assert out["retired"] == 7          # FORK and the GEOMs (END does not retire)


def test_an_event_orders_two_threads():
    """Thread 0 waits for event 2 to reach 2, which thread 1 raises twice."""
    program = [instr("FORK", thread=1, addr=at(4)), instr("WAITEV", event=2, count=2),
               instr("GEOM", mask=1, cin=1, in_h=1, in_w=1), instr("END"),
               instr("GEOM", mask=2, cin=2, in_h=1, in_w=1), instr("SIGNAL", event=2),
               instr("GEOM", mask=2, cin=3, in_h=1, in_w=1), instr("SIGNAL", event=2),
               instr("END")]
    for seed in range(3):
        assert geoms(simulate(program, threads=2, seed=seed)) == [2, 3, 1]


def test_a_waiting_thread_lets_the_others_run():
    """Thread 0 WAITs for idle input 0, which rises only after thread 1's two GEOMs have
    left: thread 1 ran while thread 0 waited."""
    program = [instr("FORK", thread=1, addr=at(4)), instr("WAIT", mask=0b1),
               instr("GEOM", mask=1, cin=1, in_h=1, in_w=1), instr("END"),
               instr("GEOM", mask=2, cin=2, in_h=1, in_w=1),
               instr("GEOM", mask=2, cin=3, in_h=1, in_w=1), instr("END")]
    seen, out = {}, {}

    async def check(host, bus, o):
        await host.start(PROG)
        await bus.wait_cycles(300)
        seen["regs"] = await bus.read_fields("threads")
        out["retired"] = await host.wait(cycles=20_000)
        out["geom"] = o["geom"]

    async def events(ctx, h):
        ctx.set(h.cp.idle, 0)
        await ticks(ctx, 600)
        ctx.set(h.cp.idle, 1)

    simulate(program, threads=2, events=events, check=check)
    assert geoms(out) == [2, 3, 1]
    # at cycle 300 thread 1 has ended (it ran last) and thread 0 waits
    assert seen["regs"] == {"alive": 0b01, "waiting": 0b01, "current": 1}


def test_threads_that_all_wait_end_with_timeout():
    """Two threads each wait for an event only the other would raise: no progress, so the
    program stops with TIMEOUT at the instruction of the thread that ran last."""
    async def setup(host):
        await host.setup(window=(0, MEM), budget=300)
    program = [instr("FORK", thread=1, addr=at(3)), instr("WAITEV", event=0, count=1),
               instr("END"), instr("WAITEV", event=1, count=1), instr("END")]
    run_failing(program, Error.TIMEOUT, 3, setup=setup, threads=2)


@pytest.mark.parametrize("bad, code", [
    (instr("FORK", thread=2, addr=at(0)), Error.OPCODE),      # thread 2 of 2
    (instr("FORK", thread=0, addr=at(0)), Error.OPCODE),      # itself: running
    (instr("FORK", thread=1, addr=at(0) + 8), Error.ALIGN),
    (instr("SIGNAL", event=THREAD_EVENTS), Error.OPCODE),
    (instr("WAITEV", event=THREAD_EVENTS, count=0), Error.OPCODE),
], ids=["fork-thread", "fork-running", "fork-align", "signal-event", "waitev-event"])
def test_bad_thread_and_event_fields(bad, code):
    run_failing([instr("NOP"), bad], code, 1, threads=2)


def test_fork_of_a_thread_still_running_is_refused():
    """Thread 1 runs (it waits for an event): a second FORK of it stops the program."""
    program = [instr("FORK", thread=1, addr=at(3)), instr("FORK", thread=1, addr=at(3)),
               instr("END"), instr("WAITEV", event=0, count=1), instr("END")]
    run_failing(program, Error.OPCODE, 1, threads=2)


def test_abort_while_every_thread_waits():
    """ABORT reaches a program whose threads all wait; the next program runs normally and
    its event counters start from zero (a WAITEV for 1 waits for its own SIGNAL)."""
    got = {}

    async def check(host, bus, out):
        await host.load(0x800, [instr("SIGNAL", event=3), instr("WAITEV", event=3, count=1),
                                instr("END")])
        await host.start(PROG)
        await bus.wait_cycles(300)
        got["regs"] = await bus.read_fields("threads")
        await host.abort()
        with pytest.raises(ProgramError) as info:
            await host.wait(cycles=2_000)
        got["err"] = info.value
        got["after"] = await bus.read_fields("threads")
        got["retired"] = await host.run(0x800, cycles=20_000)

    program = [instr("FORK", thread=1, addr=at(3)), instr("WAITEV", event=3, count=1),
               instr("END"), instr("WAITEV", event=3, count=2), instr("END")]
    simulate(program, threads=2, check=check)
    assert got["regs"]["alive"] == 0b11 and got["regs"]["waiting"] == 0b11
    assert got["err"].code == Error.ABORTED
    assert got["after"]["alive"] == 0 and got["after"]["waiting"] == 0
    assert got["retired"] == 2


def test_encoder_refuses_what_does_not_fit():
    with pytest.raises(ValueError, match="field beats = 16777216 does not fit 24 bits"):
        instr("CORE", mask=1, beats=1 << 24, addr=0)
    with pytest.raises(ValueError, match="no field 'length'"):
        instr("CORE", length=3)
    with pytest.raises(ValueError, match="unknown instruction 'JUMP'"):
        instr("JUMP")
    with pytest.raises(ValueError, match="does not fit 100 bits"):
        pack_beats([1 << 100], 100, 64)


def test_processor_refuses_bad_parameters():
    for kw, name in ((dict(cores=0), "cores"), (dict(cores=17), "cores"),
                     (dict(counters=0), "counters"), (dict(tag_width=5), "tag_width"),
                     (dict(data_width=48), "axi_data_width"), (dict(threads=0), "threads"),
                     (dict(threads=9), "threads"), (dict(events=17), "events")):
        with pytest.raises(ValueError, match=name):
            CommandProcessor(**kw)


def test_docs_table_is_generated_from_the_isa():
    from pathlib import Path
    doc = (Path(__file__).parent.parent / "docs" / "control.md").read_text()
    assert render_markdown(level=3) in doc, "docs/control.md is stale: run python -m ganforge.rtl.control"
    assert all(f"`{i.name}`" in doc for i in ISA)
