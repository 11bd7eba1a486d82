"""The sparse convolution core: ``lanes`` scatter lanes behind one descriptor.

One descriptor (:mod:`.descriptor`) runs one *pass*. Every lane computes one
output channel (FP/EP), or one channel's weight gradient (WG), of the tile
with the same geometry. What differs between lanes is what was loaded into
them (weights or error map, mask bits, bias) and which input slot they read.

Dataflow::

    desc ──► check ──► lane configuration (registered for the pass)
    load beat ──► every lane with its en bit: weight/operand word, 16 mask bits,
                  bias or enable, one value per lane   (between passes)
    x_in beat = lanes slots ──► lane l's FIFO takes slot l mod 2**slots
                                   │
                      lane 0 … lane L-1 (rtl/lane.py): look-ahead tap
                      iterator, MAC, accumulators, output stage
                                   │
    o beat = one output per lane, lanes in lockstep (every lane drains the same count)

* An input beat carries ``lanes`` element slots and an ``end`` flag on the
  pass's last beat. Lanes that read the same slot share the element. With
  ``slots = 0`` all lanes read slot 0, which is channel parallelism. With
  ``slots = log2(lanes)`` each lane reads its own slot, for example its own
  sample, for layers with fewer output channels than lanes.
* A beat is taken when every lane FIFO has room. The lanes then run
  decoupled, so their load imbalance evens out over the FIFO depth.
* A descriptor that breaks a rule of
  :func:`~.descriptor.check_descriptor` is not run. It sets ``error`` (the
  first error sticks until ``error_clear``) and raises ``irq``, and the
  pass's input beats are consumed up to ``end`` and dropped, so the device
  never hangs.

Counters, all since reset and 32 bits:
* ``macs_issued``, ``input_zero_skipped`` and ``output_mask_skipped``, summed
  over the lanes;
* ``cycles_busy``: a pass or a drain is in progress;
* ``cycles_stalled``: busy, no input beat offered, and a lane waiting for one;
* ``cycles_idle``.

Parameters: lanes, data_width, acc_width, max_kernel, max_stride,
weight_depth and out_depth (words per lane), coord_bits, and fifo_depth
(32). fifo_depth is how many elements a lane may fall behind the fastest
lane. Output masks differ from lane to lane, so a deeper FIFO lets the lanes
even out. On a 90 %-masked layer, going from 8 to 32 saved 13 % of the
cycles.

Latency: a beat reaches a lane's iterator two cycles after it is taken. The
last output of a pass leaves about four cycles after the lane's last MAC, plus
one cycle per accumulator word drained.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .descriptor import Error, Op, descriptor_layout
from .lane import ScatterLane, element_layout
from .output_stage import output_layout

__all__ = ["SparseCore", "slot_layout", "beat_layout", "load_layout", "LoadKind"]


class LoadKind:
    """What a load beat writes, in every lane whose ``en`` bit is set, from its ``value``."""
    WEIGHT = 0      # weight (FP/EP) or error-map (WG) word at ``addr``
    MASK = 1        # MASK_WORD mask bits (value bits) at mask word ``addr``
    BIAS = 2        # the lane's bias (``value``, accumulator units)
    ENABLE = 3      # the lane computes (value bit 0 = 1) or sits this pass out (0)


def slot_layout(data_width, coord_bits):
    return data.StructLayout({"valid": unsigned(1), "ci": unsigned(coord_bits),
                              "i": unsigned(coord_bits), "j": unsigned(coord_bits),
                              "value": signed(data_width)})


def beat_layout(lanes, data_width, coord_bits):
    return data.StructLayout({"slot": data.ArrayLayout(slot_layout(data_width, coord_bits), lanes),
                              "end": unsigned(1)})


def load_layout(lanes, addr_bits, acc_width):
    """One load beat: the same kind and address for every lane, a value per lane."""
    return data.StructLayout({"kind": unsigned(2), "addr": unsigned(addr_bits),
                              "en": unsigned(lanes),
                              "value": data.ArrayLayout(signed(acc_width), lanes)})


class SparseCore(wiring.Component):
    def __init__(self, *, lanes=16, data_width=16, acc_width=48, max_kernel=5, max_stride=2,
                 weight_depth=2048, out_depth=1024, coord_bits=8, fifo_depth=32):
        if lanes < 1 or lanes & (lanes - 1):
            raise ValueError(f"lanes must be a power of two, got {lanes}")
        self.lanes, self.dw, self.aw, self.kmax, self.smax = lanes, data_width, acc_width, max_kernel, max_stride
        self.weight_depth, self.out_depth, self.cb, self.fifo_depth = weight_depth, out_depth, coord_bits, fifo_depth
        self.addr_bits = max((weight_depth - 1).bit_length(), (out_depth - 1).bit_length(), 1)
        super().__init__({
            "desc": In(stream.Signature(descriptor_layout(coord_bits))),
            "load": In(stream.Signature(load_layout(lanes, self.addr_bits, acc_width))),
            "x_in": In(stream.Signature(beat_layout(lanes, data_width, coord_bits))),
            "o": Out(stream.Signature(data.ArrayLayout(output_layout(data_width), lanes))),
            "error": Out(4), "error_clear": In(1), "irq": Out(1), "busy": Out(1),
            "macs_issued": Out(32), "input_zero_skipped": Out(32), "output_mask_skipped": Out(32),
            "cycles_busy": Out(32), "cycles_stalled": Out(32), "cycles_idle": Out(32),
        })

    def _check(self, m, d):
        """Combinational error code of descriptor ``d`` (the rules of ``check_descriptor``)."""
        code = Signal(4)
        wg = (d.op == Op.CONV_WG) | (d.op == Op.TCONV_WG)
        pos = d.out_h * d.out_w
        taps = d.cin * d.kernel * d.kernel
        acc_words = Signal(2 * self.cb + 6)
        op_words = Signal(2 * self.cb + 6)
        m.d.comb += [acc_words.eq(Mux(wg, taps, pos)), op_words.eq(Mux(wg, pos, taps))]
        with m.If((d.kernel == 0) | (d.kernel > self.kmax)):
            m.d.comb += code.eq(Error.KERNEL)
        with m.Elif((d.stride == 0) | (d.stride == 3) | (d.stride > self.smax)):
            m.d.comb += code.eq(Error.STRIDE)
        with m.Elif(d.padding >= d.kernel):
            m.d.comb += code.eq(Error.PADDING)
        with m.Elif(acc_words > self.out_depth):
            m.d.comb += code.eq(Error.OUT_SIZE)
        with m.Elif(op_words > self.weight_depth):
            m.d.comb += code.eq(Error.WEIGHT_SIZE)
        with m.Elif(d.activation == 3):
            m.d.comb += code.eq(Error.ACTIVATION)
        with m.Elif((1 << d.slots) > self.lanes):
            m.d.comb += code.eq(Error.SLOTS)
        with m.Elif(d.shift >= self.aw):
            m.d.comb += code.eq(Error.SHIFT)
        return code, acc_words

    def elaborate(self, platform):
        m = Module()
        L = self.lanes
        lanes = []
        fifos = []
        for l in range(L):
            lane = ScatterLane(data_width=self.dw, acc_width=self.aw, max_kernel=self.kmax,
                               weight_depth=self.weight_depth, out_depth=self.out_depth,
                               coord_bits=self.cb)
            q = fifo.SyncFIFOBuffered(width=element_layout(self.dw, self.cb).as_shape().width,
                                      depth=self.fifo_depth)
            m.submodules[f"lane{l}"] = lane
            m.submodules[f"fifo{l}"] = q
            m.d.comb += [lane.x_in.payload.eq(q.r_stream.payload), lane.x_in.valid.eq(q.r_stream.valid),
                         q.r_stream.ready.eq(lane.x_in.ready)]
            lanes.append(lane)
            fifos.append(q)

        # ---- descriptor ------------------------------------------------------------
        cur = Signal(descriptor_layout(self.cb))
        acc_count = Signal(2 * self.cb + 6)
        code, acc_words = self._check(m, self.desc.payload)
        with m.If(self.error_clear):
            m.d.sync += self.error.eq(0)
        m.d.comb += self.irq.eq(self.error != 0)

        lanes_idle = Signal()
        m.d.comb += lanes_idle.eq(Cat(*[~ln.busy for ln in lanes]).all() &
                                  Cat(*[~q.r_stream.valid for q in fifos]).all())
        for ln in lanes:
            m.d.comb += [
                ln.transposed.eq((cur.op == Op.TCONV) | (cur.op == Op.TCONV_WG)),
                ln.wg.eq((cur.op == Op.CONV_WG) | (cur.op == Op.TCONV_WG)),
                ln.drain.eq(cur.drain), ln.acc_count.eq(acc_count),
                ln.kernel.eq(cur.kernel), ln.stride.eq(cur.stride), ln.padding.eq(cur.padding),
                ln.out_h.eq(cur.out_h), ln.out_w.eq(cur.out_w),
                ln.skip_zero.eq(cur.skip_zero), ln.skip_mask.eq(cur.skip_mask),
                ln.mask_out.eq(cur.mask_out),
                ln.shift.eq(cur.shift), ln.activation.eq(cur.activation),
                ln.slope_shift.eq(cur.slope),
            ]

        # ---- loads (only between passes) ------------------------------------------------
        ld = self.load.payload
        biases = [Signal(signed(self.aw), name=f"bias{l}") for l in range(L)]
        enables = [Signal(init=1, name=f"enable{l}") for l in range(L)]
        loading = Signal()
        for l, ln in enumerate(lanes):
            hit = self.load.valid & loading & ld.en[l]
            value = ld.value[l]
            m.d.comb += [
                ln.w_in.payload.addr.eq(ld.addr), ln.w_in.payload.value.eq(value),
                ln.w_in.valid.eq(hit & (ld.kind == LoadKind.WEIGHT)),
                ln.mask_in.payload.addr.eq(ld.addr), ln.mask_in.payload.bits.eq(value),
                ln.mask_in.valid.eq(hit & (ld.kind == LoadKind.MASK)),
                ln.bias.eq(biases[l]), ln.enable.eq(enables[l]),
            ]
            with m.If(hit & (ld.kind == LoadKind.BIAS)):
                m.d.sync += biases[l].eq(value)
            with m.If(hit & (ld.kind == LoadKind.ENABLE)):
                m.d.sync += enables[l].eq(value[0])
        m.d.comb += self.load.ready.eq(loading)

        # ---- input beats ------------------------------------------------------------
        running = Signal()
        flushing = Signal()
        room = Cat(*[q.w_stream.ready for q in fifos]).all()
        m.d.comb += self.x_in.ready.eq(flushing | (running & room))
        take = self.x_in.valid & running & room
        beat = self.x_in.payload
        slots_mask = Signal(range(L))
        m.d.comb += slots_mask.eq((1 << cur.slots) - 1)
        for l, q in enumerate(fifos):
            el = Signal(element_layout(self.dw, self.cb), name=f"el{l}")
            sel = Signal(range(L), name=f"sel{l}")
            m.d.comb += sel.eq(l & slots_mask)
            s = beat.slot[sel]
            m.d.comb += [el.ci.eq(s.ci), el.i.eq(s.i), el.j.eq(s.j), el.value.eq(s.value),
                         el.valid.eq(s.valid), el.last.eq(beat.end)]
            m.d.comb += [q.w_stream.payload.eq(el), q.w_stream.valid.eq(take)]

        # ---- outputs: one per lane, in lockstep --------------------------------------------
        all_valid = Cat(*[ln.o.valid for ln in lanes]).all()
        m.d.comb += self.o.valid.eq(all_valid)
        for l, ln in enumerate(lanes):
            m.d.comb += [self.o.payload[l].eq(ln.o.payload), ln.o.ready.eq(all_valid & self.o.ready)]

        # ---- control ---------------------------------------------------------------------
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [loading.eq(lanes_idle), self.desc.ready.eq(lanes_idle)]
                with m.If(self.desc.valid & lanes_idle):
                    m.d.sync += [cur.eq(self.desc.payload), acc_count.eq(acc_words)]
                    with m.If(code != Error.NONE):
                        with m.If(self.error == 0):
                            m.d.sync += self.error.eq(code)
                        m.next = "FLUSH"
                    with m.Else():
                        m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += running.eq(1)
                with m.If(take & beat.end):
                    m.next = "WAIT"
            with m.State("WAIT"):
                with m.If(lanes_idle):
                    m.next = "IDLE"
            with m.State("FLUSH"):
                m.d.comb += flushing.eq(1)
                with m.If(self.x_in.valid & beat.end):
                    m.next = "IDLE"

        # ---- counters -----------------------------------------------------------------------
        busy = Signal()
        m.d.comb += busy.eq(running | flushing | ~lanes_idle | (self.desc.valid & ~lanes_idle))
        m.d.comb += self.busy.eq(busy)
        m.d.comb += [
            self.macs_issued.eq(sum(ln.macs_issued for ln in lanes)),
            self.input_zero_skipped.eq(sum(ln.input_zero_skipped for ln in lanes)),
            self.output_mask_skipped.eq(sum(ln.output_mask_skipped for ln in lanes)),
        ]
        with m.If(busy):
            m.d.sync += self.cycles_busy.eq(self.cycles_busy + 1)
        with m.Else():
            m.d.sync += self.cycles_idle.eq(self.cycles_idle + 1)
        with m.If(running & ~self.x_in.valid & Cat(*[~q.r_stream.valid for q in fifos]).any()):
            m.d.sync += self.cycles_stalled.eq(self.cycles_stalled + 1)
        return m
