"""Formal properties of the DMA's AXI4 master (SymbiYosys: k-induction and covers, z3).

:class:`DmaFormal` wraps a :class:`~ganforge.rtl.bus.dma.Dma` built small (:data:`PARAMS`):
32-bit address and data, bursts of at most 4 beats, 2 read and 2 write bursts in flight, a
1-bit tag, a 16-cycle watchdog. The RTL is written for any parameters, and these reach
every case it distinguishes: a burst cut by ``max_burst``, by the 4 KiB boundary
(1024 beats, reached as the address is free) or by the command's end; a FIFO of bursts in
flight that fills (``w_rdy`` low) and wraps; a watchdog that expires (16 is its minimum,
so a timeout fits in a short cover trace). Addresses, lengths and ``limit`` keep their
full width, so the 4 KiB and top-of-memory (``limit`` = 2**32-1) cases are not cut away.
The proof itself does not depend on the size (the shadow state is as wide as the DMA's):
``tests/test_formal_dma.py`` also proves it at the DMA's default parameters and at a wide
configuration (128-bit data, 256-beat bursts, 40-bit addresses).

Every input is free (``AnySeq``): the commands, the write data, ``rd_data.ready``,
``limit``, the clear inputs and all the subordinate's AXI signals; reset is never asserted
after the initial state. The environment is assumed to follow the protocols:

* ``rd_cmd``, ``wr_cmd``, ``wr_data``: a producer keeps ``valid`` and the payload until
  ``ready`` (Amaranth ``lib.stream``);
* R and B: the subordinate keeps ``valid`` and the payload until ``ready``; R beats come
  only for an AR already taken (the oldest one not finished), ``rlast`` exactly on its
  ARLEN+1-th beat; a B only while an AW taken is unanswered (weaker than AXI, which also
  waits for the burst's W beats: the proof holds for subordinates answering early too).

Timeouts are part of the proof (``timeouts=False`` instead assumes the subordinate always
answers in time). A harness watchdog, written from the docstring, counts the cycles the
subordinate owes something (an address handshake; an R beat for a burst not given up; a W
handshake with data at hand; a B) and offers none; after ``watchdog`` of them the engine
gives up: the read engine forgets its command and its bursts in flight become orphans,
whose beats are taken and dropped; the write engine drops what is left of its command's
write data and its outstanding bursts become orphans. A late subordinate may keep
answering those (its R and B are allowed as above). Asserted in every reachable state:

* AR, AW, W: once ``valid`` is up without ``ready`` it stays up with the same payload
  (``addr, len, size, burst, id``; ``data, strb, last``) (AXI A3.2.1) -- except after the
  cycle the watchdog expires: the design then withdraws an AR, AW or W not taken (an AXI
  violation, part of the abandonment the DMA documents; covered below);
* every burst is INCR of the bus width (``size`` = log2 bytes per beat), ``len`` <
  ``max_burst``, ``id`` 0, and does not cross 4 KiB;
* each command's bursts cover exactly ``[addr, addr+length)``, in order, without gap or
  overlap (the first at ``addr``, each next one where the previous ended, the last ending at
  ``addr+length``), every byte <= ``limit`` as it was when the command was taken (the DMA
  checks ``limit`` then only); nothing is issued for a refused command (zero length,
  unaligned, past ``limit``);
* W: no beat before its burst's AW (the design issues AW, then its W beats, one burst at a
  time), AWLEN+1 beats with WLAST exactly on the last -- except that a burst cut by a
  timeout gets fewer; ``wstrb`` all ones, ``wdata`` is the ``wr_data`` beat taken with it;
  ``wr_data`` is taken exactly for W beats and, after a timeout, for the data dropped;
* an AR is taken only while fewer than ``max_outstanding_reads`` bursts are unfinished (last R
  beat not taken), an AW only while fewer than ``max_outstanding_writes`` B are owed;
* ``rd_data``: ``valid`` = ``rvalid`` for a burst not given up (beats of orphans are taken
  and dropped: ``rready`` = 1), ``data`` = ``rdata``, ``tag`` that of its command, ``last``
  exactly on the final beat of the command's final burst; ``rready`` = ``rd_data.ready``
  otherwise;
* ``rd_cmd.ready`` exactly while the read engine holds no command with bursts left to
  issue and its watchdog is not expiring; ``wr_cmd.ready`` exactly when the write engine is idle; ``rd_busy``/``wr_busy``
  as documented; ``bready`` always high;
* the watchdogs expire exactly when the harness's own count says so.

Not asserted: ``errors``, ``rd_err_addr``/``wr_err_addr`` and the statistics counters.

The helper invariants that close the induction (at depth 2) relate the harness's shadow
state to the DMA's: the engines' registers and FSM state, the FIFO levels and pointers,
the tag and ``ends`` bits of each read-FIFO entry (read through extra comb read ports added
to its storage), the orphan and watchdog counts. The harness reaches those signals by name
in the DMA's elaborated module (:func:`_signals`); nothing in ``rtl/`` is changed.

The covers reach a read of several bursts delivered to its ``last`` beat, a write of
several bursts answered to its last B, both FIFOs full, a burst cut at 4 KiB, and after a
timeout: an orphan's late beat dropped, the dropped write data, a full read and a full
write; the withdrawn AR/AW/W; and a read command offered on the very cycle the read
watchdog expires on an earlier command's bursts. (The proof found that the DMA used to
take such a command and drop it whole, nothing issued; it now waits a cycle.)
"""

