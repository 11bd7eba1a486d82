"""The sparse convolution core: ``lanes`` scatter lanes behind one command stream.

A *pass* is one descriptor (:mod:`.descriptor`): every lane computes one
output channel (FP/EP), or one channel's weight gradient (WG), of the same
geometry. What differs between lanes is what was loaded into them (operand
words, mask, bias, enable) and which input slot they read. A *tile* is the
passes up to and including one with ``drain = 1``: they accumulate into the
same accumulator words, which are then drained through the output stage.

Dataflow::

    cmd ─► DESC ─► check ─► context c (config, enable, mask, bias)   3 contexts
           setup beats (ENABLE, BIAS, MASK) ─► context c of every lane with its en bit
           WEIGHT beats ─► operand bank wbank, in address order (a watermark)
    x_in beat = lanes slots ─► lane l's FIFO takes slot l mod 2**slots, tagged c
                                   │
                      lane 0 … lane L-1 (rtl/lane.py): look-ahead tap
                      iterator, MAC, accumulator banks (one per tile in flight)
                                   │
    retire (oldest pass first): once every lane is done, drain its tile
    o beat = one output per lane, lanes in lockstep

Overlap. Up to three passes are in flight: one loading, one computing, one
draining, or any mix. The command stream runs ahead of the elements, so a
pass's setup and operand words load while the previous pass computes, and
a lane starts a pass as soon as its setup beats are in: each tap waits only
for its own operand word. A tile's drain runs while the next tiles compute.

* A ``DESC`` is taken when its context is free (the pass three before it has
  retired), the accumulator bank of a new tile is free, and, if it loads
  operands, no computing pass reads that operand bank.
* Load beats are never held up. A load the pass did not announce, or one out
  of address order, sets ``LOAD`` and is dropped.
* An input beat is taken when its pass's descriptor has been taken and every
  lane FIFO has room. The lanes then run decoupled, so their load imbalance
  evens out over the FIFO depth.
* A descriptor that breaks a rule of
  :func:`~.descriptor.check_descriptor` is not run. It sets ``error`` (the
  first error sticks until ``error_clear``) and raises ``irq``. Its setup
  and operand beats, and its input beats up to ``end``, are consumed and
  dropped, so the device never hangs; later passes run normally.

Counters, all since reset (MAC counters 48 bits, cycle counters 32 bits):

* ``macs_issued``: taps the lanes multiplied;
* ``dense_macs``: the MACs of the same passes with no skipping (every input
  element's taps that reach an output); computed per pass from the geometry
  (the output-side tap counts of each row and column, summed by a small
  sequential unit) times ``cin`` and the enabled lanes;
* ``output_mask_skipped``: dense MACs of outputs whose mask is off, in passes
  that skip masked taps, counted word by word as the tile drains;
* ``input_zero_skipped``: ``dense − output_mask_skipped − issued``: the MACs
  that zero inputs saved (in weight gradients this includes zero operand
  words). Exact when the core is idle;
* ``zero_insertion_skipped``: transposed passes (FP/EP): the MACs a naive
  engine would spend on the inserted zeros, every output times the full
  ``cin·K²`` kernel, minus the dense MACs;
* ``false_zero`` and ``missed_zero``: in *audited* passes (``mask_out = 1``,
  ``skip_mask = 0``: every tap is computed and the mask is applied at the
  drain), the outputs of enabled lanes that the mask removed although their
  ReLU mask bit was 1, and those it kept although the bit was 0. With the
  EORS prediction as the mask, these are EORS's false zeros and missed zeros,
  counted in hardware (``compile_op(audit=True)``);
* ``cycles_busy`` (work in flight), ``cycles_idle``, and ``cycles_stalled``:
  busy while a lane waits for data the streams have not delivered (an input
  beat, a setup beat or an operand word).

Parameters: lanes, data_width, acc_width, max_kernel, max_stride,
weight_depth, out_depth, coord_bits, and fifo_depth: the elements a lane may
fall behind the fastest lane.

Latency: a beat reaches a lane's iterator two cycles after it is taken. A
pass retires about four cycles after the last lane's last tap, and its drain
then sends one output beat per cycle.
"""

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .descriptor import CmdKind, Error, Op, cmd_layout, descriptor_layout, MASK_WORD
from .lane import (NBANK, NCTX, OUT_FIFO_DEPTH, ScatterLane, axis_taps, element_layout,
                   pass_config_layout)
