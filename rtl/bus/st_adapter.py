"""Store-path adapter: the core's drained outputs, transposed into map-major words.

The core drains a tile as ``positions`` beats (``positions = out_h·out_w``,
raster order), each with one output per lane; lane ``l`` is output channel
``c0 + l`` of one sample. :class:`RolinEngine`'s store path, and the
statistics unit on it, take whole maps one after the other (NCHW, element 0
of a word in the low bits). So the two orders are transposed: the core gives
all channels of one position, the store path wants all positions of one
channel.

This adapter is a double-buffered transpose buffer. A tile is written
position by position into ``words`` banks (position ``p`` goes to bank
``p mod words``, word ``p // words``, each word holding the ``lanes``
values). It is then read map by map: for lane ``l`` and word ``w`` the
``words`` banks are read at once and lane ``l`` of each gives positions
``w·words .. w·words + words − 1`` of channel ``c0 + l``, one output word per
cycle; positions past ``positions`` (the last word of a map whose size is not a multiple
of ``words``, such as a 3×3 kernel's weight gradient) are zeros. The next tile is written into the other buffer meanwhile. A tile's
``lanes`` maps leave in channel order, so they are one contiguous run of
NCHW memory, and the statistics unit sees whole maps in order.

The mask bits of the core's outputs are not stored (the IN layer recomputes
its own mask).

Storage: two buffers of ``max_positions × lanes`` elements. See
:class:`OutputsToMaps` for its parameters, ports and latency.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..core.output_stage import output_layout
from ..refuse import Params
from ..unused import declare_unused

__all__ = ["OutputsToMaps"]


class OutputsToMaps(wiring.Component):
    """Transpose the core's drained beats (all channels of one position) into map-major
    store words (all positions of one channel), double-buffered.

    Parameters
    ----------
    lanes : int
        The core's lanes (output channels of a tile), 1..64.
    words : int
        Elements per store word (the engine's lanes); a power of two, a word of at most
        1024 bits.
    data_width : int
        Element width, 8 or 16.
    max_positions : int
        The largest tile (``out_h·out_w``); a non-zero multiple of ``words``, at most
        65536.

    Members
    -------
    i : :py:`In(stream.Signature(data.ArrayLayout(output_layout(data_width), lanes)))`
        The core's output beats, one position each, in raster order; the mask bits are
        not stored.
    o : :py:`Out(stream.Signature(unsigned(words * data_width)))`
        Store words: ``⌈positions / words⌉`` words per channel, the tile's ``lanes`` maps
        in channel order. When ``positions`` is not a multiple of ``words`` the last word
        of each map is padded with zeros: the maps are stored padded to whole words.
    positions : :py:`In(range(max_positions + 1))`
        Positions per tile (``out_h·out_w``); static while tiles flow.
    error : :py:`Out(1)`
        Sticky: a tile came with a bad ``positions``.
    error_clear : :py:`In(1)`
        Clears ``error``.
    empty : :py:`Out(1)`
        Nothing of a tile is held: no beat of a tile being written, no word left to send.

    Latency and throughput
    ----------------------
    A tile's first word leaves two cycles after its last beat is taken. The reader sends
    ``lanes·⌈positions/words⌉`` words per tile and the writer takes ``positions`` beats,
    the next tile filling the other buffer; with ``lanes > words`` the reader sets the
    pace and the core's drain waits on it.

    Bad input
    ---------
    A ``positions`` that is 0, above ``max_positions``, or 1 (1×1 maps, which leave
    unpadded: each beat as ``lanes/words`` words) when ``lanes`` is not a multiple of
    ``words``: the beats are consumed and dropped, nothing is sent, and ``error`` is set.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``data_width`` not 8 or 16, ``lanes``
        outside 1..64 (the core's), ``words`` not a power of two or a word over 1024 bits
        (the widest AXI data bus), ``max_positions`` not a non-zero multiple of ``words``
        or above 65536 (a core's largest ``out_depth``).
    """

    def __init__(self, *, lanes=4, words=4, data_width=16, max_positions=256):
        p = Params(self, "OutputsToMaps")
        p.choice("data_width", data_width, (8, 16))
        p.int("lanes", lanes, 1, 64, " (the core's)")
        p.pow2("words", words, 1, 1024 // data_width,
               " (a word of at most 1024 bits, the widest AXI data bus)")
        p.int("max_positions", max_positions, words, 65536, " (a core's out_depth at most)")
        if max_positions % words:
            p.fail(f"max_positions must be a multiple of words={words}, got {max_positions}")
        self.lanes, self.words, self.dw, self.max_positions = lanes, words, data_width, max_positions
        self.depth = max_positions // words
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(output_layout(data_width), lanes))),
            "o": Out(stream.Signature(unsigned(words * data_width))),
            "positions": In(range(max_positions + 1)),
            "error": Out(1),
            "error_clear": In(1),
            "empty": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        L, R, dw, D = self.lanes, self.words, self.dw, self.depth
        s = (R - 1).bit_length()

        # One position per tile (1×1 maps): a beat is already map-major; it leaves as
        # lanes/words words through a holding register, not the banks.
        one = Signal()
        m.d.comb += one.eq((self.positions == 1) & (R > 1))
        bad = Signal()
        m.d.comb += bad.eq((self.positions == 0) | (self.positions > self.max_positions) |
                           (one & (L % R != 0)))
        # words per map: positions / words, rounded up (the last word padded with zeros)
        last_word = Signal(range(D))
        m.d.comb += last_word.eq(((self.positions + (R - 1)) >> s) - 1)

        banks = []
        for b in range(R):
            mem = Memory(shape=unsigned(L * dw), depth=2 * D, init=[])
            m.submodules[f"bank{b}"] = mem
            banks.append((mem.write_port(), mem.read_port()))

        full = Signal(2)

        # ---- write side: one core beat (every lane at one position) per cycle ----
        wbuf = Signal()
        wpos = Signal(range(self.max_positions))
        hold, held = Signal(max(L, R) * dw), Signal()
        hword = Signal(range(max(1, L // R)))
        m.d.comb += self.i.ready.eq(bad | Mux(one, ~held, ~full.bit_select(wbuf, 1)))
        wtake = self.i.valid & self.i.ready & ~bad & ~one
        beat = Cat(*[self.i.payload[l].value for l in range(L)])
        # The store path writes values only: the output masks are for the consumers of the
        # core's stream that want them (the host-driven benches read them).
        declare_unused(m, "masks", *[self.i.payload[l].mask for l in range(L)])
        for b, (wp, _) in enumerate(banks):
            m.d.comb += [wp.addr.eq(Mux(wbuf, D, 0) + (wpos >> s)), wp.data.eq(beat),
                         wp.en.eq(wtake & ((wpos[:s] == b) if s else 1))]
        wdone = wtake & (wpos + 1 == self.positions)
        with m.If(wtake):
            m.d.sync += wpos.eq(Mux(wdone, 0, wpos + 1))
            with m.If(wdone):
                m.d.sync += wbuf.eq(~wbuf)

        # ---- read side: lane by lane, ``words`` positions per output word ----
        rbuf = Signal()
        rlane = Signal(range(L))
        rword = Signal(range(D))
        sel = Signal(range(L))            # the lane of the word in the read registers
        sel_word = Signal(range(D))       # and its word: positions past the map's are zeros
        b_valid = Signal()           # the banked path's word is offered
        advance = ~b_valid | self.o.ready
        issue = advance & full.bit_select(rbuf, 1) & ~bad
        rdone = issue & (rlane == L - 1) & (rword == last_word)
        for _, rp in banks:
            m.d.comb += [rp.addr.eq(Mux(rbuf, D, 0) + rword), rp.en.eq(advance)]
        padded = [Mux((sel_word << s) + b < self.positions, rp.data.word_select(sel, dw), 0)
                  for b, (_, rp) in enumerate(banks)]
        m.d.comb += [self.o.valid.eq(Mux(one, held, b_valid)),
                     self.o.payload.eq(Mux(one, hold.word_select(hword, R * dw), Cat(*padded)))]
        with m.If(advance):
            m.d.sync += [b_valid.eq(issue), sel.eq(rlane), sel_word.eq(rword)]
        with m.If(issue):
            with m.If(rword == last_word):
                m.d.sync += rword.eq(0)
                with m.If(rlane == L - 1):
                    m.d.sync += [rlane.eq(0), rbuf.eq(~rbuf)]
                with m.Else():
                    m.d.sync += rlane.eq(rlane + 1)
            with m.Else():
                m.d.sync += rword.eq(rword + 1)

        # 1×1 maps: the holding register
        with m.If(self.i.valid & self.i.ready & ~bad & one):
            m.d.sync += [hold.eq(beat), held.eq(1), hword.eq(0)]
        with m.If(one & held & self.o.ready):
            m.d.sync += hword.eq(hword + 1)
            with m.If(hword == L // R - 1):
                m.d.sync += held.eq(0)

        m.d.comb += self.empty.eq((full == 0) & ~b_valid & ~held & (wpos == 0))

        # Each buffer's full bit: set by its last write, cleared by its last read (a buffer
        # is written only while empty and read only while full, so never both at once).
        for b in range(2):
            with m.If(wdone & (wbuf == b)):
                m.d.sync += full[b].eq(1)
            with m.Elif(rdone & (rbuf == b)):
                m.d.sync += full[b].eq(0)

        with m.If(self.error_clear):
            m.d.sync += self.error.eq(0)
        with m.Elif(bad & self.i.valid):
            m.d.sync += self.error.eq(1)
        return m
