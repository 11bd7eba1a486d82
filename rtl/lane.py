"""A sparse scatter lane: one output channel of a conv or transposed-conv tile.

The lane is input-stationary. Input elements stream in as ``(ci, i, j,
value)``, in any order: a compressed list of the non-zero ones, or every
element when input skipping is off. For each element the lane works out which
kernel taps reach a valid output and computes only those, accumulating
``value · w[ci, kh, kw]`` into ``acc[oh, ow]``:

* convolution (``transposed = 0``): ``oh = (i + padding − kh) / stride`` when
  that is an integer in ``[0, out_h)``;
* transposed convolution (``transposed = 1``): ``oh = i·stride − padding + kh``
  in ``[0, out_h)``. Every tap meets a real input, so no MAC ever touches an
  inserted zero (GANAX's zero-free phases, seen from the input side).

Skipping, each one switchable for the dense baseline:

* ``skip_zero``: an element whose value is zero is dropped in the cycle it
  arrives; its valid taps count as ``input_zero_skipped``;
* ``skip_mask``: taps whose output has its mask bit off are never issued, and
  count as ``output_mask_skipped``. The element's full ``K×K`` candidate
  bitmap is built in the cycle it arrives (look-ahead), and an iterator issues
  one set bit per cycle. An element with no candidate costs one cycle. The
  iterator takes the next element in the cycle it issues the last tap of the
  current one.

Weight gradients (``wg = 1``) swap the two address functions: the operand
memory holds the error map ``dy[oh, ow]`` of one sample (loaded like the
weights, at ``oh·out_w + ow``), the mask is the non-zero bitmap of ``dy``, and
``x·dy[oh, ow]`` accumulates into ``acc[ci·K² + kh·K + kw]``. The relation
between ``(i, j)``, ``(kh, kw)`` and ``(oh, ow)`` is the same, so a
transposed convolution's WG (``transposed = 1``) is zero-free too.

The last element carries ``last``. With ``drain = 0`` the pass ends there and
the accumulators keep their sums for the next pass (a reduction split over
passes, e.g. over the samples of a WG). With ``drain = 1``, once the pipeline
has emptied the lane drains ``acc_count`` words: it reads ``acc`` in order,
adds the bias, and sends the sum through the
:class:`~.output_stage.OutputStage` to ``o``. With
``mask_out`` (FP/EP), outputs whose mask is off come out as 0, whether or not
their taps were skipped. The drain clears ``acc`` behind it, so the
next pass can start at once.

A lane whose ``enable`` is low issues nothing (a lane with no channel in
this pass); it still ends the pass and drains in step with the others.

Loading: ``w_in`` writes weights (address ``ci·K² + kh·K + kw``) and
``mask_in`` writes ``MASK_WORD`` mask bits at once (word ``addr`` holds the
bits of positions ``addr·MASK_WORD …``, position ``oh·out_w + ow``), both
while the lane is idle.

Parameters
----------
data_width, acc_width : widths of values and of the accumulator.
max_kernel : largest K.
weight_depth : weight memory words (≥ C_in·K²).
out_depth : accumulator words (≥ out_h·out_w).
coord_bits : width of ``ci``, ``i``, ``j`` and of the output sizes.

Latency: an issued tap reaches ``acc`` two cycles later. Read-after-write on
the same accumulator word needs no stall: the read port is transparent to the
write port. The drain emits one output per cycle once the FIFO is full.
"""

from amaranth.hdl import Const, Module, Signal, signed, unsigned, Cat, Array
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .output_stage import OutputStage, SHIFT_BITS, SLOPE_BITS, output_layout

__all__ = ["ScatterLane", "element_layout", "MASK_WORD"]

#: Mask bits written by one ``mask_in`` transfer.
MASK_WORD = 16


def element_layout(data_width, coord_bits):
    """One input element: channel, row, column, value, the end-of-pass flag, and ``valid``
    (an element with ``valid = 0`` only carries ``last``: it has no taps)."""
    return data.StructLayout({"ci": unsigned(coord_bits), "i": unsigned(coord_bits),
                              "j": unsigned(coord_bits), "value": signed(data_width),
                              "last": unsigned(1), "valid": unsigned(1)})


def _popcount(bits):
    return sum(bits[n] for n in range(len(bits)))