from .output_stage import output_layout

__all__ = ["SparseCore", "slot_layout", "beat_layout", "MAC_COUNTERS", "COUNTERS"]

#: The core's work counters (48 bits), in the order the documentation lists them.
MAC_COUNTERS = ("macs_issued", "dense_macs", "input_zero_skipped", "output_mask_skipped",
                "zero_insertion_skipped", "false_zero", "missed_zero")
#: Every counter port of the core: the work counters, then the cycle counters (32 bits).
COUNTERS = MAC_COUNTERS + ("cycles_busy", "cycles_stalled", "cycles_idle")

#: Output words a drain keeps in flight per lane (the lane's output FIFO depth).
DRAIN_CREDITS = OUT_FIFO_DEPTH


def slot_layout(data_width, coord_bits):
    return data.StructLayout({"valid": unsigned(1), "ci": unsigned(coord_bits),
                              "i": unsigned(coord_bits), "j": unsigned(coord_bits),
                              "value": signed(data_width)})


def beat_layout(lanes, data_width, coord_bits):
    return data.StructLayout({"slot": data.ArrayLayout(slot_layout(data_width, coord_bits), lanes),
                              "end": unsigned(1)})


def _next(c):
    return Mux(c == NCTX - 1, 0, c + 1)


def _popcount(v):
    return sum(v[n] for n in range(len(v)))