from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cover, Elaboratable, Module, Mux, ResetSignal, Signal, Value
from amaranth.hdl import _ast
from amaranth.hdl._dsl import resolve_statements

from ganforge.rtl.bus.axi import BOUNDARY_4K, BURST_INCR
from ganforge.rtl.bus.dma import Dma
from ganforge.testbench.formal import held

__all__ = ["DmaFormal", "PARAMS", "PROVE_DEPTH", "COVER_DEPTH"]

#: Small parameters: every case of the RTL, a tractable state space.
PARAMS = dict(addr_width=32, data_width=32, max_burst=4, max_outstanding_reads=2,
              max_outstanding_writes=2, tag_width=1, watchdog=16)

#: The proof's depths (``make formal``; :func:`~ganforge.testbench.formal.run_sby`).
PROVE_DEPTH, COVER_DEPTH = 2, 24


def _walk(node, out):
    """Collect the signals of a statement or value tree into ``out``."""
    if isinstance(node, Signal):
        out.setdefault(node.name, {})[id(node)] = node
    elif isinstance(node, (list, tuple)):
        for item in node:
            _walk(item, out)
    elif isinstance(node, _ast.Assign):
        _walk([node.lhs, node.rhs], out)
    elif isinstance(node, _ast.Switch):
        _walk(node.test, out)
        for _patterns, stmts, _loc in node.cases:
            _walk(list(stmts), out)
    elif isinstance(node, _ast.Property):
        _walk(node.test, out)
    elif isinstance(node, _ast.Operator):
        _walk(list(node.operands), out)
    elif isinstance(node, (_ast.Slice, _ast.Part)):
        _walk(node.value, out)
        if isinstance(node, _ast.Part):
            _walk(node.offset, out)
    elif isinstance(node, _ast.Concat):
        _walk(list(node.parts), out)
    elif isinstance(node, _ast.SwitchValue):
        _walk(node.test, out)
        _walk([elem for _patterns, elem in node.cases], out)


def _signals(module):
    """The signals a :class:`Module` reads or drives, by name (each name with one signal)."""
    module._flush()
    found = {}
    for sts in module._statements.values():
        _walk(list(resolve_statements(sts)), found)
    _walk(list(module._top_comb_statements), found)
    return {name: next(iter(sigs.values())) for name, sigs in found.items() if len(sigs) == 1}


