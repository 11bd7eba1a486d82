"""Fan-out of one stream to the outputs a mask names: multicast and unicast.

Each item on ``i`` carries a ``mask`` (bit ``c``: output ``c``) beside its
``data``. It is delivered once to every output of the mask, each taking it in
its own time: an output that has taken the item is not offered it again, and
the item leaves ``i`` once the last output of its mask has taken it. One bit
set is unicast; several are multicast.

See :class:`Fanout` for its parameters, ports and timing.
"""

from amaranth.hdl import Module, Shape, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..refuse import Params

__all__ = ["Fanout", "masked_layout"]


def masked_layout(outputs, shape):
    """An item and the outputs it goes to."""
    return data.StructLayout({"mask": unsigned(outputs), "data": shape})


class Fanout(wiring.Component):
    """Delivers each item to every output its ``mask`` names.

    Parameters
    ----------
    outputs : int
        Outputs, 1..16.
    shape : shape-like
        The items' payload on the outputs.

    Members
    -------
    i : :py:`In(stream.Signature(masked_layout(outputs, shape)))`
        Items and their outputs. A zero mask drops the item.
    o : list of :py:`Out(stream.Signature(shape))`
        ``o[c]``: the items whose mask has bit ``c``.
    blocked : :py:`Out(outputs)`
        Bit ``c``: an item waits for output ``c`` this cycle (``c`` is in its mask, has not
        taken it, and is not ready): the stall that output causes.

    Latency and throughput
    ----------------------
    Combinational, no storage: an item reaches its outputs the cycle it arrives, and one
    item a cycle leaves when all of its outputs are ready together. An output's ``valid``
    does not depend on its ``ready``.

    Raises
    ------
    ValueError
        At construction, naming the parameter: ``outputs`` outside 1..16, ``shape`` not
        shape-like.
    """

    def __init__(self, *, outputs, shape):
        p = Params(self, "Fanout")
        p.int("outputs", outputs, 1, 16)
        try:
            Shape.cast(shape)
        except (TypeError, ValueError):
            p.fail(f"shape must be shape-like, got {shape!r}")
        self.outputs, self.shape = outputs, shape
        super().__init__({
            "i": In(stream.Signature(masked_layout(outputs, shape))),
            "o": Out(stream.Signature(shape)).array(outputs),
            "blocked": Out(outputs),
        })

    def elaborate(self, platform):
        m = Module()
        n = self.outputs
        taken = Signal(n)       # outputs that have taken the current item
        now = Signal(n)         # outputs that take it this cycle
        for c, o in enumerate(self.o):
            want = self.i.valid & self.i.p.mask[c] & ~taken[c]
            m.d.comb += [o.valid.eq(want), o.payload.eq(self.i.p.data), now[c].eq(want & o.ready),
                         self.blocked[c].eq(want & ~o.ready)]
        finished = ((taken | now) & self.i.p.mask) == self.i.p.mask
        m.d.comb += self.i.ready.eq(finished)
        with m.If(self.i.valid & finished):
            m.d.sync += taken.eq(0)
        with m.Elif(self.i.valid):
            m.d.sync += taken.eq(taken | now)
        return m