class SparseCore(wiring.Component):
    def __init__(self, *, lanes=16, data_width=16, acc_width=48, max_kernel=5, max_stride=2,
                 weight_depth=2048, out_depth=1024, coord_bits=8, fifo_depth=32,
                 product=None):
        if lanes < 1 or lanes & (lanes - 1) or max_kernel > 7:
            self._MustUse__silence = True          # refused: no "never elaborated" warning
        if lanes < 1 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, got {lanes}")
        if max_kernel > 7:
            raise ValueError(f"max_kernel must be at most 7 (a 3-bit descriptor field), got {max_kernel}")
        self.product = product
        self.lanes, self.dw, self.aw, self.kmax, self.smax = lanes, data_width, acc_width, max_kernel, max_stride
        self.weight_depth, self.out_depth, self.cb, self.fifo_depth = weight_depth, out_depth, coord_bits, fifo_depth
        self.addr_bits = max((weight_depth - 1).bit_length(), (out_depth - 1).bit_length(), 1)
        self.desc_layout = descriptor_layout(coord_bits, out_depth)
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(lanes, self.addr_bits, acc_width, coord_bits,
                                                  out_depth))),
            "x_in": In(stream.Signature(beat_layout(lanes, data_width, coord_bits))),
            "o": Out(stream.Signature(data.ArrayLayout(output_layout(data_width), lanes))),
            "error": Out(4), "error_clear": In(1), "irq": Out(1), "busy": Out(1),
            "macs_issued": Out(48), "dense_macs": Out(48), "input_zero_skipped": Out(48),
            "output_mask_skipped": Out(48), "zero_insertion_skipped": Out(48),
            "false_zero": Out(48), "missed_zero": Out(48),
            "cycles_busy": Out(32), "cycles_stalled": Out(32), "cycles_idle": Out(32),
        })

    # ---- descriptor rules -----------------------------------------------------------------
    def _check(self, m, d, lg):
        """Combinational error code of descriptor ``d`` (the rules of ``check_descriptor``)
        and the operand words it needs."""
        code = Signal(4)
        wg = (d.op == Op.CONV_WG) | (d.op == Op.TCONV_WG)
        words = Signal(2 * self.cb + 8)
        taps = Signal(2 * self.cb + 8)
        acc_words = Signal(2 * self.cb + 8)
        op_words = Signal(2 * self.cb + 8)
        m.d.comb += [words.eq(d.out_h << lg), taps.eq(d.cin * d.kernel * d.kernel),
                     acc_words.eq(Mux(wg, taps, words)), op_words.eq(Mux(wg, words, taps))]
        with m.If((d.kernel == 0) | (d.kernel > self.kmax)):
            m.d.comb += code.eq(Error.KERNEL)
        with m.Elif((d.stride == 0) | (d.stride == 3) | (d.stride > self.smax)):
            m.d.comb += code.eq(Error.STRIDE)
        with m.Elif(d.padding >= d.kernel):
            m.d.comb += code.eq(Error.PADDING)
        with m.Elif((d.out_h == 0) | (d.out_w == 0) | (d.in_h == 0) | (d.in_w == 0) | (d.cin == 0)):
            m.d.comb += code.eq(Error.SIZE)
        with m.Elif((acc_words > self.out_depth) | (words > self.out_depth)):
            m.d.comb += code.eq(Error.OUT_SIZE)
        with m.Elif(op_words > self.weight_depth):
            m.d.comb += code.eq(Error.WEIGHT_SIZE)
        with m.Elif(d.activation == 3):
            m.d.comb += code.eq(Error.ACTIVATION)
        with m.Elif((1 << d.slots) > self.lanes):
            m.d.comb += code.eq(Error.SLOTS)
        with m.Elif(d.shift >= self.aw):
            m.d.comb += code.eq(Error.SHIFT)
        return code, op_words

    def elaborate(self, platform):
        m = Module()
        L, cb = self.lanes, self.cb
        dl = self.desc_layout
        full = (1 << L) - 1

        lanes, fifos = [], []
        for l in range(L):
            lane = ScatterLane(data_width=self.dw, acc_width=self.aw, max_kernel=self.kmax,
                               weight_depth=self.weight_depth, out_depth=self.out_depth,
                               coord_bits=cb, product=self.product)
            q = fifo.SyncFIFOBuffered(width=element_layout(self.dw, cb).as_shape().width,
                                      depth=self.fifo_depth)
            m.submodules[f"lane{l}"] = lane
            m.submodules[f"fifo{l}"] = q
            m.d.comb += [lane.x_in.payload.eq(q.r_stream.payload), lane.x_in.valid.eq(q.r_stream.valid),
                         q.r_stream.ready.eq(lane.x_in.ready)]
            lanes.append(lane)
            fifos.append(q)

        m.d.comb += self.irq.eq(self.error != 0)
        new_error = Signal(4)             # at most one new error a cycle; the first sticks
        with m.If(self.error_clear):
            m.d.sync += self.error.eq(0)
        with m.Elif((self.error == 0) & (new_error != 0)):
            m.d.sync += self.error.eq(new_error)
        element_error = Signal()
        load_error = Signal()
        desc_error = Signal(4)
        with m.If(desc_error != 0):
            m.d.comb += new_error.eq(desc_error)
        with m.Elif(load_error):
            m.d.comb += new_error.eq(Error.LOAD)
        with m.Elif(element_error):
            m.d.comb += new_error.eq(Error.ELEMENT)

        # ---- pass contexts -------------------------------------------------------------
        desc = [Signal(dl, name=f"desc{c}") for c in range(NCTX)]
        lg = [Signal(4, name=f"lg{c}") for c in range(NCTX)]
        kk = [Signal(6, name=f"kk{c}") for c in range(NCTX)]
        ctx_open = Signal(NCTX)           # taken and not yet retired
        bad = Signal(NCTX)                # refused: its beats are dropped
        x_ended = Signal(NCTX)            # its last input beat was taken
        pre_cnt = [Signal(dl["nloads"].shape, name=f"pre{c}") for c in range(NCTX)]
        abank = [Signal(2, name=f"abank{c}") for c in range(NCTX)]
        done_mask = [Signal(L, name=f"done{c}") for c in range(NCTX)]
        setup_done = Signal(NCTX)
        computing = Signal(NCTX)
        for c in range(NCTX):
            m.d.comb += [setup_done[c].eq(pre_cnt[c] == desc[c].nloads),
                         computing[c].eq(ctx_open[c] & ~bad[c] & (done_mask[c] != full))]

        for l, ln in enumerate(lanes):
            for c in range(NCTX):
                d, cfg = desc[c], ln.cfg[c]
                m.d.comb += [
                    cfg.transposed.eq((d.op == Op.TCONV) | (d.op == Op.TCONV_WG)),
                    cfg.wg.eq((d.op == Op.CONV_WG) | (d.op == Op.TCONV_WG)),
                    cfg.kernel.eq(d.kernel), cfg.kk.eq(kk[c]), cfg.stride.eq(d.stride),
                    cfg.padding.eq(d.padding), cfg.out_h.eq(d.out_h), cfg.out_w.eq(d.out_w),
                    cfg.lg.eq(lg[c]), cfg.skip_zero.eq(d.skip_zero), cfg.skip_mask.eq(d.skip_mask),
                    cfg.wbank.eq(d.wbank), cfg.abank.eq(abank[c]), cfg.setup_done.eq(setup_done[c]),
                ]

        # ---- command stream: descriptors and loads ------------------------------------------
        cmd = self.cmd.payload
        next_ctx = Signal(2)              # context of the next descriptor
        cctx = Signal(2)                  # context the loads go to (the last descriptor)
        cur_abank = Signal(2)             # accumulator bank of the current tile
        tile_open = Signal()              # the current tile has passes and has not drained
        tile_cin = [Signal(16, name=f"tile_cin{b}") for b in range(NBANK)]
        wcount = [Signal(self.addr_bits + 1, name=f"wcount{b}") for b in range(2)]
        wneed = Signal(self.addr_bits + 1)
        for l, ln in enumerate(lanes):
            m.d.comb += [ln.wmark[0].eq(wcount[0]), ln.wmark[1].eq(wcount[1])]

        nd = cmd.desc
        nd_lg = Signal(4)                 # pitch: the bit length of out_w - 1
        for b in range(cb):
            with m.If((nd.out_w - 1)[b]):
                m.d.comb += nd_lg.eq(b + 1)
        code, nd_op_words = self._check(m, nd, nd_lg)
        reuse_short = ~nd.wload & (Array(wcount)[nd.wbank] < nd_op_words)

        bank_busy = Signal(NBANK)
        for b in range(NBANK):
            m.d.comb += bank_busy[b].eq(Cat(*[ctx_open[c] & ~bad[c] & (abank[c] == b)
                                              for c in range(NCTX)]).any())
        wbank_busy = Signal(2)
        for b in range(2):
            m.d.comb += wbank_busy[b].eq(Cat(*[computing[c] & (desc[c].wbank == b)
                                               for c in range(NCTX)]).any())

        SETUP, WEIGHTS, NONE, DROP = 0, 1, 2, 3
        cmode = Signal(2, init=NONE)
        geom_busy = Signal()
        geom_start = Signal()
        is_desc = self.cmd.valid & (cmd.kind == CmdKind.DESC)
        is_load = self.cmd.valid & (cmd.kind != CmdKind.DESC)
        loads_short = (cmode == SETUP) | (cmode == WEIGHTS)
        can_take = ~ctx_open.bit_select(next_ctx, 1) & ~geom_busy & ~loads_short & \
            (tile_open | ~bank_busy.bit_select(cur_abank, 1)) & \
            ~(nd.wload & wbank_busy.bit_select(nd.wbank, 1))
        desc_take = is_desc & can_take
        m.d.comb += self.cmd.ready.eq(is_load | (is_desc & can_take))

        # A protocol error while a pass still expects loads (a descriptor too early, a load
        # of the wrong kind, an operand word out of order) abandons the rest of its loads:
        # LOAD is set and the pass runs with what it has, so nothing waits forever.
        abandon = Signal()
        with m.If(abandon):
            m.d.comb += load_error.eq(1)
            m.d.sync += Array(pre_cnt)[cctx].eq(Array(desc)[cctx].nloads)
            with m.If(Array(desc)[cctx].wload):
                m.d.sync += Array(wcount)[Array(desc)[cctx].wbank].eq(wneed)

        for ln in lanes:
            m.d.comb += [ln.ctx_reset.eq(desc_take & (code == Error.NONE) & ~reuse_short),
                         ln.ctx_reset_id.eq(next_ctx)]
        with m.If(desc_take):
            m.d.sync += [next_ctx.eq(_next(next_ctx)), cctx.eq(next_ctx)]
            with m.If((code != Error.NONE) | reuse_short):
                m.d.comb += desc_error.eq(Mux(code != Error.NONE, code, Error.REUSE))
                m.d.sync += cmode.eq(DROP)
                for c in range(NCTX):
                    with m.If(next_ctx == c):
                        m.d.sync += bad[c].eq(1)
            with m.Else():
                m.d.comb += geom_start.eq(1)
                for c in range(NCTX):
                    with m.If(next_ctx == c):
                        m.d.sync += [desc[c].eq(nd), lg[c].eq(nd_lg), kk[c].eq(nd.kernel * nd.kernel),
                                     bad[c].eq(0), pre_cnt[c].eq(0), done_mask[c].eq(0),
                                     abank[c].eq(cur_abank)]
                for b in range(NBANK):
                    with m.If(cur_abank == b):
                        m.d.sync += tile_cin[b].eq(Mux(tile_open, tile_cin[b] + nd.cin, nd.cin))
                with m.If(nd.drain):
                    m.d.sync += [cur_abank.eq(Mux(cur_abank == NBANK - 1, 0, cur_abank + 1)),
                                 tile_open.eq(0)]
                with m.Else():
                    m.d.sync += tile_open.eq(1)
                with m.If(nd.wload):
                    m.d.sync += [Array(wcount)[nd.wbank].eq(0), wneed.eq(nd_op_words)]
                with m.If(nd.nloads != 0):
                    m.d.sync += cmode.eq(SETUP)
                with m.Elif(nd.wload):
                    m.d.sync += cmode.eq(WEIGHTS)
                with m.Else():
                    m.d.sync += cmode.eq(NONE)

        # Loads: setup beats, then operand words in address order.
        cd = Array(desc)[cctx]
        mask_words = Signal(self.addr_bits + 1)
        m.d.comb += mask_words.eq(((cd.out_h << Array(lg)[cctx]) + MASK_WORD - 1) >> 4)
        is_setup_kind = (cmd.kind == CmdKind.ENABLE) | (cmd.kind == CmdKind.BIAS) | \
            (cmd.kind == CmdKind.MASK)
        setup_ok = (cmode == SETUP) & is_setup_kind & \
            ((cmd.kind != CmdKind.MASK) | (cmd.addr < mask_words))
        wb = cd.wbank
        weight_ok = (cmode == WEIGHTS) & (cmd.kind == CmdKind.WEIGHT) & \
            (cmd.addr == Array(wcount)[wb])
        write = is_load & (setup_ok | weight_ok)
        m.d.comb += abandon.eq(loads_short & ((is_load & ~write) | is_desc))
        with m.If(abandon):
            m.d.sync += cmode.eq(Mux(is_desc, NONE, DROP))
        with m.Elif(is_load & ~write & (cmode == NONE)):
            m.d.comb += load_error.eq(1)          # a load no pass announced: dropped
        with m.If(is_load & setup_ok):
            cnt = Array(pre_cnt)[cctx]
            m.d.sync += cnt.eq(cnt + 1)
            with m.If(cnt + 1 == cd.nloads):
                m.d.sync += cmode.eq(Mux(cd.wload, WEIGHTS, NONE))
        with m.If(is_load & weight_ok):
            m.d.sync += Array(wcount)[wb].eq(Array(wcount)[wb] + 1)
            with m.If(Array(wcount)[wb] + 1 == wneed):
                m.d.sync += cmode.eq(NONE)
        for l, ln in enumerate(lanes):
            m.d.comb += [ln.ld_en.eq(write & cmd.en[l]), ln.ld_kind.eq(cmd.kind),
                         ln.ld_ctx.eq(cctx), ln.ld_bank.eq(wb), ln.ld_addr.eq(cmd.addr),
                         ln.ld_value.eq(cmd.value[l])]

        # ---- input beats ----------------------------------------------------------------
        xctx = Signal(2)
        xd = Array(desc)[xctx]
        x_open = ctx_open.bit_select(xctx, 1) & ~x_ended.bit_select(xctx, 1)
        x_bad = bad.bit_select(xctx, 1)
        room = Cat(*[q.w_stream.ready for q in fifos]).all()
        m.d.comb += self.x_in.ready.eq(x_open & (x_bad | room))
        x_take = self.x_in.valid & self.x_in.ready
        push = x_take & ~x_bad
        beat = self.x_in.payload
        x_end = x_take & beat.end
        with m.If(x_end):
            m.d.sync += xctx.eq(_next(xctx))
        slots_mask = Signal(range(L))
        m.d.comb += slots_mask.eq((1 << xd.slots) - 1)
        outside = []
        for s in range(L):
            sl = beat.slot[s]
            o = Signal(name=f"outside{s}")
            m.d.comb += o.eq(sl.valid & ((sl.ci >= xd.cin) | (sl.i >= xd.in_h) | (sl.j >= xd.in_w)))
            outside.append(o)
        outside = Cat(*outside)
        with m.If(push & (outside & ((1 << (slots_mask + 1)) - 1)[:L]).any()):
            m.d.comb += element_error.eq(1)
        for l, q in enumerate(fifos):
            el = Signal(element_layout(self.dw, cb), name=f"el{l}")
            sel = Signal(range(L), name=f"sel{l}")
            m.d.comb += sel.eq(l & slots_mask)
            s = beat.slot[sel]
            m.d.comb += [el.ci.eq(s.ci), el.i.eq(s.i), el.j.eq(s.j), el.value.eq(s.value),
                         el.valid.eq(s.valid & ~outside.bit_select(sel, 1)), el.last.eq(beat.end),
                         el.ctx.eq(xctx)]
            m.d.comb += [q.w_stream.payload.eq(el), q.w_stream.valid.eq(push)]

        # ---- lanes finishing passes --------------------------------------------------------
        for c in range(NCTX):
            hits = Cat(*[ln.done & (ln.done_ctx == c) for ln in lanes])
            with m.If(hits.any()):
                m.d.sync += done_mask[c].eq(done_mask[c] | hits)

        # ---- geometry: dense and zero-insertion MACs per lane of each pass ----------------
        geo_dense = [Signal(40, name=f"geo_dense{c}") for c in range(NCTX)]
        geo_zi = [Signal(40, name=f"geo_zi{c}") for c in range(NCTX)]
        geo_done = Signal(NCTX)
        g_ctx = Signal(2)
        g_r = Signal(cb)
        g_rs = Signal(cb + 4)
        g_cs = Signal(cb + 4)
        g_t1 = Signal(40)
        g_t2 = Signal(40)
        gd = Array(desc)[g_ctx]
        g_cfg = Signal(pass_config_layout(cb))
        m.d.comb += [g_cfg.transposed.eq((gd.op == Op.TCONV) | (gd.op == Op.TCONV_WG)),
                     g_cfg.kernel.eq(gd.kernel), g_cfg.stride.eq(gd.stride),
                     g_cfg.padding.eq(gd.padding)]
        g_rt = axis_taps(m, "g_row", g_r, gd.in_h, g_cfg, self.kmax)
        g_ct = axis_taps(m, "g_col", g_r, gd.in_w, g_cfg, self.kmax)
        g_mul_a = Signal(40)
        g_mul_b = Signal(24)
        g_prod = Signal(64)
        m.d.comb += g_prod.eq(g_mul_a * g_mul_b)
        with m.If(geom_start):
            m.d.sync += geo_done.eq(geo_done & ~(1 << next_ctx))
        with m.FSM(name="geom") as geom:
            with m.State("IDLE"):
                with m.If(geom_start):
                    m.d.sync += [g_ctx.eq(next_ctx), g_r.eq(0), g_rs.eq(0), g_cs.eq(0)]
                    m.next = "SUM"
            with m.State("SUM"):
                m.d.sync += [g_rs.eq(g_rs + Mux(g_r < gd.out_h, g_rt, 0)),
                             g_cs.eq(g_cs + Mux(g_r < gd.out_w, g_ct, 0)), g_r.eq(g_r + 1)]
                with m.If((g_r + 1 >= gd.out_h) & (g_r + 1 >= gd.out_w)):
                    m.next = "RSCS"
            with m.State("RSCS"):          # t1 = RS·CS (dense MACs of one channel)
                m.d.comb += [g_mul_a.eq(g_rs), g_mul_b.eq(g_cs)]
                m.d.sync += g_t1.eq(g_prod)
                m.next = "DENSE"
            with m.State("DENSE"):         # t1 = cin·RS·CS;  t2 = out_h·out_w
                m.d.comb += [g_mul_a.eq(g_t1), g_mul_b.eq(gd.cin)]
                m.d.sync += [g_t1.eq(g_prod), g_t2.eq(gd.out_h * gd.out_w)]
                m.next = "KK"
            with m.State("KK"):            # t2 = out_h·out_w·K²
                m.d.comb += [g_mul_a.eq(g_t2), g_mul_b.eq(Array(kk)[g_ctx])]
                m.d.sync += g_t2.eq(g_prod)
                m.next = "ZI"
            with m.State("ZI"):            # cin·out_h·out_w·K² − dense, transposed FP/EP only
                m.d.comb += [g_mul_a.eq(g_t2), g_mul_b.eq(gd.cin)]
                for c in range(NCTX):
                    with m.If(g_ctx == c):
                        m.d.sync += [geo_dense[c].eq(g_t1),
                                     geo_zi[c].eq(Mux(gd.op == Op.TCONV, g_prod - g_t1, 0)),
                                     geo_done[c].eq(1)]
                m.next = "IDLE"

        # Outside the FSM, so it is a continuous assignment: Icarus does not evaluate
        # ``always @*`` blocks at time 0, and this gates the first descriptor.
        m.d.comb += geom_busy.eq(~geom.ongoing("IDLE"))

        # ---- retire the oldest pass: drain its tile if it ends one ------------------------
        rctx = Signal(2)
        rd = Array(desc)[rctx]
        r_open = ctx_open.bit_select(rctx, 1)
        r_bad = bad.bit_select(rctx, 1)
        r_complete = r_open & ~r_bad & (Array(done_mask)[rctx] == full) & geo_done.bit_select(rctx, 1)
        retire = Signal()
        d_active = Signal()
        d_oh, d_ow = Signal(cb), Signal(cb)
        d_lin = Signal(self.addr_bits + 1)
        d_last = Signal()
        inflight = Signal(range(DRAIN_CREDITS + 2))
        r_wg = (rd.op == Op.CONV_WG) | (rd.op == Op.TCONV_WG)
        r_lg = Array(lg)[rctx]
        r_bank = Array(abank)[rctx]
        # A tile's drain issues its first word in the cycle its last pass is found complete,
        # so back-to-back tiles drain without a gap (the counters restart at 0 behind the
        # previous tile's last word).
        d_start = r_complete & ~d_active & rd.drain
        d_issue = (d_active | d_start) & (inflight < DRAIN_CREDITS)
        d_addr = Signal(self.addr_bits + 1)
        m.d.comb += d_addr.eq(Mux(r_wg, d_lin, (d_oh << r_lg) | d_ow))
        m.d.comb += d_last.eq(Mux(r_wg, d_lin + 1 == rd.cin * Array(kk)[rctx],
                                  (d_ow + 1 == rd.out_w) & (d_oh + 1 == rd.out_h)))
        out_fire = self.o.valid & self.o.ready
        m.d.sync += inflight.eq(inflight + d_issue - out_fire)
        for ln in lanes:
            m.d.comb += [ln.d_rd.eq(d_issue), ln.d_bank.eq(r_bank), ln.d_addr.eq(d_addr),
                         ln.d_ctx.eq(rctx), ln.d_mask_out.eq(rd.mask_out & ~r_wg),
                         ln.d_audit.eq(~rd.skip_mask),
                         ln.d_shift.eq(rd.shift), ln.d_activation.eq(rd.activation),
                         ln.d_slope.eq(rd.slope)]
        with m.If(r_open & r_bad & x_ended.bit_select(rctx, 1)):
            m.d.comb += retire.eq(1)
        with m.Elif(r_complete & ~d_active & ~rd.drain):
            m.d.comb += retire.eq(1)
        with m.If(d_start & ~(d_issue & d_last)):
            m.d.sync += d_active.eq(1)
        with m.If(d_issue):
            with m.If(d_last):
                m.d.sync += [d_active.eq(0), d_lin.eq(0), d_oh.eq(0), d_ow.eq(0)]
                m.d.comb += retire.eq(1)
            with m.Else():
                m.d.sync += d_lin.eq(d_lin + 1)
                with m.If(d_ow + 1 == rd.out_w):
                    m.d.sync += [d_ow.eq(0), d_oh.eq(d_oh + 1)]
                with m.Else():
                    m.d.sync += d_ow.eq(d_ow + 1)
        with m.If(retire):
            m.d.sync += rctx.eq(_next(rctx))
        # Each context bit has one next-state expression: a descriptor can be taken, another
        # pass's last beat arrive and a third pass retire in the same cycle.
        for c in range(NCTX):
            opened = desc_take & (next_ctx == c)
            m.d.sync += [ctx_open[c].eq(opened | (ctx_open[c] & ~(retire & (rctx == c)))),
                         x_ended[c].eq((x_end & (xctx == c)) | (x_ended[c] & ~opened))]

        # ---- counters ----------------------------------------------------------------------
        issues = Cat(*[ln.issue for ln in lanes])
        m.d.sync += self.macs_issued.eq(self.macs_issued + _popcount(issues))
        r_en = Signal(L)
        for l, ln in enumerate(lanes):
            m.d.comb += r_en[l].eq(ln.enabled.bit_select(rctx, 1))
        with m.If(retire & ~r_bad):
            n_en = _popcount(r_en)
            m.d.sync += [self.dense_macs.eq(self.dense_macs + n_en * Array(geo_dense)[rctx]),
                         self.zero_insertion_skipped.eq(self.zero_insertion_skipped +
                                                        n_en * Array(geo_zi)[rctx])]
        # Masked outputs, word by word as they drain: enabled lanes whose mask bit is off,
        # times the dense taps of that output (row taps · column taps · the tile's cin).
        d_cfg = Signal(pass_config_layout(cb))
        m.d.comb += [d_cfg.transposed.eq(rd.op == Op.TCONV), d_cfg.kernel.eq(rd.kernel),
                     d_cfg.stride.eq(rd.stride), d_cfg.padding.eq(rd.padding)]
        d_rt = axis_taps(m, "d_row", d_oh, rd.in_h, d_cfg, self.kmax)
        d_ct = axis_taps(m, "d_col", d_ow, rd.in_w, d_cfg, self.kmax)
        dk_fac = Signal(24)
        dk_valid = Signal()
        dk_en = Signal(L)
        m.d.sync += [dk_valid.eq(d_issue & rd.skip_mask & ~r_wg), dk_en.eq(r_en),
                     dk_fac.eq(d_rt * d_ct * Array(tile_cin)[r_bank])]
        keep = Cat(*[ln.d_keep for ln in lanes])
        with m.If(dk_valid):
            m.d.sync += self.output_mask_skipped.eq(self.output_mask_skipped +
                                                    _popcount(dk_en & ~keep) * dk_fac)
        m.d.comb += self.input_zero_skipped.eq(self.dense_macs - self.output_mask_skipped -
                                               self.macs_issued)
        # Audited passes (mask applied at the drain, every tap computed): EORS's false and
        # missed zeros, as the lanes write their outputs.
        m.d.sync += [self.false_zero.eq(self.false_zero +
                                        _popcount(Cat(*[ln.false_zero for ln in lanes]))),
                     self.missed_zero.eq(self.missed_zero +
                                         _popcount(Cat(*[ln.missed_zero for ln in lanes])))]

        # ---- outputs: one per lane, in lockstep ------------------------------------------------
        all_valid = Cat(*[ln.o.valid for ln in lanes]).all()
        m.d.comb += self.o.valid.eq(all_valid)
        for l, ln in enumerate(lanes):
            m.d.comb += [self.o.payload[l].eq(ln.o.payload), ln.o.ready.eq(all_valid & self.o.ready)]

        # ---- busy, stalled, idle -------------------------------------------------------------
        busy = Signal()
        fifo_data = Cat(*[q.r_stream.valid for q in fifos]).any()
        m.d.comb += busy.eq(ctx_open.any() | (cmode == SETUP) | (cmode == WEIGHTS) |
                            (inflight != 0) | geom_busy | fifo_data)
        m.d.comb += self.busy.eq(busy)
        blocked = Cat(*[ln.blocked for ln in lanes]).any()
        starved = Cat(*[ln.waiting & ~q.r_stream.valid for ln, q in zip(lanes, fifos)]).any() & \
            x_open & ~x_bad & ~self.x_in.valid
        setup_wait = Cat(*[q.r_stream.valid & ~ln.x_in.ready & ln.waiting
                           for ln, q in zip(lanes, fifos)]).any()
        with m.If(busy):
            m.d.sync += self.cycles_busy.eq(self.cycles_busy + 1)
            with m.If(blocked | starved | setup_wait):
                m.d.sync += self.cycles_stalled.eq(self.cycles_stalled + 1)
        with m.Else():
            m.d.sync += self.cycles_idle.eq(self.cycles_idle + 1)
        return m