class _Fifo:
    """A :class:`SyncFIFO` of the DMA elaborated here, with its pointers and a comb read
    port per entry of its storage."""

    def __init__(self, dm, name, platform):
        fifo, src_loc = dm._named_submodules[name]
        fifo._MustUse__silence = True               # elaborated here, in its place
        fm = fifo.elaborate(platform)
        sigs = _signals(fm)
        storage, _ = fm._named_submodules["storage"]
        self.ports = [storage.read_port(domain="comb") for _ in range(fifo.depth)]
        dm._named_submodules[name] = (fm, src_loc)
        self.fifo, self.depth = fifo, fifo.depth
        self.produce, self.consume = sigs["produce"], sigs["consume"]

    def invariants(self, m):
        for j, port in enumerate(self.ports):
            m.d.comb += port.addr.eq(j)
        lvl, c = self.fifo.level, self.consume
        end = c + lvl
        m.d.comb += [
            Assert(lvl <= self.depth), Assert(c < self.depth), Assert(self.produce < self.depth),
            Assert(self.produce == Mux(end >= self.depth, end - self.depth, end)),
        ]

    def entry(self, i):
        """The ``i``-th oldest entry."""
        idx = self.consume + i
        idx = Mux(idx >= self.depth, idx - self.depth, idx)
        data = self.ports[0].data
        for j in range(1, self.depth):
            data = Mux(idx == j, self.ports[j].data, data)
        return data


class _Queue:
    """A shadow FIFO of records (python lists of signals), oldest at index 0."""

    def __init__(self, name, depth, fields):
        self.depth, self.fields = depth, fields
        self.n = Signal(range(depth + 2), name=f"{name}_n")
        self.e = [{f: Signal(w, name=f"{name}{i}_{f}") for f, w in fields.items()}
                  for i in range(depth)]

    def update(self, m, push, pop, vals):
        after_pop = Signal(range(self.depth + 2), name=f"{self.n.name}_ap")
        m.d.comb += after_pop.eq(self.n - pop)
        for i in range(self.depth):
            for f in self.fields:
                cur = self.e[i][f]
                nxt = self.e[i + 1][f] if i + 1 < self.depth else cur
                m.d.sync += cur.eq(Mux(push & (after_pop == i), vals[f], Mux(pop, nxt, cur)))
        m.d.sync += self.n.eq(self.n + push - pop)


