"""A sparse scatter lane: one output channel (or one channel's weight gradient) of a tile.

The lane is input-stationary. Input elements stream in as ``(ci, i, j, value)``
in any order: a compressed list of the non-zero ones, or every element when
input skipping is off. For each element the lane works out which kernel taps
reach a valid output and computes only those, accumulating
``value · w[ci, kh, kw]`` into ``acc[oh, ow]``:

* convolution (``transposed = 0``): ``oh = (i + padding − kh) / stride`` when
  that is an integer in ``[0, out_h)``;
* transposed convolution (``transposed = 1``): ``oh = i·stride − padding + kh``
  in ``[0, out_h)``. Every tap meets a real input, so no MAC ever touches an
  inserted zero (GANAX's zero-free phases, seen from the input side).

Skipping, each switchable per pass for the dense baseline:

* ``skip_zero``: an element whose value is zero is dropped when it arrives;
* ``skip_mask``: taps whose output has its mask bit off are never issued. The
  element's full ``K×K`` candidate bitmap is built in the cycle it arrives
  (look-ahead) and an iterator issues one set bit per cycle, taking the next
  element in the cycle it issues the last tap of the current one. An element
  with no candidate (a *dead* element) is dropped from the FIFO head while the
  iterator is still busy with an earlier one, so it costs no iterator cycle;
  it costs one only when the iterator has nothing else to do, or when it
  carries its pass's ``last`` flag.

Weight gradients (``wg = 1``) swap the two address functions: the operand
memory holds an error (or input) map at ``(oh, ow)``, the mask is that map's
non-zero bitmap, and ``x·op[oh, ow]`` accumulates into
``acc[ci·K² + kh·K + kw]``. A transposed convolution's WG is zero-free too.

Pass contexts and banks
-----------------------
Elements carry the *context* (0..``NCTX``−1) of their pass. The core holds
one configuration per context and the lane keeps, per context, an enable, a
bias and a mask, so a lane can run the next pass while the core drains the
previous one and loads the one after. Storage:

* operand memory: two banks of ``weight_depth`` words (the pass names its
  bank). A tap waits until its word has arrived (``wmark``, the words loaded
  so far), so a pass can start while its operands still stream in;
* accumulators: ``NBANK`` memories of ``out_depth`` words, one per tile in
  flight (the core assigns them). The front (look-ahead, MAC) and the drain
  never use the same bank at once, so each bank is a simple 1R1W memory;
* masks: ``NCTX`` registers of ``out_depth`` bits.

Maps are pitched: position ``(oh, ow)`` is word ``oh·2**lg + ow`` (see
:mod:`.descriptor`), so every address is a shift and an OR.

Drain: the core reads the same accumulator word in every lane (``d_rd``,
``d_bank``, ``d_addr``), lockstep. The lane adds its bias, sends the sum
through the :class:`~.output_stage.OutputStage`, forces a masked output to
0 with mask bit 0 behind the stage (``mask_out``), writes the word into an
``OUT_FIFO_DEPTH``-word FIFO, and clears the accumulator word behind it. The
core keeps at most that many words in flight.

Audit (``d_audit``, a pass with ``mask_out = 1`` and ``skip_mask = 0``: every
tap computed, the mask applied at the drain). For each output an enabled lane
writes, ``false_zero`` pulses when the mask removed an output whose ReLU mask
bit was 1 (a false zero of EORS) and ``missed_zero`` when it kept one whose
bit was 0. The core counts both.

The lane's parameters, ports and latency are listed in :class:`ScatterLane`.
"""

from types import SimpleNamespace

from amaranth.hdl import Array, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from ..refuse import Params
from .descriptor import CmdKind, MASK_WORD
from .output_stage import OutputStage, SHIFT_BITS, SLOPE_BITS, output_layout

__all__ = ["ScatterLane", "element_layout", "pass_config_layout", "NCTX", "NBANK", "axis_taps",
           "OUT_FIFO_DEPTH"]

