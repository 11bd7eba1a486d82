"""The output stage of a core: requantise, activate, and write the ReLU mask.

Implements :func:`ganforge.golden.fixed.output_stage` bit for bit (the bias is
already in the accumulator, which a core initialises with it):

* ``pre = saturate(shift_round(acc, shift), data_width)``, with
  ``shift_round(v, s) = (v + 2**(s-1)) >> s`` (round half up);
* ``value = activate(pre)``: identity, ReLU, or LeakyReLU whose negative
  branch is ``shift_round(pre, slope_shift)``;
* ``mask = pre > 0``.

See :class:`OutputStage` for its parameters, ports and latency.
"""

from amaranth.hdl import Const, Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ganforge.golden.fixed import ACTIVATIONS
from ..refuse import Params

__all__ = ["OutputStage", "output_layout", "shift_round_hw"]

SHIFT_BITS = 6
SLOPE_BITS = 4


def output_layout(data_width):
    """Payload of an output-stage result: the activated value and its ReLU mask bit."""
    return data.StructLayout({"value": signed(data_width), "mask": unsigned(1)})


def shift_round_hw(value, shift, width):
    """Combinational round-half-up arithmetic shift right of a signed ``value`` by ``shift``.

    ``shift`` may be a constant or a signal (0 passes ``value`` through). The
    result is ``width`` bits wide, wide enough that the rounding addend never
    overflows.
    """
    half = (Const(1, unsigned(width + 1)) << shift)[1:width + 1]      # 2**(shift-1), 0 for shift 0
    return (value.as_signed() + half).as_signed() >> shift


class OutputStage(wiring.Component):
    """Requantise, activate and take the ReLU mask of one accumulator sum a cycle.

    Parameters
    ----------
    acc_width : int
        Width of the signed accumulator input (``2·data_width``..64).
    data_width : int
        Width of the signed output value: 8 or 16.

    Members
    -------
    i : :py:`In(stream.Signature(data.StructLayout({"acc": signed(acc_width)})))`
        Accumulator sums (bias included).
    o : :py:`Out(stream.Signature(output_layout(data_width)))`
        ``value`` (saturated, activated) and ``mask`` (``pre > 0``).
    shift : :py:`In(SHIFT_BITS)`
        Requantisation shift (round half up). Static while a tile runs (from the
        descriptor), like the two below.
    activation : :py:`In(2)`
        :data:`ganforge.golden.ACTIVATIONS` code: 0 identity, 1 ReLU, 2 LeakyReLU.
    slope_shift : :py:`In(SLOPE_BITS)`
        LeakyReLU slope ``2**-slope_shift``.

    Latency and throughput
    ----------------------
    1 cycle; one result per cycle at full throughput (the output register advances
    whenever it is empty or ``o.ready`` is high).

    Bad input
    ---------
    A sum beyond the output range saturates; activation code 3 (refused by the core's
    descriptor check) passes the value through as identity.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``data_width`` not 8 or 16, ``acc_width``
        outside ``2·data_width``..64.
    """

    def __init__(self, acc_width=48, data_width=16):
        p = Params(self, "OutputStage")
        p.choice("data_width", data_width, (8, 16))
        p.int("acc_width", acc_width, 2 * data_width, 64, " (2*data_width..64)")
        self.acc_width, self.data_width = acc_width, data_width
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({"acc": signed(acc_width)}))),
            "o": Out(stream.Signature(output_layout(data_width))),
            "shift": In(SHIFT_BITS),
            "activation": In(2),
            "slope_shift": In(SLOPE_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        dw = self.data_width
        lo, hi = -(1 << (dw - 1)), (1 << (dw - 1)) - 1

        rounded = Signal(signed(self.acc_width + 1))
        m.d.comb += rounded.eq(shift_round_hw(self.i.payload.acc, self.shift, self.acc_width + 1))
        pre = Signal(signed(dw))
        with m.If(rounded > hi):
            m.d.comb += pre.eq(hi)
        with m.Elif(rounded < lo):
            m.d.comb += pre.eq(lo)
        with m.Else():
            m.d.comb += pre.eq(rounded)

        leaky = Signal(signed(dw + 1))
        m.d.comb += leaky.eq(shift_round_hw(pre, self.slope_shift, dw + 1))
        value = Signal(signed(dw))
        with m.If(pre > 0):
            m.d.comb += value.eq(pre)
        with m.Elif(self.activation == ACTIVATIONS["relu"]):
            m.d.comb += value.eq(0)
        with m.Elif(self.activation == ACTIVATIONS["leaky_relu"]):
            m.d.comb += value.eq(leaky)
        with m.Else():
            m.d.comb += value.eq(pre)

        advance = ~self.o.valid | self.o.ready
        m.d.comb += self.i.ready.eq(advance)
        with m.If(advance):
            m.d.sync += [
                self.o.valid.eq(self.i.valid),
                self.o.payload.value.eq(value),
                self.o.payload.mask.eq(pre > 0),
            ]
        return m