class DmaFormal(Elaboratable):
    """A :class:`Dma` with free inputs, protocol assumptions and the properties above.

    ``timeouts=False`` also assumes that the subordinate always answers before the watchdog
    expires (a shorter proof of the same properties, which then hold with no exception)."""

    def __init__(self, *, timeouts=True, dma_cls=Dma, drop_assume=None, **dma_params):
        self.params = dict(PARAMS, **dma_params)
        self.timeouts = timeouts
        # to show that the proof can fail: a mutant DMA, or an assumption left out
        # ("r_issued": R beats only for an AR taken, "b_issued": B only for an AW taken)
        self.dma_cls, self.drop_assume = dma_cls, drop_assume

    def _watchdog(self, m, wait, count, expired, dut_expired):
        """The harness's watchdog of one engine, as documented: ``count`` the cycles of
        ``wait``; ``expired`` on the ``watchdog``-th; the DMA's own must agree. Without
        ``timeouts``, assumed never to expire."""
        limit = self.dma.watchdog
        m.d.comb += expired.eq(wait & (count == limit - 1))
        m.d.sync += count.eq(Mux(wait & ~expired, count + 1, 0))
        if not self.timeouts:
            m.d.comb += Assume(~expired)
        m.d.comb += Assert(dut_expired == expired)

    def elaborate(self, platform):
        m = Module()
        dma = self.dma_cls(**self.params)
        dma._MustUse__silence = True                # elaborated here: its module is the submodule
        dm = dma.elaborate(platform)
        sig = _signals(dm)
        rdf, wrf = _Fifo(dm, "rd_fifo", platform), _Fifo(dm, "wr_fifo", platform)
        m.submodules.dma = dm
        self.dma = dma

        A = dma.addr_width
        s = (dma.bytes_per_beat).bit_length() - 1
        MB, NR, NW, WD, T = (dma.max_burst, dma.max_outstanding_reads,
                             dma.max_outstanding_writes, dma.watchdog, dma.tag_width)
        beats_w = A - s + 1
        axi = dma.axi
        m.d.comb += Assume(~ResetSignal())

        # ---------------- free inputs ----------------
        for port in (dma.rd_cmd, dma.wr_cmd, dma.wr_data):
            m.d.comb += [port.valid.eq(AnySeq(1)), port.payload.eq(AnySeq(len(Value.cast(port.payload))))]
        m.d.comb += dma.rd_data.ready.eq(AnySeq(1))
        for p in (dma.limit, dma.clear_counters, dma.clear_errors, axi.arready, axi.awready,
                  axi.wready, axi.rvalid, axi.rdata, axi.rresp, axi.rlast, axi.rid, axi.bvalid,
                  axi.bresp, axi.bid):
            m.d.comb += p.eq(AnySeq(len(p)))

        # producers hold valid and payload until ready
        for name in ("rd_cmd", "wr_cmd", "wr_data"):
            port = getattr(dma, name)
            held(m, name, port.valid, port.ready, [Value.cast(port.payload)], Assume)
        # the subordinate holds R and B until taken
        held(m, "r", axi.rvalid, axi.rready, [axi.rdata, axi.rresp, axi.rlast, axi.rid], Assume)
        held(m, "b", axi.bvalid, axi.bready, [axi.bresp, axi.bid], Assume)

        def good(cmd):
            return ((cmd.length != 0) & (cmd.addr[:s] == 0) & (cmd.length[:s] == 0)
                    & ((cmd.addr + cmd.length) <= (dma.limit + 1)))

        def burst_ok(addr, alen, size, burst, aid, nxt, end, lim, base, active):
            nbytes = (alen + 1) << s
            return [Assert(active), Assert(addr == nxt[:A]), Assert(addr >= base),
                    Assert(burst == BURST_INCR), Assert(size == s), Assert(alen < MB), Assert(aid == 0),
                    Assert(addr[:12] + nbytes <= BOUNDARY_4K),
                    Assert(nxt + nbytes <= end), Assert(nxt + nbytes <= lim)]

        # ================= read side =================
        ar_fire = axi.arvalid & axi.arready
        r_fire = axi.rvalid & axi.rready
        ar_bytes = (axi.arlen + 1) << s
        h_rd_active = Signal()
        h_rd_first = Signal()                       # no burst of the command issued yet
        h_rd_next, h_rd_end, h_rd_lim = (Signal(A + 1, name=f"h_rd_{n}") for n in ("next", "end", "lim"))
        h_rd_base = Signal(A)
        h_rd_tag = Signal(T)
        rq = _Queue("rq", NR, {"len": 8, "ends": 1, "tag": T, "multi": 1})
        r_beat = Signal(range(MB))
        h_rd_orph = Signal(range(NR + 1))
        h_rd_cnt = Signal(range(WD))
        h_rd_exp = Signal()
        rd_to_seen = Signal()

        # the subordinate: R only for a burst taken, rlast on its last beat
        if self.drop_assume != "r_issued":
            with m.If(axi.rvalid):
                m.d.comb += [Assume(rq.n != 0), Assume(axi.rlast == (r_beat == rq.e[0]["len"]))]
        with m.If(r_fire):
            m.d.sync += r_beat.eq(Mux(axi.rlast, 0, r_beat + 1))
        ar_ends = (h_rd_next + ar_bytes) == h_rd_end
        rq.update(m, ar_fire, r_fire & axi.rlast,
                  {"len": axi.arlen, "ends": ar_ends, "tag": h_rd_tag, "multi": ~h_rd_first})

        # the watchdog as documented
        rd_wait = (h_rd_active | (rq.n > h_rd_orph)) & ~ar_fire & ~axi.rvalid
        self._watchdog(m, rd_wait, h_rd_cnt, h_rd_exp, sig["rd_expired"])

        rd_take = dma.rd_cmd.valid & dma.rd_cmd.ready & good(dma.rd_cmd.payload)
        with m.If(rd_take):
            c = dma.rd_cmd.payload
            m.d.sync += [h_rd_active.eq(1), h_rd_first.eq(1), h_rd_next.eq(c.addr),
                         h_rd_end.eq(c.addr + c.length), h_rd_lim.eq(dma.limit + 1),
                         h_rd_base.eq(c.addr), h_rd_tag.eq(c.tag)]
        with m.If(ar_fire):
            m.d.sync += [h_rd_next.eq(h_rd_next + ar_bytes), h_rd_first.eq(0)]
            with m.If(ar_ends):
                m.d.sync += h_rd_active.eq(0)
        with m.If(h_rd_exp):
            m.d.sync += [h_rd_active.eq(0), h_rd_orph.eq(rq.n), rd_to_seen.eq(1)]
        with m.Elif(r_fire & axi.rlast & (h_rd_orph != 0)):
            m.d.sync += h_rd_orph.eq(h_rd_orph - 1)

        # -- read properties
        m.d.comb += Assert(dma.rd_cmd.ready == (~h_rd_active & ~h_rd_exp))
        held(m, "ar", axi.arvalid, axi.arready,
              [axi.araddr, axi.arlen, axi.arsize, axi.arburst, axi.arid], Assert, excuse=h_rd_exp)
        with m.If(axi.arvalid):
            m.d.comb += burst_ok(axi.araddr, axi.arlen, axi.arsize, axi.arburst, axi.arid,
                                 h_rd_next, h_rd_end, h_rd_lim, h_rd_base, h_rd_active)
            m.d.comb += Assert(rq.n < NR)
        head_live = h_rd_orph == 0
        m.d.comb += [
            Assert(dma.rd_data.valid == (axi.rvalid & head_live)),
            Assert(axi.rready == (dma.rd_data.ready | ~head_live)),
            Assert(dma.rd_busy == (h_rd_active | (rq.n > h_rd_orph))),
        ]
        with m.If(dma.rd_data.valid):
            m.d.comb += [Assert(dma.rd_data.payload.data == axi.rdata),
                         Assert(dma.rd_data.payload.tag == rq.e[0]["tag"]),
                         Assert(dma.rd_data.payload.last == (axi.rlast & rq.e[0]["ends"]))]

        # -- read helper invariants
        rd_left = sig["rd_left"]
        m.d.comb += [
            Assert(sig["rd_active"] == h_rd_active), Assert(sig["rd_orphans"] == h_rd_orph),
            Assert(sig["rd_waited"] == h_rd_cnt), Assert(h_rd_orph <= rq.n),
            Assert(rdf.fifo.level == rq.n), Assert(rq.n <= NR),
            Assert(h_rd_end <= h_rd_lim), Assert(h_rd_base <= h_rd_next),
            Assert(h_rd_lim <= (1 << A)), Assert(h_rd_base[:s] == 0),
        ]
        rdf.invariants(m)
        with m.If(h_rd_active):
            m.d.comb += [
                Assert(sig["rd_addr"] == h_rd_next[:A]), Assert(sig["rd_tag"] == h_rd_tag),
                Assert((rd_left << s) == (h_rd_end - h_rd_next)), Assert(h_rd_next < h_rd_end),
                Assert(h_rd_next[:s] == 0), Assert(h_rd_end[:s] == 0),
            ]
        with m.If(rq.n == 0):
            m.d.comb += Assert(r_beat == 0)
        with m.Else():
            m.d.comb += Assert(r_beat <= rq.e[0]["len"])
        for i in range(NR):
            with m.If(i < rq.n):
                ent = rdf.entry(i)
                m.d.comb += [Assert(rq.e[i]["len"] < MB),
                             Assert(ent[:T] == rq.e[i]["tag"]), Assert(ent[T] == rq.e[i]["ends"])]

        # ================= write side =================
        aw_fire = axi.awvalid & axi.awready
        w_fire = axi.wvalid & axi.wready
        b_fire = axi.bvalid & axi.bready
        aw_bytes = (axi.awlen + 1) << s
        h_wr_active = Signal()                      # a command taken, not all its W beats sent
        h_wr_first = Signal()
        h_wr_next, h_wr_end, h_wr_lim = (Signal(A + 1, name=f"h_wr_{n}") for n in ("next", "end", "lim"))
        h_wr_base = Signal(A)
        h_w_left = Signal(range(MB + 1))            # W beats owed by the burst last issued
        h_drop = Signal(beats_w)                    # write data to drop after a timeout
        wq = _Queue("wq", NW, {"ends": 1, "multi": 1})
        h_wr_orph = Signal(range(NW + 1))
        h_wr_cnt = Signal(range(WD))
        h_wr_exp = Signal()
        wr_to_seen = Signal()

        if self.drop_assume != "b_issued":
            with m.If(axi.bvalid):
                m.d.comb += Assume(wq.n != 0)
        aw_ends = (h_wr_next + aw_bytes) == h_wr_end
        wq.update(m, aw_fire, b_fire, {"ends": aw_ends, "multi": ~h_wr_first})

        in_aw = h_wr_active & (h_w_left == 0)
        in_w = h_w_left != 0
        owes = in_aw | (in_w & dma.wr_data.valid) | (wq.n > h_wr_orph)
        wr_wait = owes & ~aw_fire & ~w_fire & ~axi.bvalid
        self._watchdog(m, wr_wait, h_wr_cnt, h_wr_exp, sig["wr_expired"])

        wr_take = dma.wr_cmd.valid & dma.wr_cmd.ready & good(dma.wr_cmd.payload)
        with m.If(wr_take):
            c = dma.wr_cmd.payload
            m.d.sync += [h_wr_active.eq(1), h_wr_first.eq(1), h_wr_next.eq(c.addr),
                         h_wr_end.eq(c.addr + c.length), h_wr_lim.eq(dma.limit + 1),
                         h_wr_base.eq(c.addr)]
        with m.If(aw_fire):
            m.d.sync += [h_wr_next.eq(h_wr_next + aw_bytes), h_wr_first.eq(0),
                         h_w_left.eq(axi.awlen + 1)]
        with m.If(w_fire):
            m.d.sync += h_w_left.eq(h_w_left - 1)
            with m.If((h_w_left == 1) & (h_wr_next == h_wr_end)):
                m.d.sync += h_wr_active.eq(0)
        with m.If((h_drop != 0) & dma.wr_data.valid):
            m.d.sync += h_drop.eq(h_drop - 1)
        with m.If(h_wr_exp):
            m.d.sync += [h_wr_orph.eq(wq.n), wr_to_seen.eq(1)]
            with m.If(h_wr_active):             # (a command taken this cycle is kept)
                m.d.sync += [h_wr_active.eq(0), h_w_left.eq(0),
                             h_drop.eq(h_w_left + ((h_wr_end - h_wr_next) >> s))]
        with m.Elif(b_fire & (h_wr_orph != 0)):
            m.d.sync += h_wr_orph.eq(h_wr_orph - 1)

        # -- write properties
        dropping = h_drop != 0
        m.d.comb += [
            Assert(dma.wr_cmd.ready == (~h_wr_active & ~dropping)),
            Assert(axi.bready),
            Assert(axi.wvalid == (in_w & dma.wr_data.valid)),
            Assert(dma.wr_data.ready == Mux(dropping, 1, in_w & axi.wready)),
            Assert(dma.wr_busy == (h_wr_active | dropping | (wq.n > h_wr_orph))),
        ]
        held(m, "aw", axi.awvalid, axi.awready,
              [axi.awaddr, axi.awlen, axi.awsize, axi.awburst, axi.awid], Assert, excuse=h_wr_exp)
        held(m, "w", axi.wvalid, axi.wready, [axi.wdata, axi.wstrb, axi.wlast], Assert,
              excuse=h_wr_exp)
        with m.If(axi.awvalid):
            m.d.comb += burst_ok(axi.awaddr, axi.awlen, axi.awsize, axi.awburst, axi.awid,
                                 h_wr_next, h_wr_end, h_wr_lim, h_wr_base, in_aw)
            m.d.comb += Assert(wq.n < NW)
        with m.If(axi.wvalid):
            m.d.comb += [Assert(in_w), Assert(axi.wlast == (h_w_left == 1)),
                         Assert(axi.wstrb == (1 << (dma.bytes_per_beat)) - 1),
                         Assert(axi.wdata == dma.wr_data.payload)]

        # -- write helper invariants
        st = sig["wr_fsm_state"]
        enc = {}
        for v in range(1 << len(st)):
            try:
                enc[st.decoder(v).split("/")[0]] = v
            except (KeyError, IndexError):
                pass
        m.d.comb += [
            Assert((st == enc["IDLE"]) == (~h_wr_active & ~dropping)),
            Assert((st == enc["AW"]) == in_aw), Assert((st == enc["W"]) == in_w),
            Assert((st == enc["DROP"]) == dropping),
            Assert(~(dropping & h_wr_active)), Assert(~in_w | h_wr_active),
            Assert(~dropping | (h_wr_orph == wq.n)),
            Assert(h_w_left <= MB),
            Assert(sig["wr_orphans"] == h_wr_orph), Assert(sig["wr_waited"] == h_wr_cnt),
            Assert(h_wr_orph <= wq.n), Assert(wrf.fifo.level == wq.n), Assert(wq.n <= NW),
            Assert(h_wr_end <= h_wr_lim), Assert(h_wr_base <= h_wr_next),
            Assert(h_wr_lim <= (1 << A)), Assert(h_wr_base[:s] == 0),
        ]
        wrf.invariants(m)
        with m.If(h_wr_active):
            m.d.comb += [
                Assert(sig["wr_addr"] == h_wr_next[:A]),
                Assert((sig["wr_left"] << s) == (h_wr_end - h_wr_next)),
                Assert(h_wr_next <= h_wr_end), Assert(h_wr_next[:s] == 0), Assert(h_wr_end[:s] == 0),
            ]
        with m.If(in_aw):
            m.d.comb += Assert(h_wr_next < h_wr_end)
        with m.If(in_w):
            m.d.comb += Assert(sig["wr_beats"] == h_w_left)
        with m.If(dropping):
            m.d.comb += Assert(sig["wr_drop"] == h_drop)

        # ================= covers =================
        rd_done = dma.rd_data.valid & dma.rd_data.ready & dma.rd_data.payload.last
        # the final B of a write command, the engine idle, so every W beat of it went through
        wr_done = b_fire & (h_wr_orph == 0) & wq.e[0]["ends"] & (wq.n == 1) & ~h_wr_active & ~dropping
        m.d.comb += [
            Cover(rd_done & rq.e[0]["multi"]),             # a read of several bursts delivered
            Cover(wr_done & wq.e[0]["multi"]),             # a write of several bursts answered
            Cover(ar_fire & (rq.n == NR - 1)),             # reads in flight up to the maximum
            Cover(aw_fire & (wq.n == NW - 1)),             # writes in flight up to the maximum
            Cover(ar_fire & ~ar_ends & (axi.arlen + 1 < MB)
                  & (axi.araddr[:12] + ar_bytes == BOUNDARY_4K)),   # a burst cut at 4 KiB
            Cover(axi.rvalid & axi.rready & ~head_live),   # a late beat of an orphan dropped
            Cover(rd_done & rd_to_seen),                   # a full read after a read timeout
            Cover(wr_done & wr_to_seen),                   # a full write after a write timeout
            Cover(dropping & dma.wr_data.valid & (h_drop == 1)),   # data dropped to the end
            # the watchdog withdrawing a valid not taken (the excuses above are not vacuous)
            Cover(axi.arvalid & h_rd_exp), Cover(axi.awvalid & h_wr_exp),
            Cover(axi.wvalid & h_wr_exp),
            # a read command offered on the very cycle the read watchdog expires (it waits a
            # cycle, then is taken whole: the proof's address properties hold for it)
            Cover(dma.rd_cmd.valid & h_rd_exp & (rq.n != 0)),
        ]
        return m