#: Pass contexts: passes that can be in flight at once (loading, computing, draining).
NCTX = 3
#: Accumulator banks: tiles in flight at once.
NBANK = 3
#: Drained words a lane buffers. A word takes about five cycles from its read to leaving
#: the core, so eight in flight let a drain send one word per cycle.
OUT_FIFO_DEPTH = 8


def element_layout(data_width, coord_bits):
    """One input element: channel, row, column, value, the end-of-pass flag, ``valid`` (an
    element with ``valid = 0`` only carries ``last``) and the context of its pass."""
    return data.StructLayout({"ci": unsigned(coord_bits), "i": unsigned(coord_bits),
                              "j": unsigned(coord_bits), "value": signed(data_width),
                              "last": unsigned(1), "valid": unsigned(1), "ctx": unsigned(2)})


def pass_config_layout(coord_bits):
    """What a lane needs of one pass context (the core derives it from the descriptor)."""
    return data.StructLayout({
        "transposed": unsigned(1), "wg": unsigned(1), "kernel": unsigned(3), "kk": unsigned(6),
        "stride": unsigned(2), "padding": unsigned(3), "out_h": unsigned(coord_bits),
        "out_w": unsigned(coord_bits), "lg": unsigned(4), "skip_zero": unsigned(1),
        "skip_mask": unsigned(1), "wbank": unsigned(1), "abank": unsigned(2),
        "setup_done": unsigned(1),
    })


#: What :func:`axis_taps` needs of a pass: the fields of :func:`pass_config_layout` that
#: define an axis's tap relation.
AXIS_LAYOUT = data.StructLayout({"transposed": unsigned(1), "kernel": unsigned(3),
                                 "stride": unsigned(2), "padding": unsigned(3)})


def _bit_index(m, n):
    """Index of the single set bit of one-hot ``n`` (0 when none)."""
    idx = Signal(range(max(2, len(n))))
    for b in range(len(n)):
        with m.If(n[b]):
            m.d.comb += idx.eq(b)
    return idx


def axis_taps(m, name, pos, in_size, cfg, kmax):
    """Taps of one axis that reach output (or operand-map) coordinate ``pos`` from a real
    input coordinate in ``[0, in_size)``: a count, the output-side view of the relation.

    conv: ``i = pos·s + k − p``; transposed: ``pos + p − k = i·s``. ``cfg``: a view with
    the fields of :data:`AXIS_LAYOUT`.
    """
    count = 0
    for k in range(kmax):
        t_c = Signal(signed(len(pos) + 4), name=f"{name}_c{k}")
        t_t = Signal(signed(len(pos) + 4), name=f"{name}_t{k}")
        m.d.comb += [t_c.eq(Mux(cfg.stride == 2, pos << 1, pos) + k - cfg.padding),
                     t_t.eq(pos + cfg.padding - k)]
        v_c = (t_c >= 0) & (t_c < in_size)
        v_t = (t_t >= 0) & ((cfg.stride == 1) | ~t_t[0]) & \
            (Mux(cfg.stride == 2, t_t >> 1, t_t) < in_size)
        count = count + (Mux(cfg.transposed, v_t, v_c) & (k < cfg.kernel))
    return count


def check_lane_parameters(p, *, data_width, acc_width, max_kernel, weight_depth, out_depth,
                          coord_bits):
    """The rules a lane's (and so the core's) parameters follow, checked with ``p`` (a
    :class:`~ganforge.rtl.refuse.Params`)."""
    p.choice("data_width", data_width, (8, 16))
    p.int("acc_width", acc_width, 2 * data_width, 64, " (2*data_width..64)")
    p.int("max_kernel", max_kernel, 1, 7, " (a 3-bit descriptor field)")
    p.pow2("weight_depth", weight_depth, 16, 65536)
    p.pow2("out_depth", out_depth, 16, 65536)
    if weight_depth < max_kernel ** 2:
        p.fail(f"weight_depth must hold one max_kernel x max_kernel kernel "
               f"({max_kernel ** 2} words), got {weight_depth}")
    p.int("coord_bits", coord_bits, 4, 16)