class ScatterLane(wiring.Component):
    def __init__(self, *, data_width=16, acc_width=48, max_kernel=5, weight_depth=1024,
                 out_depth=256, coord_bits=8):
        self.dw, self.aw, self.kmax = data_width, acc_width, max_kernel
        self.weight_depth, self.out_depth, self.cb = weight_depth, out_depth, coord_bits
        self.wa_bits = max(1, (weight_depth - 1).bit_length())
        self.oa_bits = max(1, (out_depth - 1).bit_length())
        super().__init__({
            "x_in": In(stream.Signature(element_layout(data_width, coord_bits))),
            "w_in": In(stream.Signature(data.StructLayout({"addr": unsigned(self.wa_bits),
                                                          "value": signed(data_width)}))),
            "mask_in": In(stream.Signature(data.StructLayout({"addr": unsigned(self.oa_bits),
                                                             "bits": unsigned(MASK_WORD)}))),
            "o": Out(stream.Signature(output_layout(data_width))),
            # Tile configuration (static while a pass runs).
            "transposed": In(1), "wg": In(1), "drain": In(1), "acc_count": In(self.oa_bits + 1),
            "kernel": In(range(max_kernel + 1)), "stride": In(2),
            "padding": In(range(max_kernel)), "out_h": In(coord_bits), "out_w": In(coord_bits),
            "skip_zero": In(1), "skip_mask": In(1), "mask_out": In(1), "enable": In(1),
            "bias": In(signed(acc_width)),
            "shift": In(SHIFT_BITS), "activation": In(2), "slope_shift": In(SLOPE_BITS),
            # Status and counters.
            "busy": Out(1),
            "macs_issued": Out(32), "input_zero_skipped": Out(32),
            "output_mask_skipped": Out(32), "cycles_busy": Out(32), "cycles_starved": Out(32),
        })

    def _tap_axis(self, m, name, coord, limit):
        """Per kernel index k: (valid, output coordinate) along one axis."""
        valid, pos = [], []
        cb = self.cb
        for k in range(self.kmax):
            v = Signal(name=f"{name}_v{k}")
            p = Signal(cb, name=f"{name}_p{k}")
            t_conv = Signal(signed(cb + 3), name=f"{name}_tc{k}")
            m.d.comb += t_conv.eq(coord + self.padding - k)
            q = Signal(signed(cb + 3), name=f"{name}_q{k}")
            t_tr = Signal(signed(cb + 4), name=f"{name}_tt{k}")
            m.d.comb += t_tr.eq(Mux2(self.stride == 2, coord << 1, coord) - self.padding + k)
            with m.If(self.transposed):
                m.d.comb += [q.eq(t_tr), v.eq((t_tr >= 0) & (t_tr < limit))]
            with m.Elif(self.stride == 2):
                m.d.comb += [q.eq(t_conv >> 1),
                             v.eq((t_conv >= 0) & ~t_conv[0] & ((t_conv >> 1) < limit))]
            with m.Else():
                m.d.comb += [q.eq(t_conv), v.eq((t_conv >= 0) & (t_conv < limit))]
            m.d.comb += p.eq(q)
            valid.append(v & (k < self.kernel))
            pos.append(p)
        return valid, pos

    def elaborate(self, platform):
        m = Module()
        K = self.kmax
        m.submodules.wmem = wmem = memory.Memory(shape=signed(self.dw), depth=self.weight_depth, init=[])
        m.submodules.amem = amem = memory.Memory(shape=signed(self.aw), depth=self.out_depth, init=[])
        w_wr = wmem.write_port()
        w_rd = wmem.read_port()
        a_wr = amem.write_port()
        a_rd = amem.read_port(transparent_for=(a_wr,))
        mask = Signal(-(-self.out_depth // MASK_WORD) * MASK_WORD)
        m.submodules.stage = stage = OutputStage(self.aw, self.dw)
        m.d.comb += [stage.shift.eq(self.shift), stage.activation.eq(self.activation),
                     stage.slope_shift.eq(self.slope_shift)]
        wiring.connect(m, wiring.flipped(self.o), stage.o)

        # ---- loading (idle only) ------------------------------------------------
        idle = Signal()
        m.d.comb += [self.w_in.ready.eq(idle), self.mask_in.ready.eq(idle)]
        m.d.comb += [w_wr.addr.eq(self.w_in.payload.addr), w_wr.data.eq(self.w_in.payload.value),
                     w_wr.en.eq(self.w_in.valid & idle)]
        with m.If(self.mask_in.valid & idle):
            m.d.sync += mask.word_select(self.mask_in.payload.addr, MASK_WORD).eq(self.mask_in.payload.bits)

        # ---- candidate bitmap of the arriving element (look-ahead) --------------
        x = self.x_in.payload
        rv, oh = self._tap_axis(m, "row", x.i, self.out_h)
        cv, ow = self._tap_axis(m, "col", x.j, self.out_w)
        valid_taps, cand = [], []
        for kh in range(K):
            for kw in range(K):
                v = rv[kh] & cv[kw]
                addr = Signal(self.oa_bits + 1, name=f"oaddr_{kh}_{kw}")
                m.d.comb += addr.eq(oh[kh] * self.out_w + ow[kw])
                v = v & x.valid & self.enable
                keep = v & (mask.bit_select(addr[:self.oa_bits], 1) | ~self.skip_mask)
                valid_taps.append(v)
                cand.append(keep)
        valid_vec = Signal(K * K)
        cand_vec = Signal(K * K)
        m.d.comb += [valid_vec.eq(Cat(*valid_taps)), cand_vec.eq(Cat(*cand))]
        is_zero = self.skip_zero & (x.value == 0)

        # ---- iterator: one candidate tap per cycle ------------------------------
        it_bits = Signal(K * K)
        it_value = Signal(signed(self.dw))
        it_ci = Signal(self.cb)
        it_oh = [Signal(self.cb, name=f"it_oh{k}") for k in range(K)]
        it_ow = [Signal(self.cb, name=f"it_ow{k}") for k in range(K)]
        lowest = Signal(K * K)
        m.d.comb += lowest.eq(it_bits & (~it_bits + 1))           # isolate the lowest set bit
        remaining = Signal(K * K)
        m.d.comb += remaining.eq(it_bits & ~lowest)
        issue = Signal()
        m.d.comb += issue.eq(it_bits != 0)
        tap = Signal(range(K * K))
        for n in range(K * K):
            with m.If(lowest[n]):
                m.d.comb += tap.eq(n)
        tap_kh = Signal(range(K))
        tap_kw = Signal(range(K))
        for n in range(K * K):
            with m.If(tap == n):
                m.d.comb += [tap_kh.eq(n // K), tap_kw.eq(n % K)]

        running = Signal()
        last_seen = Signal()
        free = (remaining == 0)
        m.d.comb += self.x_in.ready.eq(running & ~last_seen & free)
        take = self.x_in.valid & self.x_in.ready
        with m.If(issue):
            m.d.sync += it_bits.eq(remaining)
        with m.If(take):
            m.d.sync += [it_bits.eq(Mux2(is_zero, 0, cand_vec)), it_value.eq(x.value),
                         it_ci.eq(x.ci)]
            m.d.sync += [it_oh[k].eq(oh[k]) for k in range(K)]
            m.d.sync += [it_ow[k].eq(ow[k]) for k in range(K)]
            with m.If(x.last):
                m.d.sync += last_seen.eq(1)

        # Counters for the element taken this cycle.
        n_valid = _popcount(valid_vec)
        n_cand = _popcount(cand_vec)
        with m.If(take):
            with m.If(is_zero):
                m.d.sync += self.input_zero_skipped.eq(self.input_zero_skipped + n_cand)
            m.d.sync += self.output_mask_skipped.eq(self.output_mask_skipped + n_valid - n_cand)
        with m.If(issue):
            m.d.sync += self.macs_issued.eq(self.macs_issued + 1)

        # ---- issue: weight and accumulator reads --------------------------------
        kk = Signal(range(K * K + 1))
        m.d.comb += kk.eq(self.kernel * self.kernel)
        s_valid = Signal()
        s_value = Signal(signed(self.dw))
        s_addr = Signal(self.oa_bits)
        issue_oaddr = Signal(self.oa_bits + 1)
        pos_addr = Signal(self.oa_bits + 1)            # output position oh·out_w + ow
        tap_addr = Signal(self.wa_bits + 1)            # weight index ci·K² + kh·K + kw
        m.d.comb += pos_addr.eq(Array(it_oh)[tap_kh] * self.out_w + Array(it_ow)[tap_kw])
        m.d.comb += tap_addr.eq(it_ci * kk + tap_kh * self.kernel + tap_kw)
        with m.If(self.wg):                            # WG: operand dy[oh, ow], result dw[ci, kh, kw]
            m.d.comb += [w_rd.addr.eq(pos_addr), issue_oaddr.eq(tap_addr)]
        with m.Else():
            m.d.comb += [w_rd.addr.eq(tap_addr), issue_oaddr.eq(pos_addr)]
        m.d.sync += [s_valid.eq(issue), s_value.eq(it_value), s_addr.eq(issue_oaddr)]

        # ---- multiply-accumulate (read-modify-write) ----------------------------
        prod = Signal(signed(2 * self.dw))
        m.d.comb += prod.eq(s_value * w_rd.data)

        # ---- drain ----------------------------------------------------------------
        m.submodules.dfifo = dfifo = fifo.SyncFIFOBuffered(width=self.aw, depth=4)
        d_addr = Signal(self.oa_bits + 1)
        d_inflight = Signal()
        d_prev = Signal(self.oa_bits + 1)
        d_prev_masked = Signal()
        count = self.acc_count
        draining = Signal()
        d_issue = Signal()

        with m.If(draining):
            m.d.comb += a_rd.addr.eq(d_addr)
        with m.Else():
            m.d.comb += a_rd.addr.eq(issue_oaddr)
        # Accumulate, or clear behind the drain.
        with m.If(s_valid):
            m.d.comb += [a_wr.addr.eq(s_addr), a_wr.data.eq(a_rd.data + prod), a_wr.en.eq(1)]
        with m.Elif(d_inflight):
            m.d.comb += [a_wr.addr.eq(d_prev), a_wr.data.eq(0), a_wr.en.eq(1)]
        # Drain data into the FIFO the cycle after its read.
        m.d.comb += [dfifo.w_stream.payload.eq(Mux2(d_prev_masked, 0, a_rd.data + self.bias)),
                     dfifo.w_stream.valid.eq(d_inflight)]
        wiring.connect(m, dfifo.r_stream, stage.i)

        # ---- control ---------------------------------------------------------------
        pipe_empty = ~issue & ~s_valid
        m.d.sync += [d_inflight.eq(d_issue), d_prev.eq(d_addr)]
        m.d.sync += d_prev_masked.eq(self.mask_out & ~self.wg &
                                     ~mask.bit_select(d_addr[:self.oa_bits], 1))
        m.d.comb += idle.eq(~running & ~draining)
        # Busy until the last output has left, so the next pass cannot change the output
        # stage's shift or activation under words still in flight.
        m.d.comb += self.busy.eq(running | draining | dfifo.r_stream.valid | self.o.valid)
        with m.If(self.busy):
            m.d.sync += self.cycles_busy.eq(self.cycles_busy + 1)
        with m.If(running & ~last_seen & free & ~self.x_in.valid):
            m.d.sync += self.cycles_starved.eq(self.cycles_starved + 1)

        # Credits: the FIFO holds 4 words; a read is issued only if its word has room.
        fifo_used = Signal(range(8))
        with m.If(dfifo.w_stream.valid & dfifo.w_stream.ready & ~(stage.i.valid & stage.i.ready)):
            m.d.sync += fifo_used.eq(fifo_used + 1)
        with m.Elif(~(dfifo.w_stream.valid & dfifo.w_stream.ready) & stage.i.valid & stage.i.ready):
            m.d.sync += fifo_used.eq(fifo_used - 1)
        m.d.comb += d_issue.eq(draining & (d_addr < count) & (fifo_used + d_inflight < 3))

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.x_in.valid):
                    m.d.sync += [running.eq(1), last_seen.eq(0)]
                    m.next = "RUN"
            with m.State("RUN"):
                with m.If(last_seen & pipe_empty & self.drain):
                    m.d.sync += [running.eq(0), draining.eq(1), d_addr.eq(0)]
                    m.next = "DRAIN"
                with m.Elif(last_seen & pipe_empty):       # keep accumulating in the next pass
                    m.d.sync += [running.eq(0), last_seen.eq(0)]
                    m.next = "IDLE"
            with m.State("DRAIN"):
                with m.If(d_issue):
                    m.d.sync += d_addr.eq(d_addr + 1)
                with m.If((d_addr == count) & ~d_inflight):
                    m.d.sync += [draining.eq(0), last_seen.eq(0)]
                    m.next = "IDLE"
        return m


def Mux2(sel, a, b):
    from amaranth.hdl import Mux
    return Mux(sel, a, b)
