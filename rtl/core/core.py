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
                      lane 0 … lane L-1 (lane.py): look-ahead tap
                      iterator, MAC, accumulator banks (one per tile in flight)
                                   │
    retire (oldest pass first): once every lane is done, drain its tile
    o beat = one output per lane, lanes in lockstep

Overlap. Up to three passes are in flight: one loading, one computing, one
draining, or any mix. The command stream runs ahead of the elements, so a
pass's setup and operand words load while the previous pass computes, and
a lane starts a pass as soon as its setup beats are in: each tap waits only
for its own operand word. A tile's drain runs while the next tiles compute.

Parts. :meth:`SparseCore.elaborate` builds one flat module from named parts,
in this order (each in its own file, sharing a :class:`~.contexts.CoreState`):

* :mod:`.contexts`: the error register, the three pass contexts and each
  lane's view of them, the lanes' ``done`` pulses;
* :mod:`.intake`: the descriptor check and the taking of descriptors;
* :mod:`.loads`: setup beats and operand words to the lanes;
* :mod:`.dispatch`: input beats to the lane FIFOs;
* :mod:`.geometry`: the dense and zero-insertion MACs of each pass;
* :mod:`.retire`: retiring passes in order, draining tiles, the output beat;
* :mod:`.counters`: the work and cycle counters, ``busy``.
"""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .contexts import CoreState, error_register, pass_contexts, record_done
from .counters import cycle_counters, work_counters
from .descriptor import bias_pieces, cmd_layout, descriptor_layout, load_width
from .dispatch import dispatch
from .geometry import geometry
from .intake import intake
from .lane import ScatterLane, check_lane_parameters, element_layout
from .loads import loads
from .output_stage import output_layout
from .retire import outputs, retire_and_drain
from .scrub import scrub
from ..refuse import Params

__all__ = ["SparseCore", "slot_layout", "beat_layout", "MAC_COUNTERS", "COUNTERS"]

#: The core's work counters (48 bits), in the order the documentation lists them.
MAC_COUNTERS = ("macs_issued", "dense_macs", "input_zero_skipped", "output_mask_skipped",
                "zero_insertion_skipped", "false_zero", "missed_zero")
#: Every counter port of the core: the work counters, then the cycle counters (32 bits).
COUNTERS = MAC_COUNTERS + ("cycles_busy", "cycles_stalled", "cycles_idle")


def slot_layout(data_width, coord_bits):
    """One element slot of an input beat: ``valid`` (0: an empty slot), channel, row,
    column and value."""
    return data.StructLayout({"valid": unsigned(1), "ci": unsigned(coord_bits),
                              "i": unsigned(coord_bits), "j": unsigned(coord_bits),
                              "value": signed(data_width)})


def beat_layout(lanes, data_width, coord_bits):
    """One input beat: ``lanes`` element slots, and ``end`` on the last beat of a pass."""
    return data.StructLayout({"slot": data.ArrayLayout(slot_layout(data_width, coord_bits), lanes),
                              "end": unsigned(1)})


def _check_parameters(core, *, lanes, data_width, acc_width, max_kernel, max_stride,
                      weight_depth, out_depth, coord_bits, fifo_depth):
    """Refuse a parameter the core cannot be built with, naming it and its limits."""
    p = Params(core, "SparseCore")
    p.pow2("lanes", lanes, 1, 64)
    check_lane_parameters(p, data_width=data_width, acc_width=acc_width, max_kernel=max_kernel,
                          weight_depth=weight_depth, out_depth=out_depth, coord_bits=coord_bits)
    p.int("max_stride", max_stride, 1, min(2, max_kernel),
          " (the core runs strides 1 and 2, at most max_kernel)")
    p.int("fifo_depth", fifo_depth, 2, 1 << 16)


class SparseCore(wiring.Component):
    """A sparse convolution core: ``lanes`` scatter lanes running passes from one command
    stream.

    Parameters
    ----------
    lanes : int
        Scatter lanes (output channels computed at once); a power of two.
    data_width : int
        Width of the signed input elements, operand words and outputs.
    acc_width : int
        Width of the signed accumulators, bias and load values (``2·data_width``..64).
    max_kernel : int
        Largest kernel ``K`` (at most 7, the descriptor field).
    max_stride : int
        Largest stride (1 or 2).
    weight_depth : int
        Words of each of a lane's two operand banks (``cin·K²`` weights, or a pitched
        operand map in WG).
    out_depth : int
        Words of each accumulator bank (a pitched output map, or ``cin·K²`` in WG), and bits
        of each mask.
    coord_bits : int
        Width of ``ci``, ``i``, ``j`` and of the map sizes.
    fifo_depth : int
        Elements a lane's input FIFO holds: how far a lane may fall behind the fastest.
    product : callable or None
        How a lane forms a tap's product (see :class:`~.lane.ScatterLane`); None, a
        multiplier.
    weight_width : int or None
        Bits of an operand word as the lanes store it, 2..``data_width`` (None:
        ``data_width``); a ``product`` whose words are narrower (the EORS unit's) saves
        the rest of the operand memory.

    Members
    -------
    cmd : :py:`In(stream.Signature(cmd_layout(lanes, addr_bits, load_width(data_width), coord_bits, out_depth)))`
        Commands (:mod:`.descriptor`): a ``DESC``, then its ``nloads`` setup beats, then its
        operand words if it has ``wload``. ``addr_bits`` covers ``weight_depth`` and
        ``out_depth``.
    x_in : :py:`In(stream.Signature(beat_layout(lanes, data_width, coord_bits)))`
        Input beats: ``lanes`` element slots ``(valid, ci, i, j, value)``; ``end`` on a
        pass's last beat.
    o : :py:`Out(stream.Signature(data.ArrayLayout(output_layout(data_width), lanes)))`
        Drained outputs: one ``(value, mask)`` per lane, the lanes in lockstep, in
        pitched-map (FP/EP) or ``ci·K² + kh·K + kw`` (WG) order.
    error : :py:`Out(4)`
        First :class:`~.descriptor.Error` since the last ``error_clear`` (0: none).
    error_clear : :py:`In(1)`
        Clears ``error``.
    irq : :py:`Out(1)`
        ``error != 0``.
    busy : :py:`Out(1)`
        Work in flight: a pass open, loads expected, a drain in flight, the geometry unit
        running, or elements in a lane FIFO.
    macs_issued : :py:`Out(48)`
        Taps the lanes multiplied.
    dense_macs : :py:`Out(48)`
        The MACs of the same passes with no skipping (every input element's taps that reach
        an output), computed per pass from the geometry times ``cin`` and the enabled lanes.
    output_mask_skipped : :py:`Out(48)`
        Dense MACs of outputs whose mask is off, in passes that skip masked taps, counted
        word by word as the tile drains.
    input_zero_skipped : :py:`Out(48)`
        ``dense − output_mask_skipped − issued``: the MACs that zero inputs saved (in weight
        gradients this includes zero operand words). Exact when the core is idle.
    zero_insertion_skipped : :py:`Out(48)`
        Transposed passes (FP/EP): the MACs a naive engine would spend on the inserted
        zeros, every output times the full ``cin·K²`` kernel, minus the dense MACs.
    false_zero, missed_zero : :py:`Out(48)`
        In *audited* passes (``mask_out = 1``, ``skip_mask = 0``: every tap is computed and
        the mask is applied at the drain), the outputs of enabled lanes that the mask
        removed although their ReLU mask bit was 1, and those it kept although the bit was
        0. With the EORS prediction as the mask, these are EORS's false zeros and missed
        zeros, counted in hardware (``compile_op(audit=True)``).
    cycles_busy, cycles_stalled, cycles_idle : :py:`Out(32)`
        Cycles with ``busy``; busy cycles in which a lane waits for data the streams have
        not delivered (an input beat, a setup beat or an operand word); cycles without
        ``busy``.

    All counters count since reset (the scrub after it aside).

    Latency and throughput
    ----------------------
    Each lane issues one tap a cycle. A beat reaches a lane's iterator two cycles after
    it is taken. A pass retires about four cycles after the last lane's last tap, and its
    drain then sends one output beat per cycle (``o.ready`` permitting). Up to three
    passes are in flight. After a reset the core first clears its accumulator banks
    (``out_depth`` cycles, ``busy`` high, nothing taken: :mod:`.scrub`), so a reset in the
    middle of a tile leaves no partial sum behind; the cycle counters leave those cycles
    out.

    Flow control
    ------------
    * A ``DESC`` is taken when its context is free (the pass three before it has
      retired), the accumulator bank of a new tile is free, and, if it loads operands,
      no computing pass reads that operand bank.
    * Load beats are never held up.
    * An input beat is taken when its pass's descriptor has been taken and every lane
      FIFO has room. The lanes then run decoupled, so their load imbalance evens out over
      the FIFO depth.

    Bad input
    ---------
    Each sets ``error`` (the first error sticks until ``error_clear``) and raises ``irq``;
    the device never hangs and later passes run normally.

    * A descriptor that breaks a rule of :func:`~.descriptor.check_descriptor` (or
      reuses an operand bank holding too few words: ``REUSE``) is not run. Its setup and
      operand beats, and its input beats up to ``end``, are consumed and dropped.
    * A load the pass did not announce, or one out of address order, sets ``LOAD`` and
      is dropped; one while the pass still expects loads also abandons the rest of its
      loads (the pass runs with what it has). So does a descriptor that arrives before
      the previous pass's loads are complete.
    * An element outside the pass's input map or channels sets ``ELEMENT`` and is
      dropped.

    Raises
    ------
    ValueError
        At construction, naming the parameter, for any parameter the hardware cannot
        build (:func:`_check_parameters`): ``lanes`` not a power of two in 1..64,
        ``data_width`` not 8 or 16, ``acc_width`` outside ``2·data_width``..64,
        ``max_kernel`` outside 1..7, ``max_stride`` not 1 or 2 (or above ``max_kernel``),
        ``weight_depth`` or ``out_depth`` not a power of two in 16..65536,
        ``weight_depth`` below one ``max_kernel``² kernel, ``coord_bits`` outside 4..16,
        ``fifo_depth`` below 2.
    """

    def __init__(self, *, lanes=16, data_width=16, acc_width=48, max_kernel=5, max_stride=2,
                 weight_depth=2048, out_depth=1024, coord_bits=8, fifo_depth=32,
                 product=None, weight_width=None):
        _check_parameters(self, lanes=lanes, data_width=data_width, acc_width=acc_width,
                          max_kernel=max_kernel, max_stride=max_stride, weight_depth=weight_depth,
                          out_depth=out_depth, coord_bits=coord_bits, fifo_depth=fifo_depth)
        if weight_width is not None:
            Params(self, "SparseCore").int("weight_width", weight_width, 2, data_width,
                                           " (an operand word is at most data_width bits)")
        self.product, self.weight_width = product, weight_width
        self.lanes, self.dw, self.aw, self.kmax, self.smax = lanes, data_width, acc_width, max_kernel, max_stride
        self.weight_depth, self.out_depth, self.cb, self.fifo_depth = weight_depth, out_depth, coord_bits, fifo_depth
        self.addr_bits = max((weight_depth - 1).bit_length(), (out_depth - 1).bit_length(), 1)
        self.desc_layout = descriptor_layout(coord_bits, out_depth)
        #: bits of a load beat's value per lane, and the beats of a bias
        self.lw, self.bias_pieces = load_width(data_width), bias_pieces(acc_width, data_width)
        super().__init__({
            "cmd": In(stream.Signature(cmd_layout(lanes, self.addr_bits, self.lw, coord_bits,
                                                  out_depth))),
            "x_in": In(stream.Signature(beat_layout(lanes, data_width, coord_bits))),
            "o": Out(stream.Signature(data.ArrayLayout(output_layout(data_width), lanes))),
            "error": Out(4), "error_clear": In(1), "irq": Out(1), "busy": Out(1),
            "macs_issued": Out(48), "dense_macs": Out(48), "input_zero_skipped": Out(48),
            "output_mask_skipped": Out(48), "zero_insertion_skipped": Out(48),
            "false_zero": Out(48), "missed_zero": Out(48),
            "cycles_busy": Out(32), "cycles_stalled": Out(32), "cycles_idle": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        lanes, fifos = [], []
        for l in range(self.lanes):
            lane = ScatterLane(data_width=self.dw, acc_width=self.aw, max_kernel=self.kmax,
                               load_width=self.lw,
                               weight_depth=self.weight_depth, out_depth=self.out_depth,
                               coord_bits=self.cb, product=self.product,
                               weight_width=self.weight_width)
            q = fifo.SyncFIFOBuffered(width=element_layout(self.dw, self.cb).as_shape().width,
                                      depth=self.fifo_depth)
            m.submodules[f"lane{l}"] = lane
            m.submodules[f"fifo{l}"] = q
            m.d.comb += [lane.x_in.payload.eq(q.r_stream.payload), lane.x_in.valid.eq(q.r_stream.valid),
                         q.r_stream.ready.eq(lane.x_in.ready)]
            lanes.append(lane)
            fifos.append(q)

        # The parts build this one module in order; each adds to ``st`` the signals that
        # later parts read (see their modules). The order is the netlist's.
        st = CoreState(self, lanes, fifos)
        scrub(m, st)
        error_register(m, st)
        pass_contexts(m, st)
        intake(m, st)
        loads(m, st)
        dispatch(m, st)
        record_done(m, st)
        geometry(m, st)
        retire_and_drain(m, st)
        work_counters(m, st)
        outputs(m, st)
        cycle_counters(m, st)
        return m