class ScatterLane(wiring.Component):
    """One scatter lane: the taps of input elements into one channel's accumulators, and the
    drain of those accumulators through an output stage.

    Parameters
    ----------
    data_width : int
        Width of the signed elements, operand words and outputs: 8 or 16.
    acc_width : int
        Width of the signed accumulators and of the bias (``2·data_width``..64).
    max_kernel : int
        Largest kernel ``K``, 1..7.
    weight_depth : int
        Words of each operand bank (≥ ``cin·K²``, or a pitched map in WG); a power of two,
        16..65536.
    out_depth : int
        Words of each accumulator bank, and bits of each mask; a power of two, 16..65536.
    coord_bits : int
        Width of ``ci``, ``i``, ``j`` and of the map sizes, 4..16.
    product : callable or None
        How a tap's product is formed. None: ``value · weight``, a multiplier (the core's
        lanes). A function ``product(m, value, word)`` returning a signed
        ``2·data_width + 2``-bit value replaces it: :class:`~ganforge.rtl.eors.EorsUnit`
        passes its shift-add EORS product (:func:`~ganforge.rtl.eors.arith.eors_product`),
        so the lane itself knows nothing of EORS.
    load_width : int or None
        Bits of a load beat's value (None: ``max(data_width, 16)``); a bias arrives in
        ``ceil(acc_width / load_width)`` pieces.
    weight_width : int or None
        Bits of an operand word as stored, 2..``data_width`` (None: ``data_width``): a
        ``product`` with narrower words; an operand load keeps its low bits.

    Members
    -------
    x_in : :py:`In(stream.Signature(element_layout(data_width, coord_bits)))`
        Input elements, each tagged with its pass's context; ``last`` ends the pass in this
        lane (an element with ``valid = 0`` only carries ``last``).
    o : :py:`Out(stream.Signature(output_layout(data_width)))`
        Drained outputs ``(value, mask)``, from an ``OUT_FIFO_DEPTH``-word FIFO.
    cfg : :py:`In(data.ArrayLayout(pass_config_layout(coord_bits), NCTX))`
        The configuration of each pass context (from the core's descriptors).
    wmark : :py:`In(data.ArrayLayout(unsigned(wa_bits + 1), 2))`
        Operand words loaded so far in each bank (``wa_bits``: the operand address width);
        a tap waits until its word is below the mark.
    ld_en, ld_kind, ld_ctx, ld_bank, ld_addr, ld_value : :py:`In`
        A load beat for this lane (:class:`~.descriptor.CmdKind`): an operand word into bank
        ``ld_bank`` at ``ld_addr``, or a setup beat (``ENABLE``, ``BIAS`` piece ``ld_addr``,
        ``MASK`` word ``ld_addr``) into context ``ld_ctx``; ``ld_value`` is ``load_width``
        bits.
    ctx_reset, ctx_reset_id : :py:`In(1)`, :py:`In(2)`
        A pass is taken into context ``ctx_reset_id``: its enable is set and its bias
        cleared.
    d_rd, d_bank, d_addr, d_ctx : :py:`In`
        Drain read of accumulator word ``d_addr`` of bank ``d_bank``, with the bias and
        mask of context ``d_ctx`` (lockstep in every lane).
    d_mask_out, d_audit, d_shift, d_activation, d_slope : :py:`In`
        The drained pass's output mask mode, audit mode, and output-stage settings.
    issue : :py:`Out(1)`
        A tap issues this cycle.
    blocked : :py:`Out(1)`
        The next tap waits for its operand word.
    waiting : :py:`Out(1)`
        The iterator is free but has no element it may take.
    done, done_ctx : :py:`Out(1)`, :py:`Out(2)`
        Pulses when the last tap of the pass in context ``done_ctx`` is in the accumulator.
    d_keep : :py:`Out(1)`
        The mask bit of the word read one cycle before.
    enabled : :py:`Out(NCTX)`
        The lane's enable of each context.
    false_zero, missed_zero : :py:`Out(1)`
        Audit pulses (see the module doc).

    Latency and throughput
    ----------------------
    One tap per cycle. An element taken from ``x_in`` issues its first tap the next
    cycle; a tap reaches the accumulator one cycle after it issues (read-modify-write
    with a transparent read port, so back-to-back taps to one word need no stall).
    ``done`` pulses two cycles after the last tap of a pass issues, when that tap's sum
    is written. A drained word leaves the output stage two cycles after its read; the
    core keeps at most ``OUT_FIFO_DEPTH`` words in flight.

    Bad input
    ---------
    The lane trusts the core, which checks what it forwards: an element outside the
    pass's map arrives with ``valid = 0`` (it only carries ``last``), a ``MASK`` beat
    beyond the pass's map is dropped, and operand addresses stay below the pass's words
    (at most ``weight_depth``). A tap whose output falls outside the map is never a
    candidate, so it is never issued.

    Raises
    ------
    ValueError
        At construction, naming the parameter (the core's rules, which it forwards):
        ``data_width`` not 8 or 16, ``acc_width`` outside ``2·data_width``..64 (the output
        stage), ``max_kernel`` outside 1..7 (the 3-bit ``kernel`` field),
        ``weight_depth`` or ``out_depth`` not a power of two in 16..65536 (the operand
        bank is the address's top bit; pitched maps), ``weight_depth`` below one
        ``max_kernel``² kernel, ``coord_bits`` outside 4..16, ``load_width`` outside
        ``max(data_width, MASK_WORD)``..64 (a beat carries an operand word or a mask
        word), ``product`` neither None nor callable.
    """

    def __init__(self, *, data_width=16, acc_width=48, max_kernel=5, weight_depth=1024,
                 out_depth=256, coord_bits=8, product=None, load_width=None, weight_width=None):
        p = Params(self, "ScatterLane")
        check_lane_parameters(p, data_width=data_width, acc_width=acc_width,
                              max_kernel=max_kernel, weight_depth=weight_depth,
                              out_depth=out_depth, coord_bits=coord_bits)
        if load_width is not None:
            p.int("load_width", load_width, max(data_width, MASK_WORD), 64,
                  " (a beat holds an operand word or a mask word)")
        if weight_width is not None:
            p.int("weight_width", weight_width, 2, data_width,
                  " (an operand word is at most data_width bits)")
        if product is not None and not callable(product):
            p.fail(f"product must be None or callable, got {product!r}")
        self.product = product
        self.ww = data_width if weight_width is None else weight_width
        self.dw, self.aw, self.kmax = data_width, acc_width, max_kernel
        self.lw = max(data_width, MASK_WORD) if load_width is None else load_width
        self.weight_depth, self.out_depth, self.cb = weight_depth, out_depth, coord_bits
        self.wa_bits = max(1, (weight_depth - 1).bit_length())
        self.oa_bits = max(1, (out_depth - 1).bit_length())
        self.mask_bits = -(-out_depth // MASK_WORD) * MASK_WORD
        super().__init__({
            "x_in": In(stream.Signature(element_layout(data_width, coord_bits))),
            "o": Out(stream.Signature(output_layout(data_width))),
            "cfg": In(data.ArrayLayout(pass_config_layout(coord_bits), NCTX)),
            "wmark": In(data.ArrayLayout(unsigned(self.wa_bits + 1), 2)),
            # Loads (from the core's command stream).
            "ld_en": In(1), "ld_kind": In(3), "ld_ctx": In(2), "ld_bank": In(1),
            "ld_addr": In(max(self.wa_bits, self.oa_bits)), "ld_value": In(signed(self.lw)),
            "ctx_reset": In(1), "ctx_reset_id": In(2),
            # Drain (lockstep, from the core).
            "d_rd": In(1), "d_bank": In(2), "d_addr": In(self.oa_bits), "d_ctx": In(2),
            "d_mask_out": In(1), "d_audit": In(1), "d_shift": In(SHIFT_BITS),
            "d_activation": In(2), "d_slope": In(SLOPE_BITS),
            # Status.
            "issue": Out(1), "blocked": Out(1), "waiting": Out(1),
            "done": Out(1), "done_ctx": Out(2), "d_keep": Out(1), "enabled": Out(NCTX),
            "false_zero": Out(1), "missed_zero": Out(1),
            # After a reset: zero accumulator word ``scrub_addr`` of every bank.
            "scrub": In(1), "scrub_addr": In(range(out_depth)),
        })

    def _tap_axis(self, m, name, coord, limit, c):
        """Per kernel index k: (valid, output coordinate) along one axis, input side."""
        valid, pos = [], []
        cb = self.cb
        for k in range(self.kmax):
            p = Signal(cb, name=f"{name}_p{k}")
            t_conv = Signal(signed(cb + 4), name=f"{name}_tc{k}")
            t_tr = Signal(signed(cb + 4), name=f"{name}_tt{k}")
            m.d.comb += [t_conv.eq(coord + c.padding - k),
                         t_tr.eq(Mux(c.stride == 2, coord << 1, coord) - c.padding + k)]
            v = Signal(name=f"{name}_v{k}")
            with m.If(c.transposed):
                m.d.comb += [p.eq(t_tr), v.eq((t_tr >= 0) & (t_tr < limit))]
            with m.Elif(c.stride == 2):
                m.d.comb += [p.eq(t_conv >> 1),
                             v.eq((t_conv >= 0) & ~t_conv[0] & ((t_conv >> 1) < limit))]
            with m.Else():
                m.d.comb += [p.eq(t_conv), v.eq((t_conv >= 0) & (t_conv < limit))]
            valid.append(v & (k < c.kernel))
            pos.append(p)
        return valid, pos

    def elaborate(self, platform):
        m = Module()
        s = SimpleNamespace()
        self._storage(m, s)
        self._loads(m, s)
        self._look_ahead(m, s)
        self._iterator(m, s)
        self._mac(m, s)
        self._drain(m, s)
        return m

    # The parts below build one module in order, sharing the namespace ``s``: each adds
    # the signals and ports that later parts use. The order is the netlist's.

    def _storage(self, m, s):
        """Operand memory (two banks in one), ``NBANK`` accumulator memories, and the
        per-context mask, enable and bias registers."""
        m.submodules.wmem = wmem = memory.Memory(shape=signed(self.ww), depth=2 * self.weight_depth,
                                                 init=[])
        w_wr, w_rd = wmem.write_port(), wmem.read_port()
        s.w_wr, s.w_rd = w_wr, w_rd
        s.a_wr, s.a_rd = [], []
        for b in range(NBANK):
            m.submodules[f"amem{b}"] = mem = memory.Memory(shape=signed(self.aw),
                                                           depth=self.out_depth, init=[])
            wr = mem.write_port()
            s.a_wr.append(wr)
            s.a_rd.append(mem.read_port(transparent_for=(wr,)))
        s.masks = [Signal(self.mask_bits, name=f"mask{c}") for c in range(NCTX)]
        s.enables = [Signal(init=1, name=f"enable{c}") for c in range(NCTX)]
        s.biases = [Signal(signed(self.aw), name=f"bias{c}") for c in range(NCTX)]
        m.d.comb += self.enabled.eq(Cat(*s.enables))

    def _loads(self, m, s):
        """Operand words into the operand memory; setup beats into their context."""
        wab = self.wa_bits
        masks, enables, biases = s.masks, s.enables, s.biases
        m.d.comb += [s.w_wr.addr.eq(Cat(self.ld_addr[:wab], self.ld_bank)),
                     s.w_wr.data.eq(self.ld_value),
                     s.w_wr.en.eq(self.ld_en & (self.ld_kind == CmdKind.WEIGHT))]
        mask_word_bits = max(1, (self.mask_bits // MASK_WORD - 1).bit_length())
        for c in range(NCTX):
            here = self.ld_en & (self.ld_ctx == c)
            with m.If(self.ctx_reset & (self.ctx_reset_id == c)):
                m.d.sync += [enables[c].eq(1), biases[c].eq(0)]
            with m.If(here & (self.ld_kind == CmdKind.MASK)):
                m.d.sync += masks[c].word_select(self.ld_addr[:mask_word_bits],
                                                 MASK_WORD).eq(self.ld_value[:MASK_WORD])
            for k in range(-(-self.aw // self.lw)):          # bias piece k: bits k·lw and up
                lo, hi = k * self.lw, min((k + 1) * self.lw, self.aw)
                with m.If(here & (self.ld_kind == CmdKind.BIAS) & (self.ld_addr == k)):
                    m.d.sync += biases[c][lo:hi].eq(self.ld_value[:hi - lo])
            with m.If(here & (self.ld_kind == CmdKind.ENABLE)):
                m.d.sync += enables[c].eq(self.ld_value[0])

    def _look_ahead(self, m, s):
        """The candidate taps of the element at the FIFO head (``cand_vec``, one bit per
        ``kh·K + kw``), its output coordinates per kernel index, and whether it is a
        skipped zero."""
        K, oab = self.kmax, self.oa_bits
        s.x = x = self.x_in.payload
        s.hc = hc = self.cfg[x.ctx]
        hmask = Signal(self.mask_bits)
        m.d.comb += hmask.eq(Array(s.masks)[x.ctx])
        rv, oh = self._tap_axis(m, "row", x.i, hc.out_h, hc)
        cv, ow = self._tap_axis(m, "col", x.j, hc.out_w, hc)
        s.oh, s.ow = oh, ow
        live = x.valid & Array(s.enables)[x.ctx]
        cand = []
        for kh in range(K):
            row_base = Signal(oab, name=f"rowbase{kh}")
            m.d.comb += row_base.eq(oh[kh] << hc.lg)
            for kw in range(K):
                bit = hmask.bit_select((row_base | ow[kw])[:oab], 1)
                cand.append(rv[kh] & cv[kw] & live & (bit | ~hc.skip_mask))
        s.cand_vec = cand_vec = Signal(K * K)
        m.d.comb += cand_vec.eq(Cat(*cand))
        s.is_zero = hc.skip_zero & (x.value == 0)

    def _iterator(self, m, s):
        """Issue one candidate tap per cycle; take the next element, drop dead ones; pulse
        ``done`` at the end of a pass."""
        K, oab, wab = self.kmax, self.oa_bits, self.wa_bits
        x, hc, oh, ow, cand_vec, is_zero = s.x, s.hc, s.oh, s.ow, s.cand_vec, s.is_zero
        it_bits = Signal(K * K)
        s.it_value = it_value = Signal(signed(self.dw))
        it_ci = Signal(self.cb)
        it_oh = [Signal(self.cb, name=f"it_oh{k}") for k in range(K)]
        it_ow = [Signal(self.cb, name=f"it_ow{k}") for k in range(K)]
        it_last, it_ctx = Signal(), Signal(2)
        s.it_cfg = it_cfg = Signal(pass_config_layout(self.cb))
        lowest = Signal(K * K)
        m.d.comb += lowest.eq(it_bits & (~it_bits + 1))
        remaining = Signal(K * K)
        m.d.comb += remaining.eq(it_bits & ~lowest)
        tap = _bit_index(m, lowest)
        tap_kh, tap_kw = Signal(range(K)), Signal(range(K))
        m.d.comb += [tap_kh.eq(Array([n // K for n in range(K * K)])[tap]),
                     tap_kw.eq(Array([n % K for n in range(K * K)])[tap])]

        pos_addr = Signal(oab + 1)                    # pitched output position
        tap_addr = Signal(max(wab, oab) + 2)          # ci·K² + kh·K + kw
        m.d.comb += [pos_addr.eq((Array(it_oh)[tap_kh] << it_cfg.lg) | Array(it_ow)[tap_kw]),
                     tap_addr.eq(it_ci * it_cfg.kk + tap_kh * it_cfg.kernel + tap_kw)]
        s.w_addr = w_addr = Signal(len(tap_addr))
        s.a_addr = a_addr = Signal(len(tap_addr))
        m.d.comb += [w_addr.eq(Mux(it_cfg.wg, pos_addr, tap_addr)),
                     a_addr.eq(Mux(it_cfg.wg, tap_addr, pos_addr))]
        pending = it_bits != 0
        wm_ok = w_addr < self.wmark[it_cfg.wbank]
        s.issue = issue = pending & wm_ok
        free = ~(pending & ~wm_ok) & (remaining == 0)
        # A dead element (no candidate tap, or a skipped zero) that does not end its pass
        # is dropped from the FIFO head while the iterator is still busy with an earlier
        # element, so it costs no cycle of the iterator.
        dead = ((cand_vec == 0) | is_zero) & ~x.last
        m.d.comb += [self.issue.eq(issue), self.blocked.eq(pending & ~wm_ok),
                     self.x_in.ready.eq((free | dead) & hc.setup_done),
                     self.waiting.eq(free & ~(self.x_in.valid & hc.setup_done))]
        take = self.x_in.valid & self.x_in.ready & free
        with m.If(issue):
            m.d.sync += it_bits.eq(remaining)
        with m.If(free & ~take):
            m.d.sync += it_last.eq(0)
        with m.If(take):
            m.d.sync += [it_bits.eq(Mux(is_zero, 0, cand_vec)), it_value.eq(x.value),
                         it_ci.eq(x.ci), it_last.eq(x.last), it_ctx.eq(x.ctx), it_cfg.eq(hc)]
            m.d.sync += [it_oh[k].eq(oh[k]) for k in range(K)]
            m.d.sync += [it_ow[k].eq(ow[k]) for k in range(K)]

        # The pass ends in this lane when its last element is done; ``done`` pulses once
        # the last tap's sum is in the accumulator.
        fin, fin_ctx = Signal(), Signal(2)
        m.d.sync += [fin.eq(it_last & free), fin_ctx.eq(it_ctx),
                     self.done.eq(fin), self.done_ctx.eq(fin_ctx)]

    def _mac(self, m, s):
        """Weight read, then the product (``s.prod``) one cycle after the tap issued."""
        oab, wab = self.oa_bits, self.wa_bits
        s_valid, s_bank = Signal(), Signal(2)
        s_value = Signal(signed(self.dw))
        s_addr = Signal(oab)
        s.s_valid, s.s_bank, s.s_addr = s_valid, s_bank, s_addr
        m.d.comb += s.w_rd.addr.eq(Cat(s.w_addr[:wab], s.it_cfg.wbank))
        m.d.sync += [s_valid.eq(s.issue), s_value.eq(s.it_value), s_addr.eq(s.a_addr),
                     s_bank.eq(s.it_cfg.abank)]
        s.prod = prod = Signal(signed(2 * self.dw + 2))
        if self.product is None:
            m.d.comb += prod.eq(s_value * s.w_rd.data)
        else:
            m.d.comb += prod.eq(self.product(m, s_value, s.w_rd.data))

    def _drain(self, m, s):
        """The accumulators' read-modify-write and drain ports, and the drain: bias and
        mask, output stage, output FIFO, audit pulses."""
        oab = self.oa_bits
        masks, biases, enables, a_rd, a_wr = s.masks, s.biases, s.enables, s.a_rd, s.a_wr
        dd_valid, dd_keep, dd_mask_out, dd_audit = Signal(), Signal(), Signal(), Signal()
        dd_bank, dd_addr = Signal(2), Signal(oab)
        dd_bias = Signal(signed(self.aw))
        dd_shift, dd_act, dd_slope = Signal(SHIFT_BITS), Signal(2), Signal(SLOPE_BITS)
        m.d.sync += [dd_valid.eq(self.d_rd), dd_bank.eq(self.d_bank), dd_addr.eq(self.d_addr),
                     dd_keep.eq(Array(masks)[self.d_ctx].bit_select(self.d_addr, 1)),
                     dd_bias.eq(Array(biases)[self.d_ctx]), dd_mask_out.eq(self.d_mask_out),
                     dd_audit.eq(self.d_audit & self.d_mask_out & Array(enables)[self.d_ctx]),
                     dd_shift.eq(self.d_shift), dd_act.eq(self.d_activation),
                     dd_slope.eq(self.d_slope)]
        m.d.comb += self.d_keep.eq(dd_keep)
        for b in range(NBANK):
            draining = self.d_rd & (self.d_bank == b)
            m.d.comb += a_rd[b].addr.eq(Mux(draining, self.d_addr, s.a_addr))
            with m.If(s.s_valid & (s.s_bank == b)):
                m.d.comb += [a_wr[b].addr.eq(s.s_addr), a_wr[b].data.eq(a_rd[b].data + s.prod),
                             a_wr[b].en.eq(1)]
            with m.Elif(dd_valid & (dd_bank == b)):
                m.d.comb += [a_wr[b].addr.eq(dd_addr), a_wr[b].data.eq(0), a_wr[b].en.eq(1)]
            with m.Elif(self.scrub):
                m.d.comb += [a_wr[b].addr.eq(self.scrub_addr), a_wr[b].data.eq(0), a_wr[b].en.eq(1)]
        drained = Signal(signed(self.aw))
        m.d.comb += drained.eq(Array(rd.data for rd in a_rd)[dd_bank])

        # The output stage always sees the real sum; a masked output is forced to 0 behind
        # it, so the stage's mask bit tells whether the output the mask removed was positive.
        # ``st_keep``/``st_audit`` ride beside the stage's one output register.
        m.submodules.stage = stage = OutputStage(self.aw, self.dw)
        m.submodules.ofifo = ofifo = fifo.SyncFIFOBuffered(width=len(self.o.payload.as_value()),
                                                            depth=OUT_FIFO_DEPTH)
        st_keep, st_audit = Signal(), Signal()
        with m.If(stage.i.ready):
            m.d.sync += [st_keep.eq(~dd_mask_out | dd_keep), st_audit.eq(dd_audit)]
        word = Signal(output_layout(self.dw))
        m.d.comb += [word.value.eq(Mux(st_keep, stage.o.payload.value, 0)),
                     word.mask.eq(stage.o.payload.mask & st_keep)]
        written = stage.o.valid & ofifo.w_stream.ready & st_audit
        m.d.comb += [self.false_zero.eq(written & ~st_keep & stage.o.payload.mask),
                     self.missed_zero.eq(written & st_keep & ~stage.o.payload.mask)]
        m.d.comb += [stage.shift.eq(dd_shift), stage.activation.eq(dd_act),
                     stage.slope_shift.eq(dd_slope),
                     stage.i.valid.eq(dd_valid),
                     stage.i.payload.acc.eq(drained + dd_bias),
                     ofifo.w_stream.valid.eq(stage.o.valid),
                     ofifo.w_stream.payload.eq(word),
                     stage.o.ready.eq(ofifo.w_stream.ready),
                     self.o.valid.eq(ofifo.r_stream.valid),
                     self.o.payload.eq(ofifo.r_stream.payload),
                     ofifo.r_stream.ready.eq(self.o.ready)]
        return m
